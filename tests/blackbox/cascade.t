#!/usr/bin/perl
# Cascades of administrative deletions (spec 2.2, 2.6, 13.2, 8):
# participant, community, resource, organization; membership changes made
# through a participant PUT.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Ecsd;

sub events {
	my ($c) = @_;
	my $r = $c->get('/sys/events');
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] } ];
}
sub uri_list {
	my ($c, $path) = @_;
	my $r = $c->get($path);
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ split /\n/, $r->{body} ];
}
sub send_msg {
	my ($c, $path, $body, %a) = @_;
	my %h;
	$h{'X-EcsReceiverMemberships'} = $a{mids} if defined $a{mids};
	$h{'X-EcsReceiverCommunities'} = $a{comms} if defined $a{comms};
	my $r = $c->post($path, body => $body, ctype => $a{ctype} // 'text/plain', headers => \%h);
	diag("POST $path: $r->{status} $r->{body}") unless $r->{status} == 201;
	return $r->{status} == 201 ? (wantarray ? (Ecsd::loc_id($r), $r) : Ecsd::loc_id($r)) : undef;
}
sub mentions { my ($list, $re) = @_; return scalar grep { $_ =~ $re } @$list }

my $d = Ecsd->start;
my $A = $d->admin;
$d->fixture_spec;
my ($c1, $c2, $c3, $c4) = map { $d->as($_) } qw(my_secret_identity ulama sunito trulane);
my %mid = map { my $p = $_; ($p => { map { ($_ => $d->mid($p, $_)) } qw(public SUV WUV) }) } qw(P1 P2 P3 P4);

# ---------------------------------------------------------------- delete a participant (2.2)
{
	my $m_pub = send_msg($c3, '/numlab/results', 'P3 to public', comms => 'public');
	my $m_p4 = send_msg($c3, '/numlab/results', 'P3 to P4', mids => $mid{P4}{public});
	my $m_pr = send_msg($c3, '/numlab/exercises', 'P3 postrouted to public', comms => 'public');
	my $m_in = send_msg($c1, '/numlab/results', 'P1 to P3 and P4',
	    mids => "$mid{P3}{public},$mid{P4}{public}");
	my ($tok_id, $tr) = send_msg($c3, '/sys/auths', '{"url":"https://example.org/x"}',
	    ctype => 'application/json', mids => $mid{P1}{public});
	my $hash = ($tr && $tr->{json}) ? $tr->{json}{hash} : undef;
	ok($m_pub && $m_p4 && $m_pr && $m_in && $tok_id && $hash, 'messages and a token sent');

	is_deeply(uri_list($c4, '/numlab/results'), [ "results/$m_pub", "results/$m_p4", "results/$m_in" ],
	    'P4 receives three results before');
	ok(mentions(events($c1), qr{^numlab/results/$m_pub created$}), 'P1 has a created event for P3\'s message');
	is($c1->get("/sys/auths/$hash")->{status}, 200, 'P1 can read the token');

	my $r = $A->delete("/admin/participants/" . $d->pid('P3'));
	is($r->{status}, 200, 'DELETE participant P3');

	is($c3->get('/sys/events')->{status}, 401, 'P3\'s identity stops working');
	for my $id ($m_pub, $m_p4) {
		my $g = $c4->get("/numlab/results/$id");
		is($g->{status}, 404, "P3's message $id: 404 for a receiver");
		is($g->{body}, "Invalid resource id\n", '404 text');
	}
	is($c1->get("/numlab/results/$m_pub")->{status}, 404, 'also for P1');
	is($c1->get("/numlab/exercises/$m_pr")->{status}, 404, 'postrouted message gone too');
	is_deeply(uri_list($c4, '/numlab/results'), ["results/$m_in"], 'P4 list: only P1\'s message left');
	is_deeply(uri_list($c1, '/numlab/results'), [], 'P1 receives nothing any more');
	is_deeply(uri_list($c1, '/numlab/exercises'), [], 'P1 exercises: empty');
	my $f = $c4->get('/numlab/exercises/fifo');
	is($f->{body}, '', 'P4 exercises fifo empty');
	my $e1 = events($c1);
	my $e4 = events($c4);
	is(mentions($e1, qr{^numlab/(results|exercises)/($m_pub|$m_pr) }), 0,
	    'events about P3\'s messages vanished from P1\'s queue') or diag("@$e1");
	is(mentions($e4, qr{^numlab/(results|exercises)/($m_pub|$m_p4|$m_pr) }), 0,
	    'events about P3\'s messages vanished from P4\'s queue') or diag("@$e4");
	is(mentions($e4, qr/destroyed/), 0, 'no destroyed events for the receivers');
	ok(mentions($e4, qr{^numlab/results/$m_in created$}), 'P4 keeps the event about P1\'s message');
	my $t = $c1->get("/sys/auths/$hash");
	is($t->{status}, 404, 'P3\'s token gone');
	is($t->{body}, "Invalid auths hash\n", 'token 404 text');

	my $g = $c1->get("/numlab/results/$m_in");
	is($g->{status}, 200, 'P1\'s message to P3 and P4 still exists for P1');
	my $det = $c1->get("/numlab/results/$m_in/details")->{json} || {};
	is_deeply([ map { $_->{mid} } @{ $det->{receivers} || [] } ], [ $mid{P4}{public} ],
	    'its receivers: only P4 left');
	$g = $d->as('my_secret_identity')->get('/sys/memberships');
	my ($pub) = grep { $_->{community}{name} eq 'public' } @{ $g->{json} || [] };
	is_deeply([ sort { $a <=> $b } map { $_->{pid} } @{ $pub ? $pub->{participants} : [] } ],
	    [ sort { $a <=> $b } $d->pid('P1'), $d->pid('P4') ], 'P3 no longer a member of public');
	my $x = send_msg($c1, '/numlab/results', 'to a dead mid', mids => $mid{P3}{public});
	is($x, undef, 'addressing P3\'s old mid fails');

	# the postrouted message of the deleted sender is not postrouted any more
	my $np = $A->post('/admin/participants', json => { name => 'newcomer',
	    organization_id => $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    auth_ids => ['newcomer'], communities => ['public'] });
	is($np->{status}, 201, 'a new participant joins public');
	is_deeply(uri_list($d->as('newcomer'), '/numlab/exercises'), [],
	    'it does not get the deleted participant\'s postrouted message');
	is_deeply(events($d->as('newcomer')), [], 'and no event');

	# names and identities can be reused
	is($A->post('/admin/participants', json => { name => 'Computation client',
	    organization_id => $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    auth_ids => ['sunito'] })->{status}, 201, 'name and identity of P3 reusable');
	my $nc = $d->as('sunito');
	is_deeply(uri_list($nc, '/numlab/results?all=true'), [], 'the new owner of sunito sees nothing of P3');
	is_deeply(events($nc), [], 'and has no events');
}

# ---------------------------------------------------------------- delete a community (13.2)
{
	my $cm = $A->post('/admin/communities', json => { name => 'TMP', description => 'temporary' });
	is($cm->{status}, 201, 'community TMP');
	my $cid = $cm->{json}{id};
	my %tm;
	for my $p (qw(P1 P2)) {
		my $r = $A->post('/admin/memberships', json => { participant_id => $d->pid($p), community_id => $cid });
		is($r->{status}, 201, "$p joins TMP");
		$tm{$p} = $r->{json}{id};
	}
	my $m_t = send_msg($c1, '/numlab/exercises', 'to TMP', comms => 'TMP');
	my $m_d = send_msg($c1, '/numlab/results', 'to P2 in TMP', mids => $tm{P2});
	is_deeply(uri_list($c2, '/numlab/exercises'), ["exercises/$m_t"], 'P2 receives the TMP message');

	is($A->delete("/admin/communities/$cid")->{status}, 200, 'DELETE community TMP');
	my $g = $c2->get('/sys/memberships');
	is($g->{status}, 200, '/sys/memberships still works (Q-28)');
	ok(!grep({ $_->{community}{name} eq 'TMP' } @{ $g->{json} || [] }), 'TMP no longer listed');
	my $p2 = $A->get('/admin/participants/' . $d->pid('P2'))->{json} || {};
	ok(!grep({ $_->{community_id} == $cid } @{ $p2->{memberships} || [] }), 'membership gone in the admin view');
	is($A->delete("/admin/memberships/$tm{P2}")->{status}, 404, 'the membership id is gone');
	is_deeply(uri_list($c2, '/numlab/exercises'), [], 'links through TMP removed');
	is_deeply(uri_list($c2, '/numlab/results'), [], 'direct link through TMP removed');
	is($c2->get("/numlab/exercises/$m_t")->{status}, 403, 'former receiver: 403');
	is($c1->get("/numlab/exercises/$m_t")->{status}, 200, 'postrouted message lives on for its sender');
	my $det = $c1->get("/numlab/exercises/$m_t/details")->{json} || {};
	is_deeply($det->{receivers}, [], 'no receivers left');
	my $r = $c1->post('/numlab/results', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $tm{P2} });
	is($r->{status}, 400, 'addressing a mid of the deleted community: 400');
	$r = $c1->post('/numlab/results', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => 'TMP' });
	is($r->{status}, 400, 'addressing the deleted community by name: 400');
	$r = $c1->post('/numlab/results', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => $cid });
	is($r->{status}, 404, 'addressing the deleted community by id: 404');

	# a new community of the same name does not inherit community records
	my $cm2 = $A->post('/admin/communities', json => { name => 'TMP', description => 'again' });
	is($cm2->{status}, 201, 'TMP created again');
	$r = $A->post('/admin/memberships', json => { participant_id => $d->pid('P2'), community_id => $cm2->{json}{id} });
	is($r->{status}, 201, 'P2 joins the new TMP');
	is_deeply(uri_list($c2, '/numlab/exercises'), [], 'no postrouting from the old TMP');
	$c2->post('/sys/events/fifo?count=-1');
	$c1->post('/sys/events/fifo?count=-1');
}

# ---------------------------------------------------------------- delete a resource (2.6, 13.2)
{
	my $rid = $d->names->{resources}{'numlab/solutions'};
	my $m_s = send_msg($c1, '/numlab/solutions', 'solution', mids => $mid{P2}{WUV});
	my $m_o = send_msg($c1, '/numlab/results', 'other resource', mids => $mid{P2}{WUV});
	is_deeply(events($c2), [ "numlab/solutions/$m_s created", "numlab/results/$m_o created" ],
	    'P2 has events for both');
	is($A->delete("/admin/resources/$rid")->{status}, 200, 'DELETE resource numlab/solutions');
	for my $w ([GET => '/numlab/solutions'], [POST => '/numlab/solutions'],
	    [GET => "/numlab/solutions/$m_s"], [DELETE => "/numlab/solutions/$m_s"],
	    [GET => '/numlab/solutions/fifo'], [POST => '/numlab/solutions/lifo'],
	    [GET => '/numlab/solutions/details'], [GET => "/numlab/solutions/$m_s/details"]) {
		my $r = $c2->request($w->[0], $w->[1], body => 'x', ctype => 'text/plain',
		    headers => { 'X-EcsReceiverMemberships' => $mid{P1}{WUV} });
		is($r->{status}, 404, "$w->[0] $w->[1] after deleting the resource: 404");
	}
	is($d->client->get('/numlab/solutions')->{status}, 404, '404 without credentials too');
	is_deeply(events($c2), ["numlab/results/$m_o created"], 'events about its messages are gone');
	ok(!exists(($c2->get('/sys/configs')->{json} || {})->{resource_events}{'/numlab/solutions'}),
	    '/sys/configs no longer lists it');
	is($c2->get("/numlab/results/$m_o")->{status}, 200, 'other resources unaffected');

	my $r = $A->post('/admin/resources', json => { namespace => 'numlab', name => 'solutions' });
	is($r->{status}, 201, 'resource created again');
	is_deeply(uri_list($c2, '/numlab/solutions'), [], 'the new resource is empty');
	is_deeply(uri_list($c1, '/numlab/solutions?sender=true'), [], 'for the sender as well');
	my $g = $c2->get("/numlab/solutions/$m_s");
	is($g->{status}, 404, 'old message id: 404');
	is($g->{body}, "Invalid resource id\n", '404 text');
	$c2->post('/sys/events/fifo?count=-1');
}

# ---------------------------------------------------------------- membership changes through PUT
{
	my $p1id = $d->pid('P1');
	my $m_x = send_msg($c2, '/numlab/results', 'P2 to P1 via SUV', mids => $mid{P1}{SUV});
	my $m_y = send_msg($c2, '/numlab/exercises', 'P2 to WUV', comms => 'WUV');
	$c1->post('/sys/events/fifo?count=-1');
	my $r = $A->put("/admin/participants/$p1id", json => { communities => [ 'public', 'WUV' ] });
	is($r->{status}, 200, 'PUT P1 communities without SUV');
	is_deeply(uri_list($c1, '/numlab/results'), [], 'link through SUV removed');
	is_deeply(events($c1), ["numlab/results/$m_x destroyed"],
	    'destroyed event as for a membership deletion (13.2)');
	$r = $A->put("/admin/participants/$p1id", json => { communities => ['public'] });
	ok(mentions(events($c1), qr{^numlab/exercises/$m_y destroyed$}), 'leaving WUV: destroyed for the WUV message');
	$c1->post('/sys/events/fifo?count=-1');
	$r = $A->put("/admin/participants/$p1id", json => { communities => [ 'public', 'WUV', 'SUV' ] });
	is($r->{status}, 200, 'PUT P1 back into WUV and SUV');
	is_deeply(uri_list($c1, '/numlab/exercises'), ["exercises/$m_y"],
	    'rejoining WUV postroutes the community message (13.2)');
	is_deeply(events($c1), ["numlab/exercises/$m_y created"], 'with a created event');
	is_deeply(uri_list($c1, '/numlab/results'), [], 'mid-addressed message is not postrouted');
}

# ---------------------------------------------------------------- delete an organization
{
	$d->refresh_map;
	my $m_u = send_msg($c2, '/numlab/results', 'from Ulm', mids => $d->mid('P1', 'WUV'));
	ok($m_u, 'P2 sends to P1\'s new WUV mid');
	my $oid = $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id};
	my @ulm = grep { ($_->{organization_id} // 0) == $oid } @{ $A->get('/admin/participants')->{json} || [] };
	ok(scalar @ulm >= 2, 'Ulm has participants');
	is($A->delete("/admin/organizations/$oid")->{status}, 200, 'DELETE organization Ulm');
	for my $p (@ulm) {
		is($A->get("/admin/participants/$p->{id}")->{status}, 404, "participant $p->{name} deleted");
	}
	is($c2->get('/sys/events')->{status}, 401, 'ulama stops working');
	is($d->as('newcomer')->get('/sys/events')->{status}, 401, 'newcomer stops working');
	my $g = $c1->get('/numlab/results');
	ok(!grep({ $_ eq "results/$m_u" } split /\n/, $g->{body}), 'messages sent by Ulm participants vanish');
}

$d->stop_ok;
done_testing;
