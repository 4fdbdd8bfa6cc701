# Addressing (ecs-protocol.md section 7, and 3.1 on repeated headers).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
my ($p1, $p2, $p3, $p4) = map { $d->as($_) } qw(P1 P2 P3 P4);
my $R = '/numlab/results';	# not postrouted, events on
my $X = '/numlab/exercises';	# postrouted

# A community of which P4 is the only member.
$d->setup({ communities => [{ name => 'LONELY', description => 'only P4' }] });
{
	my $r = $d->admin->post('/admin/memberships',
	    json => { participant_id => $d->pid('P4'), community_id => $d->cid('LONELY') });
	is($r->{status}, 201, 'admin: P4 joins LONELY') or diag($r->{body});
	$d->refresh_map;
}

# Who receives message $id of $res (as a sorted list of aliases)?
sub receivers {
	my ($res, $id) = @_;
	my @who;
	for my $p (qw(P1 P2 P3 P4)) {
		my $r = $d->as($p)->get("$res/$id");
		push @who, $p if $r->{status} == 200 && defined $r->{headers}{'x-ecssender'};
	}
	return \@who;
}

subtest 'by membership (7.2)' => sub {
	my $id = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')]);
	is_deeply(receivers($R, $id), ['P2'], 'P2 receives');
	my $dt = $p1->get("$R/$id/details")->{json};
	is_deeply([map { $_->{mid} } @{ $dt->{receivers} }], [$d->mid(P2 => 'WUV')], 'exactly one link');
};

subtest 'mids outside the sender communities are skipped silently' => sub {
	my $id = create_ok($p3, $R, mids => [$d->mid(P2 => 'WUV'), $d->mid(P4 => 'public')]);
	is_deeply(receivers($R, $id), ['P4'], 'only P4 (public) receives');
	err_ok($p3->post($R, body => 'x', ctype => 'text/plain',
	    headers => { addr(mids => [$d->mid(P2 => 'WUV'), $d->mid(P1 => 'SUV')]) }),
	    403, ERR('not_joining'), 'only foreign mids');
};

subtest 'by community excludes the sender unless selfrouting' => sub {
	my $id = create_ok($p1, $R, comms => ['SUV']);
	is_deeply(receivers($R, $id), ['P2'], 'SUV by name: P2 only');
	my $id2 = create_ok($p1, $R, comms => [$d->cid('WUV')]);
	is_deeply(receivers($R, $id2), ['P2'], 'WUV by id: P2 only');
	my $g = $p2->get("$R/$id2");
	is($g->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), 'answers name communities by id');
	my $id3 = create_ok($p1, $R, comms => ['public']);
	is_deeply(receivers($R, $id3), ['P3', 'P4'], 'public: P3, P4');
	err_ok($p3->post($R, body => 'x', ctype => 'text/plain', headers => { addr(comms => ['SUV']) }),
	    403, ERR('not_joining'), 'community the sender is not in');
	err_ok($p3->post($R, body => 'x', ctype => 'text/plain', headers => { addr(comms => [$d->cid('WUV')]) }),
	    403, ERR('not_joining'), 'foreign community by id');
	my $id4 = create_ok($p3, $R, comms => ['public', 'SUV']);
	is_deeply(receivers($R, $id4), ['P1', 'P4'], 'foreign community skipped next to a usable one');
};

subtest 'an explicit own mid always delivers to the sender' => sub {
	my $id = create_ok($p1, $R, mids => [$d->mid(P1 => 'SUV')]);
	is_deeply(receivers($R, $id), ['P1'], 'sender receives its own message');
	my $g = $p1->get("$R/$id");
	is($g->{headers}{'x-ecsreceivercommunities'}, $d->cid('SUV'), 'receiver community');
	is($g->{headers}{'x-ecssender'}, $d->mid(P1 => 'SUV'), 'sender mid = own mid');
};

subtest 'selfrouting includes the sender in community sends' => sub {
	my $c = $p1->post('/sys/configs', json => { selfrouting => JSON::PP::true });
	is($c->{status}, 200, 'selfrouting on') or diag($c->{body});
	my $id = create_ok($p1, $R, comms => ['SUV']);
	is_deeply(receivers($R, $id), ['P1', 'P2'], 'P1 and P2');
	my $id2 = create_ok($p1, $R, mids => [$d->mid(P2 => 'SUV')]);
	is_deeply(receivers($R, $id2), ['P2'], 'selfrouting is irrelevant for mids');
	$c = $p1->post('/sys/configs', json => { selfrouting => JSON::PP::false });
	is($c->{status}, 200, 'selfrouting off');
	my $id3 = create_ok($p1, $R, comms => ['SUV']);
	is_deeply(receivers($R, $id3), ['P2'], 'P2 only again');
};

subtest 'both headers and duplicates link a membership once' => sub {
	my $id = create_ok($p1, $R, mids => [$d->mid(P2 => 'SUV'), $d->mid(P2 => 'SUV')],
	    comms => ['SUV', 'SUV', $d->cid('SUV')]);
	my $dt = $p1->get("$R/$id/details")->{json};
	is_deeply([map { $_->{mid} } @{ $dt->{receivers} }], [$d->mid(P2 => 'SUV')], 'one link');
	my $ev = $p2->get('/sys/events')->{json};
	is(scalar(grep { $_->{ressource} eq "numlab/results/$id" } @$ev), 1, 'one created event');
};

subtest 'header syntax (7.1)' => sub {
	my $m = $d->mid(P2 => 'WUV');
	my $id = create_ok($p1, $R, headers => { 'X-EcsReceiverMemberships' => "abc,$m" });
	is_deeply(receivers($R, $id), ['P2'], 'abc,<mid> = <mid>');
	err_ok($p1->post($R, body => 'x', ctype => 'text/plain', headers => { 'X-EcsReceiverMemberships' => 'abc' }),
	    400, ERR('no_addr'), 'abc alone = no header');
	my $id2 = create_ok($p1, $R, headers => { 'X-EcsReceiverMemberships' => " $m , " . $d->mid(P3 => 'public') . ' ' });
	is_deeply(receivers($R, $id2), ['P2', 'P3'], 'tokens trimmed');
	my $id3 = create_ok($p1, $R, headers => { 'X-EcsReceiverCommunities' => ' SUV , public ' });
	is_deeply(receivers($R, $id3), ['P2', 'P3', 'P4'], 'community names trimmed');
	err_ok($p1->post($R, body => 'x', ctype => 'text/plain', headers => { 'X-EcsReceiverCommunities' => 'suv' }),
	    400, ERR('bad_cname') . 'suv', 'names are case-sensitive');
	my $id4 = create_ok($p1, $R, headers => { 'X-EcsReceiverMemberships' => '  ',
	    'X-EcsReceiverCommunities' => 'WUV' });
	is_deeply(receivers($R, $id4), ['P2'], 'blank membership header counts as absent');
	my $id5 = create_ok($p1, $R, headers => { 'x-ecsreceivermemberships' => $m });
	is_deeply(receivers($R, $id5), ['P2'], 'header names are case-insensitive');
};

subtest 'repeated header lines are joined with commas (3.1)' => sub {
	my $id = create_ok($p1, $R, headers => [
	    'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'),
	    'X-EcsReceiverMemberships' => $d->mid(P3 => 'public')]);
	is_deeply(receivers($R, $id), ['P2', 'P3'], 'both lines used');
};

subtest 'a community with the sender as only member: 201, no receivers (Q-46)' => sub {
	my $id = create_ok($p4, $X, comms => ['LONELY'], body => 'alone');
	is_deeply(receivers($X, $id), [], 'nobody receives');
	my $g = $p4->get("$X/$id");
	is($g->{status}, 200, 'visible to its sender');
	like($p4->get("$X?sender=true")->{body}, qr{^exercises/$id$}m, 'listed for the sender');
	is($p4->get('/sys/events')->{body} =~ /exercises\/$id"/ ? 1 : 0, 0, 'no event for the sender');
};

subtest 'receiver headers are ignored on GET (client habit)' => sub {
	my $id = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')]);
	my $g = $p2->get("$R/$id", headers => { 'X-EcsReceiverMemberships' => $d->mid(P1 => 'SUV') });
	is($g->{status}, 200, 'GET with addressing header');
	my $l = $p2->get($R, headers => { 'X-EcsReceiverCommunities' => 'nonexistent' });
	is($l->{status}, 200, 'list with addressing header');
};

subtest 'receiver headers list the caller memberships in parallel (6.5)' => sub {
	my $id = create_ok($p1, $R, comms => ['SUV', 'WUV']);
	my $g = $p2->get("$R/$id");
	my @c = split /,/, $g->{headers}{'x-ecsreceivercommunities'} // '';
	my @s = split /,/, $g->{headers}{'x-ecssender'} // '';
	is(scalar @c, 2, 'two communities');
	is(scalar @s, 2, 'two sender mids');
	my %sender_in = ($d->cid('SUV') => $d->mid(P1 => 'SUV'), $d->cid('WUV') => $d->mid(P1 => 'WUV'));
	is_deeply([map { $sender_in{ $c[$_] } // 'x' } 0 .. $#c], \@s, 'lists are parallel');
	unlike($g->{headers}{'x-ecssender'} // '', qr/\s/, 'no spaces');
	my @mid_order = sort { $a <=> $b } ($d->mid(P2 => 'SUV'), $d->mid(P2 => 'WUV'));
	my %cid_of = ($d->mid(P2 => 'SUV') => $d->cid('SUV'), $d->mid(P2 => 'WUV') => $d->cid('WUV'));
	is_deeply(\@c, [map { $cid_of{$_} } @mid_order], 'ordered by the caller mid (SHOULD)');
};

$d->stop_ok;
done_testing();
