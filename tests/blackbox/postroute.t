# Postrouting and admin membership changes (ecs-protocol.md sections 9,
# 7.3, 13.2, Q-17, Q-21, Q-22, Q-38).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
$d->setup({ participants => [
	{ name => 'Late joiner', description => '', dns => '', email => '',
	  organization => "Universit\x{e4}t Stuttgart", community_selfrouting => JSON::PP::false,
	  events => JSON::PP::true, auth_ids => ['latecomer'], communities => [] },
	{ name => 'Foreign joiner', description => '', dns => '', email => '',
	  organization => "Universit\x{e4}t Ulm", community_selfrouting => JSON::PP::false,
	  events => JSON::PP::true, auth_ids => ['foreigner'], communities => [] },
] });
my ($p1, $p2, $p3) = map { $d->as($_) } qw(P1 P2 P3);
my $p5 = $d->as('latecomer');
my $p6 = $d->as('foreigner');
my $adm = $d->admin;
my $X = '/numlab/exercises';	# postrouted
my $R = '/numlab/results';	# not postrouted

sub evs { my ($c) = @_; return events_of($c->get('/sys/events')) }

sub join_c {
	my ($who, $comm) = @_;
	my $r = $adm->post('/admin/memberships',
	    json => { participant_id => $d->pid($who), community_id => $d->cid($comm) });
	is($r->{status}, 201, "admin: $who joins $comm") or diag($r->{body});
	$d->refresh_map;
	return $r->{json};
}

sub leave_c {
	my ($who, $comm) = @_;
	my $mid = $d->mid($who => $comm);
	my $r = $adm->delete("/admin/memberships/$mid");
	is($r->{status}, 200, "admin: $who leaves $comm") or diag($r->{body});
	$d->refresh_map;
}

my $m1 = create_ok($p1, $X, comms => ['SUV'], body => 'm1 by community');
my $m2 = create_ok($p1, $X, mids => [$d->mid(P2 => 'SUV')], body => 'm2 by mid');
my $m3 = create_ok($p1, $R, comms => ['SUV'], body => 'm3 not postrouted');
my $m4 = create_ok($p1, $X, comms => ['SUV'], body => 'm4 deleted');
is($p1->delete("$X/$m4")->{status}, 200, 'm4 deleted by its sender');
my $m5 = create_ok($p3, $X, comms => ['public', 'SUV'], body => 'm5 public (+ foreign SUV)');
my $m7 = create_ok($p1, $X, comms => ['WUV'], body => 'm7 orphan');
is($p2->delete("$X/$m7")->{status}, 200, 'm7: its only receiver deleted it');
is($p1->get("$X/$m7")->{status}, 200, 'm7 stays (postrouted)');

subtest 'a new member of SUV gets community-addressed postrouted messages only (9)' => sub {
	my $ms = join_c('Late joiner', 'SUV');
	is_deeply([sort keys %{ $ms || {} }], [qw(community_id id participant_id)], 'membership object');
	is_deeply(evs($p5), ["numlab/exercises/$m1 created"], 'one created event (m1)');
	is($p5->get($X)->{body}, "exercises/$m1\n", 'listed');
	my $g = $p5->get("$X/$m1");
	is($g->{status}, 200, 'readable');
	is($g->{body}, 'm1 by community', 'body');
	is($g->{headers}{'x-ecsreceivercommunities'}, $d->cid('SUV'), 'X-EcsReceiverCommunities');
	is($g->{headers}{'x-ecssender'}, $d->mid(P1 => 'SUV'), 'X-EcsSender');
	is($p5->get("$X/$m2")->{status}, 403, 'not m2 (addressed by mid)');
	is($p5->get("$R/$m3")->{status}, 403, 'not m3 (resource not postrouted)');
	is($p5->get("$X/$m4")->{status}, 404, 'not m4 (deleted by sender, Q-21)');
	is($p5->get("$X/fifo")->{body}, 'm1 by community', 'queue has m1 only');
};

subtest 'a postrouted message without receivers is still delivered' => sub {
	join_c('Late joiner', 'WUV');
	is_deeply(evs($p5), ["numlab/exercises/$m1 created", "numlab/exercises/$m7 created"], 'm7 created');
	is($p5->get("$X/$m7")->{body}, 'm7 orphan', 'readable');
};

subtest 'community records only for the sender communities (7.3, Q-22)' => sub {
	join_c('Foreign joiner', 'SUV');
	is_deeply(evs($p6), ["numlab/exercises/$m1 created"], 'm1 but not m5');
	is($p6->get("$X/$m5")->{status}, 403, 'm5 not delivered through the foreign community');
	join_c('Late joiner', 'public');
	is_deeply(evs($p5), ["numlab/exercises/$m1 created", "numlab/exercises/$m7 created",
	    "numlab/exercises/$m5 created"], 'm5 through public');
};

subtest 'a participant created with memberships is postrouted to' => sub {
	my $r = $adm->post('/admin/participants', json => { name => 'Created member', description => '',
	    dns => '', email => '', organization_id => $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    community_selfrouting => JSON::PP::false, events => JSON::PP::true,
	    auth_ids => ['created_member'], communities => ['SUV'] });
	is($r->{status}, 201, 'admin: participant created') or diag($r->{body});
	is_deeply(evs($d->as('created_member')), ["numlab/exercises/$m1 created"], 'm1 created');
};

subtest 'the sender leaves the community (13.2, Q-17, Q-38)' => sub {
	$p1->post('/sys/events/fifo?count=-1');
	my $old = $d->mid(P1 => 'SUV');
	leave_c('P1', 'SUV');
	my @e = @{ evs($p1) || [] };
	ok((grep { $_ eq "numlab/exercises/$m1 destroyed" } @e), 'destroyed for a message with a SUV record (Q-38)')
	    or diag(join ', ', @e);
	ok(!(grep { /\/$m2 / } @e), 'nothing for a message addressed by mid');
	my $g = $p2->get("$X/$m1");
	is($g->{status}, 200, 'receivers keep the message');
	ok(!exists $g->{headers}{'x-ecssender'}, 'pair omitted from X-EcsSender (Q-17)');
	ok(!exists $g->{headers}{'x-ecsreceivercommunities'}, 'and from X-EcsReceiverCommunities');
	my $dt = $p1->get("$X/$m1/details");
	is($dt->{status}, 200, 'sender details');
	ok(scalar @{ $dt->{json}{senders} || [] } >= 3, 'senders parallel to receivers');
	is_deeply([grep { defined $_->{mid} } @{ $dt->{json}{senders} || [] }], [], '"mid": null for every entry');
	is_deeply([sort map { exists $_->{mid} ? 1 : 0 } @{ $dt->{json}{senders} || [] }],
	    [(1) x scalar @{ $dt->{json}{senders} || [] }], 'mid key present');

	join_c('P1', 'SUV');
	isnt($d->mid(P1 => 'SUV'), $old, 'new mid');
	like($p1->get($X)->{body}, qr{^exercises/$m1$}m, 'a rejoining sender receives its own message (9)');
	my $g1 = $p1->get("$X/$m1");
	is($g1->{headers}{'x-ecssender'}, $d->mid(P1 => 'SUV'), 'X-EcsSender = new mid');
	ok((grep { $_ eq "numlab/exercises/$m1 created" } @{ evs($p1) }), 'created event');
	is($p2->get("$X/$m1")->{headers}{'x-ecssender'}, $d->mid(P1 => 'SUV'), 'pair back for receivers');
};

subtest 'a receiver removed from a community gets destroyed events (13.2)' => sub {
	my $m9 = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')], body => 'm9');
	$p2->post('/sys/events/fifo?count=-1');
	leave_c('P2', 'WUV');
	my @e = @{ evs($p2) || [] };
	ok((grep { $_ eq "numlab/results/$m9 destroyed" } @e), 'destroyed for a linked message') or diag(join ', ', @e);
	ok((grep { $_ eq "numlab/exercises/$m7 destroyed" } @e), 'destroyed for a WUV-record message (Q-38)');
	is($p2->get("$R/$m9")->{status} == 200 ? 'receiver' : 'not', 'not', 'no longer a receiver');
	my $ms = $p2->get('/sys/memberships');
	is($ms->{status}, 200, '/sys/memberships still works');
	is_deeply([sort map { $_->{community}{name} } @{ $ms->{json} || [] }], ['SUV'], 'only SUV left');
};

$d->stop_ok;
done_testing();
