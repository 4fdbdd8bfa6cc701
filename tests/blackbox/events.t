# Events: /sys/events, /sys/events/fifo, legacy aliases, generation and
# de-duplication (ecs-protocol.md section 10, 8).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
$d->setup({ resources => [{ namespace => 'numlab', name => 'quiet',
    postroute => JSON::PP::false, events => JSON::PP::false }] });
my ($p1, $p2, $p3, $p4) = map { $d->as($_) } qw(P1 P2 P3 P4);
my $R = '/numlab/results';
my $X = '/numlab/exercises';

sub evs { my ($c, $path) = @_; my $r = $c->get($path // '/sys/events'); return events_of($r) }
sub drain { my ($c) = @_; $c->post('/sys/events/fifo?count=-1') }

subtest 'no events: 200 with []' => sub {
	for my $req (['GET', '/sys/events'], ['GET', '/sys/events/fifo'], ['POST', '/sys/events/fifo'],
	    ['GET', '/events'], ['GET', '/events/fifo'], ['POST', '/events/fifo']) {
		my $r = $p2->request(@$req);
		is($r->{status}, 200, "$req->[0] $req->[1] 200");
		std_ok($r, "$req->[0] $req->[1]");
		ctype_is($r, 'application/json; charset=utf-8', "$req->[0] $req->[1]");
		is_deeply($r->{json}, [], "$req->[0] $req->[1]: empty JSON array");
	}
};

my @m;
subtest 'create queues created events; JSON shape' => sub {
	push @m, create_ok($p1, $X, mids => [$d->mid(P2 => 'WUV')]) for 1 .. 4;
	my $r = $p2->get('/sys/events');
	is(ref $r->{json}, 'ARRAY', 'array');
	is_deeply($r->{json}[0], { ressource => "numlab/exercises/$m[0]", status => 'created' }, 'event object');
	is_deeply(events_of($r), [map { "numlab/exercises/$_ created" } @m], 'oldest first');
	is_deeply(evs($p1), [], 'sender gets no event');
};

subtest 'count rules (10.1)' => sub {
	my @all = map { "numlab/exercises/$_ created" } @m;
	is_deeply(evs($p2, '/sys/events?count=2'), [@all[0, 1]], 'count=2');
	is_deeply(evs($p2, '/sys/events?count='), \@all, 'empty count = default (all)');
	is_deeply(evs($p2, '/sys/events?count=0'), [], 'count=0');
	is_deeply(evs($p2, '/sys/events?count=abc'), [], 'count=abc');
	is_deeply(evs($p2, '/sys/events?count=-1'), \@all, 'negative = all');
	is_deeply(evs($p2, '/sys/events?count=3abc'), [@all[0 .. 2]], 'leading integer');
	is_deeply(evs($p2, '/sys/events/fifo'), [$all[0]], 'fifo default count 1');
	is_deeply(evs($p2, '/sys/events/fifo?count=3'), [@all[0 .. 2]], 'fifo count=3');
	is_deeply(evs($p2, '/sys/events/fifo?count=-5'), \@all, 'fifo negative');
	is_deeply(evs($p2, '/sys/events/fifo?count=0'), [], 'fifo count=0');
	is_deeply(evs($p2, '/sys/events/fifo?count=abc'), [], 'fifo count=abc');
	my $r = $p2->get('/sys/events', headers => { 'X-EcsQueryStrings' => 'count=1' });
	is_deeply(events_of($r), \@all, 'count is not read from X-EcsQueryStrings');
	is_deeply(evs($p2, '/events?count=2'), [@all[0, 1]], 'legacy /events');
	is_deeply(evs($p2, '/events/fifo'), [$all[0]], 'legacy /events/fifo');
	is_deeply(evs($p2), \@all, 'GET never removes');

	$r = $p2->post('/sys/events/fifo');
	is_deeply(events_of($r), [$all[0]], 'POST fifo pops one');
	is_deeply(evs($p2), [@all[1 .. 3]], 'it is gone');
	$r = $p2->post('/events/fifo?count=2', ctype => 'application/json', body => '');
	is_deeply(events_of($r), [@all[1, 2]], 'legacy POST fifo count=2 (empty JSON-typed body)');
	$r = $p2->post('/sys/events/fifo?count=0');
	is_deeply(events_of($r), [], 'POST count=0 pops nothing');
	$r = $p2->post('/sys/events/fifo?count=-1', ctype => 'application/x-www-form-urlencoded');
	is($r->{status}, 200, 'POST count=-1 is 200 (Q-27)');
	is_deeply(events_of($r), [$all[3]], 'pops all');
	is_deeply(evs($p2), [], 'queue empty');
};

subtest 'methods and representations' => sub {
	my $r = $p2->post('/sys/events');
	is($r->{status}, 405, 'POST /sys/events -> 405');
	like($r->{headers}{allow} // '', qr/\bGET\b/, 'Allow lists GET');
	unlike($r->{headers}{allow} // '', qr/\bPOST\b/, 'Allow does not list POST');
	is($p2->delete('/sys/events/fifo')->{status}, 405, 'DELETE /sys/events/fifo -> 405');
	is($p2->get('/sys/events/5')->{status}, 404, 'no member route');
	create_ok($p1, $X, mids => [$d->mid(P2 => 'WUV')]);
	my $id = $p1->get("$X?sender=true")->{body} =~ m{exercises/(\d+)\n\z} ? $1 : 0;
	$r = $p2->get('/sys/events', headers => { Accept => 'text/plain' });
	is($r->{status}, 200, 'text representation');
	like($r->{headers}{'content-type'} // '', qr{^text/plain(;|$)}, 'text/plain');
	is($r->{body}, "numlab/exercises/$id   created\r\n", 'text line format');
	is($p2->get('/sys/events.txt')->{body}, "numlab/exercises/$id   created\r\n", '.txt suffix');
	$r = $p2->get('/sys/events.json', headers => { Accept => 'text/plain' });
	is_deeply(events_of($r), ["numlab/exercises/$id created"], '.json suffix wins over Accept');
	$r = $p2->get('/sys/events/fifo.json');
	is_deeply(events_of($r), ["numlab/exercises/$id created"], 'fifo.json');
	$r = $p2->get('/sys/events', headers => { Accept => '*/*' });
	is_deeply(events_of($r), ["numlab/exercises/$id created"], '*/* -> JSON');
	$r = $p2->get('/sys/events', headers => { Accept => 'application/json; q=0.9' });
	is_deeply(events_of($r), ["numlab/exercises/$id created"], 'Accept parameters ignored');
	$r = $p2->get('/sys/events.xml');
	like($r->{body}, qr{^<\?xml version="1\.0" encoding="UTF-8"\?>}, 'XML prolog');
	like($r->{body}, qr{<ressource>numlab/exercises/$id</ressource>}, 'XML event');
	$r = $p2->get('/sys/events', headers => { Accept => 'image/png' });
	is($r->{status}, 406, 'nothing acceptable -> 406');
	drain($p2);
	$r = $p2->get('/sys/events.txt');
	is($r->{status}, 200, 'empty text');
	is($r->{body}, '', 'empty text body');
};

subtest 'events of updates and de-duplication (10.2)' => sub {
	drain($_) for ($p1, $p2, $p3);
	my $a2 = $d->mid(P2 => 'WUV');
	my $a3 = $d->mid(P3 => 'public');
	my $id = create_ok($p1, $R, mids => [$a2]);
	my $e = "numlab/results/$id";
	my $put = sub {
		my @mids = @_;
		my $r = $p1->put("$R/$id", body => 'u', ctype => 'text/plain',
		    headers => { 'X-EcsReceiverMemberships' => join(',', @mids) });
		is($r->{status}, 200, 'update to ' . join(',', @mids));
	};
	$put->($a2);
	is_deeply(evs($p2), ["$e created", "$e updated"], 'created, updated');
	$put->($a2);
	is_deeply(evs($p2), ["$e created", "$e updated"], 'second update merged into the pending one');
	$put->($a3);
	is_deeply(evs($p2), ["$e created", "$e updated", "$e destroyed"], 'dropped receiver: destroyed');
	is_deeply(evs($p3), ["$e created"], 'new receiver: created');
	$put->($a2, $a3);
	is_deeply(evs($p2), ["$e created", "$e updated", "$e destroyed", "$e created"], 're-added: created');
	is_deeply(evs($p3), ["$e created", "$e updated"], 'kept: updated');
	drain($p3);
	$put->($a2, $a3);
	is_deeply(evs($p3), ["$e updated"], 'dedup only against pending events');
	my $r = $p1->delete("$R/$id");
	is($r->{status}, 200, 'sender delete');
	is_deeply(evs($p2), ["$e created", "$e updated", "$e destroyed", "$e created", "$e updated", "$e destroyed"],
	    'latest pending was created: updated appended; sender delete: destroyed');
	is_deeply(evs($p3), ["$e updated", "$e destroyed"], 'destroyed for P3');
	is_deeply(evs($p1), [], 'the sender never gets events');
	err_ok($p2->get("$R/$id"), 404, ERR('bad_id'), 'tombstone is 404');
	unlike($p1->get("$R?sender=true")->{body}, qr{results/$id\n}, 'tombstone not listed');
};

subtest 'who gets events' => sub {
	drain($_) for ($p1, $p2, $p3, $p4);
	my $id = create_ok($p1, $R, comms => ['SUV', 'WUV']);
	is_deeply(evs($p2), ["numlab/results/$id created"], 'one event for two memberships');
	my $own = create_ok($p1, $R, mids => [$d->mid(P1 => 'SUV')]);
	is_deeply(evs($p1), ["numlab/results/$own created"], 'self-addressed sender gets created');
	is($p2->delete("$R/$id")->{status}, 200, 'receiver delete');
	is_deeply(evs($p1), ["numlab/results/$own created"], 'receiver delete: nobody notified');
	my $q = create_ok($p1, '/numlab/quiet', mids => [$d->mid(P2 => 'WUV')]);
	is_deeply(evs($p2), ["numlab/results/$id created"], 'resource without events: none');
	is($p1->put("/numlab/quiet/$q", body => 'y', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P3 => 'public') })->{status}, 200, 'quiet update');
	is_deeply(evs($p3), [], 'quiet update: none');

	my $c = $p3->post('/sys/configs', json => { participant_events => JSON::PP::false });
	is($c->{status}, 200, 'P3 switches its events off') or diag($c->{body});
	my $x = create_ok($p1, $R, mids => [$d->mid(P3 => 'public'), $d->mid(P4 => 'public')]);
	is_deeply(evs($p3), [], 'participant switch off: none');
	is_deeply(evs($p4), ["numlab/results/$x created"], 'others still get theirs');
	$c = $p3->post('/sys/configs', json => { participant_events => JSON::PP::true });
	is($c->{status}, 200, 'P3 switches its events on');
	is($p1->delete("$R/$x")->{status}, 200, 'sender delete');
	is_deeply(evs($p3), ["numlab/results/$x destroyed"], 'events again');
};

subtest 'tombstones keep the event naming them (8)' => sub {
	drain($_) for ($p1, $p2);
	my $id = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')], body => 'tomb');
	is($p2->post("$R/fifo")->{body}, 'tomb', 'pop: last link of a non-postrouted message');
	err_ok($p1->get("$R/$id"), 404, ERR('bad_id'), 'sender: 404');
	err_ok($p1->delete("$R/$id"), 404, ERR('bad_id'), 'sender delete: 404');
	err_ok($p2->get("$R/$id/details"), 404, ERR('bad_id'), 'details: 404');
	is_deeply(evs($p2), ["numlab/results/$id created"], 'event still names it');
	is_deeply(events_of($p2->post('/sys/events/fifo')), ["numlab/results/$id created"], 'popped');
	err_ok($p1->get("$R/$id"), 404, ERR('bad_id'), 'gone');
};

subtest 'concurrent event pops never return one event twice' => sub {
	drain($p2);
	my @ids = map { create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')]) } 1 .. 6;
	my @c = map { $d->as('P2') } 1 .. 6;
	$_->start_request(POST => '/sys/events/fifo') for @c;
	my @got = map { $_->finish_request } @c;
	my @evs = map { @{ events_of($_) || [] } } @got;
	is_deeply([sort map { $_->{status} } @got], [(200) x 6], 'all 200');
	is_deeply([sort @evs], [sort map { "numlab/results/$_ created" } @ids], 'each event popped exactly once');
	is_deeply(evs($p2), [], 'queue empty');
};

# On PostgreSQL the event pops that arrive together run together, reading
# the events they take in one statement (ecsd/http.c, http_run_pops).
subtest 'event pops of several counts sent together' => sub {
	drain($p2);
	my @ids = map { create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')]) } 1 .. 12;
	my @counts = (1, 2, 3, 1, 2, 3);
	my @c = map { $d->as('P2')->fresh } @counts;
	$c[$_]->start_request(POST => "/sys/events/fifo?count=$counts[$_]") for 0 .. $#c;
	my @got = map { $_->finish_request } @c;
	is_deeply([sort map { $_->{status} } @got], [(200) x 6], 'all 200');
	my @n = map { scalar @{ events_of($_) || [] } } @got;
	is_deeply(\@n, \@counts, 'each pop took as many as it asked for');
	my @evs = map { @{ events_of($_) || [] } } @got;
	is_deeply([sort @evs], [sort map { "numlab/results/$_ created" } @ids],
	    'each event popped exactly once');

	@ids = map { create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')]) } 1 .. 5;
	@c = map { $d->as('P2')->fresh } 1 .. 4;
	my @q = ('count=2', 'count=-1', 'count=2', 'count=3');
	$c[$_]->start_request(POST => "/sys/events/fifo?$q[$_]") for 0 .. $#c;
	@got = map { $_->finish_request } @c;
	is_deeply([sort map { $_->{status} } @got], [(200) x 4], 'with count=-1: all 200');
	@evs = map { @{ events_of($_) || [] } } @got;
	is_deeply([sort @evs], [sort map { "numlab/results/$_ created" } @ids],
	    'with count=-1: each event popped exactly once');
	is_deeply(evs($p2), [], 'queue empty');
};

$d->stop_ok;
done_testing();
