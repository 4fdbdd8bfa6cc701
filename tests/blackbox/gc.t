#!/usr/bin/perl
# Garbage collection (spec 11.7, 13.1, 8): the periodic token collection
# (auth_gc_interval) with a short token validity (auth_ttl), POST /admin/gc
# and its counts, tombstones kept while an event names them, and nothing
# reachable collected.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs daemons of its own; ECSD_TEST_URL is set' if Ecsd::external();

# POST /sys/auths as $who to the membership $mid; returns the answer's JSON.
sub token {
	my ($d, $who, $mid, %body) = @_;
	my $r = $d->as($who)->post('/sys/auths', json => { url => 'https://lms.example.org/goto', %body },
	    headers => { 'X-EcsReceiverMemberships' => $mid });
	is($r->{status}, 201, 'token created') or diag($r->{body});
	return $r->{json} || {};
}

sub gc_ok {
	my ($d, $want, $name) = @_;
	my $r = $d->admin->post('/admin/gc');
	is($r->{status}, 200, "$name: POST /admin/gc 200") or diag($r->{body});
	like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
	is_deeply($r->{json}, $want, "$name: counts") or diag($r->{body});
	return $r->{json};
}

# ---- the periodic token collection ------------------------------------------------

my $d = Ecsd->start(conf => { auth_ttl => 2, auth_gc_interval => 1 });
$d->fixture_spec;
my $mid = $d->mid(P2 => 'SUV');
my $short = token($d, 'P1', $mid);
my $long = token($d, 'P1', $mid, eov => iso_time(time + 3600));
my ($sov, $eov) = (parse_iso($short->{sov}), parse_iso($short->{eov}));
ok(defined $sov && defined $eov, 'token has sov and eov');
is($eov - $sov, 2, 'auth_ttl = 2: eov = sov + 2 s');
is($d->as('P1')->get("/sys/auths/$short->{hash}")->{status}, 200, 'fresh token readable');

my $gone_at;
my $deadline = time + 10;
while (time < $deadline) {
	my $r = $d->as('P1')->get("/sys/auths/$short->{hash}");
	if ($r->{status} == 404) {
		$gone_at = time;
		err_ok($r, 404, ERR('bad_hash'), 'expired token after the periodic GC');
		last;
	}
	is($r->{status}, 200, 'token served to its sender until collected') unless $r->{status} == 200;
	sleep 0.25;
}
ok(defined $gone_at, 'expired token collected by the periodic GC within 10 s');
cmp_ok($gone_at // 0, '>=', $eov - 0.001, 'not collected before its eov') if defined $gone_at;
my $r = $d->as('P2')->get("/sys/auths/$short->{hash}");
is($r->{status}, 404, 'collected token: 404 for the receiver too');
$r = $d->as('P1')->get("/sys/auths/$long->{hash}");
is($r->{status}, 200, 'unexpired token survives the periodic GC');
is(Ecsd::json_decode($r->{body})->{hash}, $long->{hash}, 'unexpired token: its body');
is($d->as('P2')->get('/sys/auths/fifo')->{status}, 200, 'receiver still has the unexpired token queued');
$d->stop_ok('ecsd (periodic token GC)');

# ---- POST /admin/gc ------------------------------------------------------------------

$d = Ecsd->start(conf => { auth_ttl => 2, auth_gc_interval => 86400, gc_interval => 604800,
    allow_anonymous => 1 });
$d->fixture_spec;
my $A = $d->admin;
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'fresh database');
is($A->get('/admin/gc')->{status}, 405, 'GET /admin/gc: 405');
is($d->client->post('/admin/gc')->{status}, 401, 'POST /admin/gc without credentials: 401');
is($d->admin('wrong')->post('/admin/gc')->{status}, 401, 'POST /admin/gc with a wrong password: 401');

# tokens
$mid = $d->mid(P2 => 'SUV');
$short = token($d, 'P1', $mid);
$long = token($d, 'P1', $mid, eov => iso_time(time + 3600));
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'before expiry');
is($d->as('P1')->get("/sys/auths/$short->{hash}")->{status}, 200, 'not collected before expiry');
sleep 3;
$r = $d->as('P2')->get("/sys/auths/$short->{hash}");
err_ok($r, 409, ERR('outtimed'), 'expired, not collected (no periodic GC yet): receiver');
is($d->as('P1')->get("/sys/auths/$short->{hash}")->{status}, 200,
    'expired, not collected: the sender still sees it');
gc_ok($d, { tokens => 1, participants => 0, messages => 0 }, 'one expired token');
err_ok($d->as('P1')->get("/sys/auths/$short->{hash}"), 404, ERR('bad_hash'),
    'collected token by hash (11.7)');
is($d->as('P1')->get("/sys/auths/$long->{hash}")->{status}, 200, 'unexpired token kept');
ok($d->loggrep(qr/gc: 1 tokens, 0 participants, 0 messages removed/), 'the pass is logged');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'second pass');

# tombstones: kept while an event names them
my $orgS = $d->names->{organizations}{"Universit\x{e4}t Stuttgart"}{id};
$r = $A->post('/admin/participants', json => { name => 'extra', organization_id => $orgS,
    auth_ids => ['extra-id'], communities => ['SUV'] });
is($r->{status}, 201, 'a second receiver');
my $extra = $r->{json}{id};
$d->refresh_map;
my $dead = create_ok($d->as('P1'), '/numlab/results', mids => [$d->mid(P2 => 'SUV'), $d->mid(extra => 'SUV')],
    name => 'message to be tombstoned');
my $live = create_ok($d->as('P1'), '/numlab/results', mids => [$d->mid(P2 => 'SUV')],
    name => 'live message');
is($d->as('P1')->delete("/numlab/results/$dead")->{status}, 200, 'sender deletes the message');
err_ok($d->as('P2')->get("/numlab/results/$dead"), 404, ERR('bad_id'), 'tombstoned: 404 for the receiver');
my $ev = events_of($d->as('P2')->get('/sys/events'));
is_deeply($ev, ["numlab/results/$dead created", "numlab/results/$live created",
    "numlab/results/$dead destroyed"], 'the receiver\'s events still name it');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 },
    'a tombstone named by events is not collected');
is_deeply(events_of($d->as('P2')->get('/sys/events')), $ev, 'events unchanged by the GC');

$r = $d->as('P2')->post('/sys/events/fifo?count=-1');
is($r->{status}, 200, 'P2 pops all its events');
is_deeply(events_of($r), $ev, 'P2 popped them');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 },
    'the other receiver\'s events still name the tombstone');
is_deeply(events_of($d->as('extra-id')->get('/sys/events')),
    ["numlab/results/$dead created", "numlab/results/$dead destroyed"],
    'the other receiver still sees both events');
# Deleting the participant drops its events without disposing of the
# tombstone (spec 8); the collection removes it.
is($A->delete("/admin/participants/$extra")->{status}, 200, 'delete the other receiver');
gc_ok($d, { tokens => 0, participants => 0, messages => 1 },
    'the tombstone no event names is collected');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'and only once');

# a tombstone whose last event is popped is gone at once (spec 8, 10.1)
my $dead2 = create_ok($d->as('P1'), '/numlab/results', mids => [$d->mid(P2 => 'SUV')],
    name => 'second tombstone');
is($d->as('P1')->delete("/numlab/results/$dead2")->{status}, 200, 'sender deletes it');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'named by events: kept');
$r = $d->as('P2')->post('/sys/events/fifo?count=-1');
is_deeply(events_of($r), ["numlab/results/$dead2 created", "numlab/results/$dead2 destroyed"],
    'its events popped');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 },
    'popping the last event already disposed of it');

# nothing reachable is collected
my $anon = $d->client->get('/sys/memberships');
my ($cookie) = ($anon->{headers}{'set-cookie'} // '') =~ /ecs_anonymous=([0-9a-f]+)/;
ok($cookie, 'an anonymous participant');
$r = $d->as('P1')->post('/sys/subparticipants', body => '');
is($r->{status}, 200, 'a subparticipant');
my $sub = $r->{json}{auth_ids}[0]{auth_id};
my $unread = create_ok($d->as('P1'), '/numlab/results', mids => [$d->mid(P2 => 'SUV')],
    name => 'unread message');
gc_ok($d, { tokens => 0, participants => 0, messages => 0 }, 'live data');
$r = $d->as('P2')->get("/numlab/results/$unread");
is($r->{status}, 200, 'a live message with receivers survives');
is($r->{body}, 'x', 'its body intact');
is($d->as('P2')->get("/numlab/results/$live")->{status}, 200, 'the older live message survives');
is_deeply(events_of($d->as('P2')->get('/sys/events')), ["numlab/results/$unread created"],
    'its event survives');
is($d->as('P1')->get("/sys/auths/$long->{hash}")->{status}, 200, 'the unexpired token survives');
is($d->client->get('/sys/memberships', headers => { Cookie => "ecs_anonymous=$cookie" })->{status},
    200, 'the fresh anonymous participant survives');
is($d->as($sub)->get('/sys/events')->{status}, 200, 'the fresh subparticipant survives');
is($d->as('P1')->get('/sys/memberships')->{status}, 200, 'main participants survive');
$d->stop_ok('ecsd (POST /admin/gc)');

done_testing;
