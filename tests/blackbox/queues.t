# Queues: /<ns>/<res>/fifo and /lifo (ecs-protocol.md section 6.8).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
my ($p1, $p2, $p3) = map { $d->as($_) } qw(P1 P2 P3);
my $R = '/numlab/results';	# not postrouted
my $X = '/numlab/exercises';	# postrouted
my $to2 = $d->mid(P2 => 'WUV');

sub empty_queue_ok {
	my ($r, $name) = @_;
	is($r->{status}, 200, "$name: 200");
	is($r->{body}, '', "$name: empty body");
	is($r->{headers}{'content-length'}, '0', "$name: Content-Length: 0");
	ctype_is($r, 'application/json; charset=utf-8', $name);
	std_ok($r, $name);
}

subtest 'empty queue is 200 with an empty body (Q-19)' => sub {
	empty_queue_ok($p2->get("$R/fifo"), 'GET fifo');
	empty_queue_ok($p2->get("$R/lifo"), 'GET lifo');
	empty_queue_ok($p2->post("$R/fifo"), 'POST fifo');
	empty_queue_ok($p2->post("$R/lifo"), 'POST lifo');
};

my @ids = map { create_ok($p1, $R, mids => [$to2], body => "msg $_", ctype => 'application/json') } 1 .. 3;
create_ok($p1, $X, mids => [$to2], body => 'other resource');

subtest 'GET peeks (fifo = oldest, lifo = newest)' => sub {
	my $f = $p2->get("$R/fifo");
	is($f->{status}, 200, 'fifo 200');
	std_ok($f, 'fifo');
	is($f->{body}, 'msg 1', 'fifo = oldest');
	ctype_is($f, 'application/json; charset=utf-8', 'fifo');
	is($f->{headers}{'cache-control'}, 'private, max-age=5', 'Cache-Control');
	ok(defined $f->{headers}{etag} && defined $f->{headers}{'last-modified'}, 'validators');
	is($f->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), 'X-EcsReceiverCommunities');
	is($f->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'X-EcsSender');
	is($p2->get("$R/fifo")->{body}, 'msg 1', 'GET does not pop');
	is($p2->get("$R/lifo")->{body}, 'msg 3', 'lifo = newest');
	is($p2->get("$R/fifo/")->{body}, 'msg 1', 'trailing slash');
	my $h = $p2->head("$R/fifo");
	is($h->{status}, 200, 'HEAD fifo');
	is($h->{body}, '', 'HEAD has no body');
	is($h->{headers}{'content-length'}, length('msg 1'), 'HEAD Content-Length as GET');
	is($p2->get("$R/fifo")->{body}, 'msg 1', 'HEAD does not pop');
	my $c = $p2->get("$R/fifo", headers => { 'If-None-Match' => $f->{headers}{etag} });
	is($c->{status}, 304, 'conditional GET on fifo');
	is($c->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), '304 keeps X-EcsSender');
	empty_queue_ok($p1->get("$R/fifo"), 'sender-only messages are not in the queue');
};

subtest 'POST pops' => sub {
	my $etag = $p2->get("$R/fifo")->{headers}{etag};
	my $r = $p2->post("$R/fifo", headers => { 'If-None-Match' => $etag });
	is($r->{status}, 200, 'POST fifo 200 even with a matching If-None-Match (Q-4)');
	is($r->{body}, 'msg 1', 'popped the oldest');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'receiver headers on pop');
	is($p2->get("$R/fifo")->{body}, 'msg 2', 'next one');
	err_ok($p1->get("$R/$ids[0]"), 404, ERR('bad_id'), 'non-postrouted message gone after pop');
	$r = $p2->post("$R/lifo");
	is($r->{body}, 'msg 3', 'lifo pops the newest');
	$r = $p2->post("$R/fifo", ctype => 'application/x-www-form-urlencoded', body => '');
	is($r->{body}, 'msg 2', 'pop with an empty form body');
	empty_queue_ok($p2->post("$R/fifo"), 'then empty');
	is($p2->get("$X/fifo")->{body}, 'other resource', 'other resource untouched');
};

subtest 'pop of a postrouted message keeps it for the sender' => sub {
	my $r = $p2->post("$X/fifo");
	is($r->{body}, 'other resource', 'popped');
	my $id = (grep { /\d/ } split /\n/, $p1->get("$X?sender=true")->{body})[-1];
	$id =~ s{.*/}{};
	is($p1->get("$X/$id")->{status}, 200, 'sender still sees it');
	empty_queue_ok($p2->get("$X/fifo"), 'queue empty');
};

subtest 'a message linked through two memberships pops once' => sub {
	create_ok($p1, $R, comms => ['SUV', 'WUV'], body => 'twice');
	create_ok($p1, $R, mids => [$to2], body => 'after');
	is($p2->post("$R/fifo")->{body}, 'twice', 'popped');
	is($p2->post("$R/fifo")->{body}, 'after', 'all links went with the pop');
	empty_queue_ok($p2->post("$R/fifo"), 'empty');
};

subtest 'a tombstoned message is not queued' => sub {
	# P1 sends to P2 and P3; the sender deletes it: P2/P3 keep a
	# destroyed event (tombstone) but no queue entry.
	my $id = create_ok($p1, $R, mids => [$to2, $d->mid(P3 => 'public')], body => 'ghost');
	is($p1->delete("$R/$id")->{status}, 200, 'sender deletes');
	empty_queue_ok($p2->get("$R/fifo"), 'P2 queue');
	empty_queue_ok($p3->get("$R/lifo"), 'P3 queue');
};

subtest 'concurrent pops never hand out one message twice' => sub {
	create_ok($p1, $R, mids => [$to2], body => "c$_") for 1 .. 6;
	my @c = map { $d->as('P2') } 1 .. 6;
	$_->start_request(POST => "$R/fifo") for @c;
	my @got = map { $_->finish_request } @c;
	is_deeply([sort map { $_->{status} } @got], [(200) x 6], 'all 200');
	my @bodies = grep { length } map { $_->{body} } @got;
	my %seen;
	$seen{$_}++ for @bodies;
	is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'no message popped twice')
	    or diag(join ',', @bodies);
	is_deeply([sort @bodies], [map { "c$_" } 1 .. 6], 'each message popped once');
	empty_queue_ok($p2->get("$R/fifo"), 'queue drained');
};

# Pops sent together, which one batch runs together: on PostgreSQL the pops
# of one queue take their heads from one statement (ecsd/http.c,
# http_run_pops).
sub pop_together {
	my (@what) = @_;	# [client name, "fifo" or "lifo"], ...
	my @c = map { $d->as($_->[0])->fresh } @what;
	$c[$_]->start_request(POST => "$R/$what[$_][1]") for 0 .. $#what;
	return map { $_->finish_request } @c;
}

# None of these messages is left with its body: each went, or (as events
# name it) is a tombstone (removed). Read in the database, as a message
# nobody holds is not shown to its sender either.
sub disposed_ok {
	my ($ids, $name) = @_;
	SKIP: {
		skip 'no database of an external daemon', 1 if Ecsd::external();
		my $in = join ',', @$ids;
		is($d->sql("SELECT count(*) FROM messages WHERE id IN ($in) AND removed = 0") + 0,
		    0, $name);
	}
}

sub bodies_once_ok {
	my ($got, $want, $name) = @_;
	my @st = grep { $_->{status} != 200 } @$got;
	is(scalar @st, 0, "$name: every pop 200") or diag(join ',', map { $_->{status} } @st);
	my @b = sort grep { length } map { $_->{body} } @$got;
	is_deeply(\@b, [sort @$want], "$name: each message once")
	    or diag(join ',', @b);
}

subtest 'pops run together: shared messages, two memberships, both ends' => sub {
	my $to3 = $d->mid(P3 => 'public');
	my @s = map { create_ok($p1, $R, mids => [$to2, $to3], body => "s$_") } 1 .. 8;
	my @got = pop_together((map { ['P2', 'fifo'] } 1 .. 8),
	    (map { ['P3', 'fifo'] } 1 .. 8));
	bodies_once_ok([@got[0 .. 7]], [map { "s$_" } 1 .. 8], 'P2');
	bodies_once_ok([@got[8 .. 15]], [map { "s$_" } 1 .. 8], 'P3');
	# Whichever pop took the last link disposed of the message.
	disposed_ok(\@s, 'messages popped by both receivers are disposed of');

	my @two = map { create_ok($p1, $R, comms => ['SUV', 'WUV'], body => "d$_") } 1 .. 4;
	@got = pop_together((map { ['P2', 'lifo'] } 1 .. 4), (map { ['P2', 'fifo'] } 1 .. 2));
	bodies_once_ok(\@got, [map { "d$_" } 1 .. 4], 'two memberships, fifo and lifo');
	@two = map { create_ok($p1, $R, comms => ['SUV', 'WUV'], body => "e$_") } 1 .. 4;
	@got = pop_together(map { ['P2', 'lifo'] } 1 .. 6);
	bodies_once_ok(\@got, [map { "e$_" } 1 .. 4], 'two memberships, lifo');
	disposed_ok(\@two, 'messages linked twice are disposed of');
	empty_queue_ok($p2->get("$R/fifo"), 'P2 drained');
	empty_queue_ok($p3->get("$R/fifo"), 'P3 drained');
};

$d->stop_ok;
done_testing();
