#!/usr/bin/perl
# Admin API (HACKING.md "Admin API"): every route, create/list/show/PUT/DELETE,
# reset, memberships, apply (idempotent) and export (round trip), and the
# protocol-visible effects of spec 13.2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Ecsd;

my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub jtrue  { my ($v) = @_; return JSON::PP::is_bool($v) && $v ? 1 : 0 }
sub jfalse { my ($v) = @_; return JSON::PP::is_bool($v) && !$v ? 1 : 0 }
sub isnum  { my ($v) = @_; return defined $v && !ref $v && $v =~ /^[1-9][0-9]*$/ ? 1 : 0 }

# status + JSON content type; returns the decoded JSON
sub want {
	my ($r, $status, $name) = @_;
	is($r->{status}, $status, "$name: $status") or diag("body: $r->{body}");
	if ($r->{status} < 300) {
		like($r->{headers}{'content-type'} // '', qr{^application/json}i,
		    "$name: application/json");
	}
	return $r->{json};
}

# "ns/res/id status" lines of the caller's event queue (GET, no side effects)
sub events {
	my ($c) = @_;
	my $r = $c->get('/sys/events');
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] } ];
}

# POST a message; returns its id (undef on failure, with a diag)
sub send_msg {
	my ($c, $path, $body, %a) = @_;
	my %h;
	$h{'X-EcsReceiverMemberships'} = $a{mids} if defined $a{mids};
	$h{'X-EcsReceiverCommunities'} = $a{comms} if defined $a{comms};
	my $r = $c->post($path, body => $body, ctype => 'text/plain', headers => \%h);
	if ($r->{status} != 201) {
		diag("POST $path: $r->{status} $r->{body}");
		return undef;
	}
	return Ecsd::loc_id($r);
}

sub uri_list {
	my ($c, $path) = @_;
	my $r = $c->get($path);
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ split /\n/, $r->{body} ];
}

sub mids_of { my ($p) = @_; return { map { $_->{community_id} => $_->{mid} } @{ $p->{memberships} || [] } } }

my $d = Ecsd->start;
my $A = $d->admin;

# ---------------------------------------------------------------- organizations
{
	my $r = $A->post('/admin/organizations',
	    json => { name => 'Org One', abbr => 'O1', description => 'first' });
	my $o = want($r, 201, 'POST organization');
	ok(isnum($o->{id}), 'organization id is a positive number');
	is($o->{name}, 'Org One', 'organization name');
	is($o->{abbr}, 'O1', 'organization abbr');
	is($o->{description}, 'first', 'organization description');

	my $l = want($A->get('/admin/organizations'), 200, 'GET organizations');
	is(ref $l, 'ARRAY', 'organizations list is an array');
	my ($in) = grep { ($_->{id} // 0) == $o->{id} } @{ ref $l eq 'ARRAY' ? $l : [] };
	is_deeply($in, $o, 'created organization is listed as created');

	my $s = want($A->get("/admin/organizations/$o->{id}"), 200, 'GET organization');
	is_deeply($s, $o, 'show equals create answer');

	my $u = want($A->put("/admin/organizations/$o->{id}", json => { description => 'changed' }),
	    200, 'PUT organization');
	is($u->{description}, 'changed', 'PUT changes description');
	is($u->{name}, 'Org One', 'PUT keeps name');
	is($u->{abbr}, 'O1', 'PUT keeps abbr');
	is($u->{id}, $o->{id}, 'PUT keeps id');
	$u = want($A->put("/admin/organizations/$o->{id}", json => { name => 'Org Uno', abbr => 'OU' }),
	    200, 'PUT organization rename');
	is($u->{name}, 'Org Uno', 'renamed');
	is($u->{abbr}, 'OU', 'abbr changed');
	is($u->{description}, 'changed', 'description kept');
	is_deeply(want($A->get("/admin/organizations/$o->{id}"), 200, 'GET after PUT'), $u,
	    'show reflects PUT');

	my $x = want($A->delete("/admin/organizations/$o->{id}"), 200, 'DELETE organization');
	is_deeply($x, $u, 'DELETE answers the deleted object');
	is($A->get("/admin/organizations/$o->{id}")->{status}, 404, 'deleted organization: 404');
	$l = $A->get('/admin/organizations')->{json} || [];
	ok(!grep({ ($_->{id} // 0) == $o->{id} } @$l), 'deleted organization not listed');
	is($A->delete("/admin/organizations/$o->{id}")->{status}, 404, 'second DELETE: 404');
}

# ---------------------------------------------------------------- communities
{
	my $c = want($A->post('/admin/communities', json => { name => 'comm-a', description => 'A' }),
	    201, 'POST community');
	ok(isnum($c->{id}), 'community id');
	is($c->{name}, 'comm-a', 'community name');
	is($c->{description}, 'A', 'community description');
	my $l = want($A->get('/admin/communities'), 200, 'GET communities') || [];
	my ($in) = grep { ($_->{id} // 0) == $c->{id} } @$l;
	is_deeply($in, $c, 'community listed');
	ok(scalar(grep { ($_->{name} // '') eq 'public' } @$l), 'seed community public is listed');
	is_deeply(want($A->get("/admin/communities/$c->{id}"), 200, 'GET community'), $c, 'show');
	my $u = want($A->put("/admin/communities/$c->{id}", json => { description => 'AA' }),
	    200, 'PUT community');
	is($u->{description}, 'AA', 'PUT changes description');
	is($u->{name}, 'comm-a', 'PUT keeps name');
	$u = want($A->put("/admin/communities/$c->{id}", json => { name => 'comm-b' }),
	    200, 'PUT community rename');
	is($u->{name}, 'comm-b', 'community renamed');
	is($u->{description}, 'AA', 'description kept on rename');
	my $x = want($A->delete("/admin/communities/$c->{id}"), 200, 'DELETE community');
	is_deeply($x, $u, 'DELETE answers the deleted community');
	is($A->get("/admin/communities/$c->{id}")->{status}, 404, 'deleted community: 404');
}

# shared objects for the rest
my $org = want($A->post('/admin/organizations',
    json => { name => 'Test Org', abbr => 'TO', description => '' }), 201, 'POST org for participants');
my $org2 = want($A->post('/admin/organizations',
    json => { name => 'Other Org', abbr => 'OO', description => 'other' }), 201, 'POST second org');
my $c1 = want($A->post('/admin/communities', json => { name => 'C1', description => 'c one' }),
    201, 'POST C1');
my $c2 = want($A->post('/admin/communities', json => { name => 'C2', description => 'c two' }),
    201, 'POST C2');

# ---------------------------------------------------------------- resources
my $res;
{
	my $r = want($A->post('/admin/resources',
	    json => { namespace => 'tns', name => 'items', postroute => $F, events => $T }),
	    201, 'POST resource');
	ok(isnum($r->{id}), 'resource id');
	is($r->{namespace}, 'tns', 'resource namespace');
	is($r->{name}, 'items', 'resource name');
	ok(jfalse($r->{postroute}), 'postroute false (JSON boolean)');
	ok(jtrue($r->{events}), 'events true (JSON boolean)');
	$res = $r;

	my $dflt = want($A->post('/admin/resources', json => { namespace => 'tns', name => 'dflt' }),
	    201, 'POST resource with defaults');
	ok(jfalse($dflt->{postroute}), 'postroute defaults to false');
	ok(jtrue($dflt->{events}), 'events defaults to true');

	my $pr = want($A->post('/admin/resources',
	    json => { namespace => 'tns', name => 'routed', postroute => $T, events => $F }),
	    201, 'POST postrouted resource');
	ok(jtrue($pr->{postroute}), 'postroute true');
	ok(jfalse($pr->{events}), 'events false');

	my $l = want($A->get('/admin/resources'), 200, 'GET resources') || [];
	my ($in) = grep { ($_->{id} // 0) == $r->{id} } @$l;
	is_deeply($in, $r, 'resource listed');
	is_deeply(want($A->get("/admin/resources/$r->{id}"), 200, 'GET resource'), $r, 'show');

	# routable at once, unroutable after DELETE
	my $p = want($A->post('/admin/participants',
	    json => { name => 'res-prober', organization_id => $org->{id}, auth_ids => ['res-prober'] }),
	    201, 'POST participant for resource probing');
	my $pc = $d->as('res-prober');
	my $g = $pc->get('/tns/dflt');
	is($g->{status}, 200, 'new resource routable at once');
	is($g->{body}, '', 'new resource: empty list');
	my $x = want($A->delete("/admin/resources/$dflt->{id}"), 200, 'DELETE resource');
	is_deeply($x, $dflt, 'DELETE answers the deleted resource');
	is($A->get("/admin/resources/$dflt->{id}")->{status}, 404, 'deleted resource: 404');
	is($pc->get('/tns/dflt')->{status}, 404, 'deleted resource unroutable');
	is($A->delete("/admin/participants/$p->{id}")->{status}, 200, 'DELETE prober');
}

# ---------------------------------------------------------------- participants
my ($p1, $p2);
{
	my $r = $A->post('/admin/participants', json => {
	    name => 'lms-one', description => 'first lms', dns => 'lms1.example.org',
	    email => 'lms1@example.org', organization_id => $org->{id},
	    community_selfrouting => $F, events => $T, auth_ids => [ 'lms1-a', 'lms1-b' ],
	    communities => [ $c1->{id}, 'C2' ] });
	$p1 = want($r, 201, 'POST participant');
	ok(isnum($p1->{id}), 'participant id');
	is($p1->{name}, 'lms-one', 'name');
	is($p1->{description}, 'first lms', 'description');
	is($p1->{dns}, 'lms1.example.org', 'dns');
	is($p1->{email}, 'lms1@example.org', 'email');
	is($p1->{organization_id}, $org->{id}, 'organization_id');
	ok(jfalse($p1->{community_selfrouting}), 'community_selfrouting false');
	ok(jtrue($p1->{events}), 'events true');
	is($p1->{type}, 'main', 'type main');
	is_deeply([ sort @{ $p1->{auth_ids} || [] } ], [ 'lms1-a', 'lms1-b' ], 'auth_ids');
	my $m = mids_of($p1);
	is_deeply([ sort { $a <=> $b } keys %$m ], [ sort { $a <=> $b } $c1->{id}, $c2->{id} ],
	    'memberships in C1 (by id) and C2 (by name)');
	ok(isnum($m->{ $c1->{id} }) && isnum($m->{ $c2->{id} }), 'mids are numbers');

	$p2 = want($A->post('/admin/participants',
	    json => { name => 'lms-two', organization_id => $org->{id}, auth_ids => ['lms2'] }),
	    201, 'POST minimal participant');
	ok(jfalse($p2->{community_selfrouting}), 'default community_selfrouting false');
	ok(jtrue($p2->{events}), 'default events true');
	is($p2->{type}, 'main', 'default type main');
	is_deeply($p2->{memberships}, [], 'no memberships');
	is_deeply($p2->{auth_ids}, ['lms2'], 'auth_ids of minimal participant');

	# identities work
	for my $id ('lms1-a', 'lms1-b') {
		my $g = $d->as($id)->get('/sys/memberships');
		is($g->{status}, 200, "identity $id authenticates");
		my @cids = sort { $a <=> $b } map { $_->{community}{cid} } @{ $g->{json} || [] };
		is_deeply(\@cids, [ sort { $a <=> $b } $c1->{id}, $c2->{id} ],
		    "identity $id sees both memberships");
	}

	my $l = want($A->get('/admin/participants'), 200, 'GET participants') || [];
	my ($in) = grep { ($_->{id} // 0) == $p1->{id} } @$l;
	is_deeply($in, $p1, 'participant listed as created');
	ok(scalar(grep { ($_->{id} // 0) == $p2->{id} } @$l), 'second participant listed');
	is_deeply(want($A->get("/admin/participants/$p1->{id}"), 200, 'GET participant'), $p1,
	    'show equals create answer');

	# PUT: plain fields
	my $u = want($A->put("/admin/participants/$p1->{id}",
	    json => { description => 'changed', email => 'new@example.org' }), 200, 'PUT participant');
	is($u->{description}, 'changed', 'PUT description');
	is($u->{email}, 'new@example.org', 'PUT email');
	is($u->{dns}, 'lms1.example.org', 'PUT keeps dns');
	is($u->{name}, 'lms-one', 'PUT keeps name');
	is_deeply([ sort @{ $u->{auth_ids} } ], [ 'lms1-a', 'lms1-b' ], 'PUT keeps auth_ids');
	is_deeply(mids_of($u), $m, 'PUT keeps memberships (same mids)');

	# PUT: auth_ids replace the set
	$u = want($A->put("/admin/participants/$p1->{id}", json => { auth_ids => [ 'lms1-b', 'lms1-c' ] }),
	    200, 'PUT auth_ids');
	is_deeply([ sort @{ $u->{auth_ids} } ], [ 'lms1-b', 'lms1-c' ], 'auth_ids replaced');
	is($d->as('lms1-a')->get('/sys/memberships')->{status}, 401, 'removed identity stops working');
	is($d->as('lms1-c')->get('/sys/memberships')->{status}, 200, 'added identity works');
	is($d->as('lms1-b')->get('/sys/memberships')->{status}, 200, 'kept identity works');

	# PUT: communities replace the set (names or ids)
	$u = want($A->put("/admin/participants/$p1->{id}", json => { communities => ['C2'] }),
	    200, 'PUT communities');
	my $m2 = mids_of($u);
	is_deeply([ keys %$m2 ], [ $c2->{id} ], 'only C2 left');
	is($m2->{ $c2->{id} }, $m->{ $c2->{id} }, 'kept membership keeps its mid');
	my $g = $d->as('lms1-b')->get('/sys/memberships');
	is_deeply([ map { $_->{community}{cid} } @{ $g->{json} || [] } ], [ $c2->{id} ],
	    '/sys/memberships follows the PUT');
	$u = want($A->put("/admin/participants/$p1->{id}", json => { communities => [ $c1->{id}, $c2->{id} ] }),
	    200, 'PUT communities back');
	is(scalar(keys %{ mids_of($u) }), 2, 'two memberships again');

	# PUT: switches show up in /sys/configs
	$u = want($A->put("/admin/participants/$p1->{id}", json => { events => $F, community_selfrouting => $T }),
	    200, 'PUT switches');
	ok(jfalse($u->{events}), 'events false');
	ok(jtrue($u->{community_selfrouting}), 'community_selfrouting true');
	my $cf = $d->as('lms1-b')->get('/sys/configs')->{json} || {};
	ok(jfalse($cf->{participant_events}), '/sys/configs participant_events false after PUT');
	ok(jtrue($cf->{selfrouting}), '/sys/configs selfrouting true after PUT');
	$u = want($A->put("/admin/participants/$p1->{id}", json => { events => $T, community_selfrouting => $F }),
	    200, 'PUT switches back');

	# PUT: organization; visible in /sys/memberships
	$u = want($A->put("/admin/participants/$p1->{id}", json => { organization_id => $org2->{id} }),
	    200, 'PUT organization_id');
	is($u->{organization_id}, $org2->{id}, 'organization changed');
	$g = $d->as('lms2')->get('/sys/memberships');	# p2 has no memberships yet
	is($g->{status}, 200, 'member without memberships: 200');
	$g = $d->as('lms1-b')->get('/sys/memberships');
	my ($me) = grep { jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @{ $g->{json} || [] };
	is($me && $me->{org}{name}, 'Other Org', '/sys/memberships shows the new organization');

	# changes from the config endpoint are visible to the admin
	$d->as('lms2')->post('/sys/configs', json => { selfrouting => $T });
	my $s = $A->get("/admin/participants/$p2->{id}")->{json} || {};
	ok(jtrue($s->{community_selfrouting}), 'POST /sys/configs visible in admin participant');
	$d->as('lms2')->post('/sys/configs', json => { selfrouting => $F });
	$p1 = $A->get("/admin/participants/$p1->{id}")->{json};
}

# ---------------------------------------------------------------- memberships
my $mid_pr_global;
{
	# postrouted message sent to C1 by community before p2 joins
	my $pr = want($A->post('/admin/resources',
	    json => { namespace => 'tns', name => 'pr', postroute => $T, events => $T }),
	    201, 'POST postrouted resource with events');
	my $s1 = $d->as('lms1-b');
	my $s2 = $d->as('lms2');
	my $mid_pr = send_msg($s1, '/tns/pr', 'postrouted', comms => 'C1');
	$mid_pr_global = $mid_pr;
	ok($mid_pr, 'message addressed to C1 by community');
	# non-postrouted message with a community record for C1 (Q-38)
	my $mid_np = send_msg($s1, '/tns/items', 'not postrouted', comms => 'C1');
	ok($mid_np, 'non-postrouted message addressed to C1 by community');

	my $r = $A->post('/admin/memberships',
	    json => { participant_id => $p2->{id}, community_id => $c1->{id} });
	my $ms = want($r, 201, 'POST membership');
	ok(isnum($ms->{id}), 'membership id');
	is($ms->{participant_id}, $p2->{id}, 'membership participant_id');
	is($ms->{community_id}, $c1->{id}, 'membership community_id');
	my $p = $A->get("/admin/participants/$p2->{id}")->{json} || {};
	is_deeply($p->{memberships}, [ { mid => $ms->{id}, community_id => $c1->{id} } ],
	    'participant shows the new membership');

	$r = $A->post('/admin/memberships',
	    json => { participant_id => $p2->{id}, community_id => $c1->{id} });
	ok($r->{status} == 409 || $r->{status} == 400,
	    'duplicate membership refused with 409 (or 400) (spec 2.5)') or diag("$r->{status} $r->{body}");
	$p = $A->get("/admin/participants/$p2->{id}")->{json} || {};
	is(scalar(@{ $p->{memberships} || [] }), 1, 'still one membership');

	# postrouting (spec 9, 13.2)
	is_deeply(uri_list($s2, '/tns/pr'), ["pr/$mid_pr"], 'postrouted message delivered on join');
	is_deeply(uri_list($s2, '/tns/items'), [], 'non-postrouted message not delivered on join');
	is_deeply(events($s2), ["tns/pr/$mid_pr created"], 'created event for the postrouted message');
	my $g = $s2->get("/tns/pr/$mid_pr");
	is($g->{status}, 200, 'new member reads postrouted message');
	is($g->{body}, 'postrouted', 'body');

	# a message addressed to the new mid directly
	my $mid_d = send_msg($s1, '/tns/items', 'direct', mids => $ms->{id});
	ok($mid_d, 'message to the new mid');
	is_deeply(uri_list($s2, '/tns/items'), ["items/$mid_d"], 'received');

	# DELETE membership: links removed, destroyed events (13.2, incl. Q-38)
	my $x = want($A->delete("/admin/memberships/$ms->{id}"), 200, 'DELETE membership');
	is_deeply($x, $ms, 'DELETE answers the membership');
	$p = $A->get("/admin/participants/$p2->{id}")->{json} || {};
	is_deeply($p->{memberships}, [], 'membership gone from participant');
	is_deeply(uri_list($s2, '/tns/items'), [], 'links of the membership removed');
	is_deeply(uri_list($s2, '/tns/pr'), [], 'postrouted link removed');
	is($s2->get("/tns/items/$mid_d")->{status}, 403, 'former receiver: 403 on show');
	my @ev = @{ events($s2) };
	my %ev = map { $_ => 1 } @ev;
	ok($ev{"tns/pr/$mid_pr destroyed"}, 'destroyed event for postrouted message') or diag("@ev");
	ok($ev{"tns/items/$mid_d destroyed"}, 'destroyed event for directly addressed message')
	    or diag("@ev");
	ok($ev{"tns/items/$mid_np destroyed"},
	    'destroyed event for message with a community record never received (13.2, Q-38)')
	    or diag("@ev");
	is($A->delete("/admin/memberships/$ms->{id}")->{status}, 404, 'second DELETE membership: 404');
	is($s1->get("/tns/items/$mid_d")->{status}, 200, 'sender still sees its message');
	$s2->post('/sys/events/fifo?count=-1');
}

# ---------------------------------------------------------------- reset
{
	my $R = want($A->post('/admin/participants', json => { name => 'resetme',
	    organization_id => $org->{id}, auth_ids => ['resetme'], communities => ['C1'] }),
	    201, 'POST participant to reset');
	my $X = want($A->post('/admin/participants', json => { name => 'rx',
	    organization_id => $org->{id}, auth_ids => ['rx'], communities => ['C1'] }),
	    201, 'POST rx');
	my $Y = want($A->post('/admin/participants', json => { name => 'ry',
	    organization_id => $org->{id}, auth_ids => ['ry'], communities => ['C1'] }),
	    201, 'POST ry');
	my ($rm, $xm, $ym) = map { mids_of($_)->{ $c1->{id} } } $R, $X, $Y;
	my ($cr, $cx, $cy) = map { $d->as($_) } qw(resetme rx ry);

	my $m_in = send_msg($cx, '/tns/items', 'to R and Y', mids => "$rm,$ym");
	my $m_out = send_msg($cr, '/tns/items', 'from R to X', mids => $xm);
	my $m_self = send_msg($cr, '/tns/items', 'R to R and Y', mids => "$rm,$ym");
	ok($m_in && $m_out && $m_self, 'messages sent');
	is_deeply([ grep { m{^tns/items/} } @{ events($cr) } ],
	    [ "tns/items/$m_in created", "tns/items/$m_self created" ],
	    'R has two created events for tns/items before reset');
	is_deeply(uri_list($cr, '/tns/pr'), ["pr/$mid_pr_global"],
	    'R got the postrouted C1 message when it joined');

	my $r = $A->post("/admin/participants/$R->{id}/reset");
	my $after = want($r, 200, 'POST reset');
	is($after->{id}, $R->{id}, 'reset answers the participant');
	is($after->{name}, 'resetme', 'reset answer has the name');

	is_deeply(uri_list($cr, '/tns/items'), [], 'R receives nothing after reset');
	is_deeply(uri_list($cr, '/tns/pr'), [], 'R\'s postrouted message dropped by reset');
	is($cx->get("/tns/pr/$mid_pr_global")->{status}, 200, 'it still exists for another receiver');
	is_deeply(uri_list($cr, '/tns/items?sender=true'), [], 'R has sent nothing after reset');
	my $f = $cr->get('/tns/items/fifo');
	is($f->{status}, 200, 'R fifo 200');
	is($f->{body}, '', 'R fifo empty');
	is_deeply(events($cr), [], 'R events gone');
	is($cr->get("/tns/items/$m_in")->{status}, 403, 'received message no longer R\'s');
	is($cx->get("/tns/items/$m_in")->{status}, 200, 'received message still exists for its sender');
	is_deeply(uri_list($cy, '/tns/items'), [ "items/$m_in" ],
	    'other receiver keeps the message R received; R\'s sent one is gone');
	is($cx->get("/tns/items/$m_out")->{status}, 404, 'R\'s sent message gone for receiver');
	is($cy->get("/tns/items/$m_self")->{status}, 404, 'R\'s self-addressed message gone');
	my %evx = map { $_ => 1 } @{ events($cx) };
	ok($evx{"tns/items/$m_out destroyed"}, 'receiver of R\'s message gets destroyed');
	my %evy = map { $_ => 1 } @{ events($cy) };
	ok($evy{"tns/items/$m_self destroyed"}, 'other receiver of R\'s message gets destroyed');
	ok(!$evy{"tns/items/$m_in destroyed"}, 'no destroyed for the message R only received');
	is($cr->get('/sys/memberships')->{status}, 200, 'R\'s identity still works');
	is_deeply(mids_of($A->get("/admin/participants/$R->{id}")->{json} || {}), { $c1->{id} => $rm },
	    'R keeps its membership');
	is($A->post('/admin/participants/999999/reset')->{status}, 404, 'reset unknown: 404');
}

# ---------------------------------------------------------------- apply / export
if (!Ecsd::external()) {	# needs fresh daemons
	my $d2 = Ecsd->start;
	my $A2 = $d2->admin;
	my $doc = {
	    organizations => [ { name => 'Apply Org', abbr => 'AO', description => 'ao' },
		{ name => "Universit\x{e4}t X", abbr => 'UX', description => '' } ],
	    communities => [ { name => 'ac1', description => 'first' },
		{ name => 'ac2', description => 'second' } ],
	    resources => [ { namespace => 'ans', name => 'one', postroute => $F, events => $T },
		{ namespace => 'ans', name => 'two', postroute => $T, events => $F } ],
	    participants => [
		{ name => 'ap1', description => 'd1', dns => 'ap1.example', email => 'ap1@example',
		  organization => 'Apply Org', community_selfrouting => $F, events => $T,
		  auth_ids => [ 'ap1-id', 'ap1-id2' ], communities => [ 'ac1', 'ac2', 'public' ] },
		{ name => 'ap2', description => '', dns => '', email => '',
		  organization => "Universit\x{e4}t X", community_selfrouting => $T, events => $F,
		  auth_ids => ['ap2-id'], communities => ['ac1'] } ],
	};
	my $r = $A2->post('/admin/apply', json => $doc);
	is_deeply(want($r, 200, 'apply'),
	    { organizations => 2, communities => 2, resources => 2, participants => 2 },
	    'apply counts created objects');
	my %before = map { $_ => scalar(@{ $A2->get("/admin/$_")->{json} || [] }) }
	    qw(organizations communities resources participants);
	$r = $A2->post('/admin/apply', json => $doc);
	is_deeply(want($r, 200, 'apply again'),
	    { organizations => 0, communities => 0, resources => 0, participants => 0 },
	    'second apply creates nothing');
	my %after = map { $_ => scalar(@{ $A2->get("/admin/$_")->{json} || [] }) }
	    qw(organizations communities resources participants);
	is_deeply(\%after, \%before, 'object counts unchanged by the second apply');

	my $g = $d2->as('ap1-id2')->get('/sys/memberships');
	is($g->{status}, 200, 'applied participant authenticates');
	is_deeply([ sort map { $_->{community}{name} } @{ $g->{json} || [] } ],
	    [ 'ac1', 'ac2', 'public' ], 'applied memberships');
	my $cf = $d2->as('ap2-id')->get('/sys/configs')->{json} || {};
	ok(jtrue($cf->{selfrouting}), 'applied community_selfrouting');
	ok(jfalse($cf->{participant_events}), 'applied events false');
	ok(jfalse($cf->{resource_events}{'/ans/two'}), 'applied resource events false');
	is($d2->as('ap1-id')->get('/ans/two')->{status}, 200, 'applied resource routable');

	# update in place, add one
	my %doc2 = %$doc;
	$doc2{communities} = [ { name => 'ac1', description => 'first, updated' },
	    { name => 'ac2', description => 'second' }, { name => 'ac3', description => 'new' } ];
	$r = $A2->post('/admin/apply', json => \%doc2);
	is_deeply(want($r, 200, 'apply with changes'),
	    { organizations => 0, communities => 1, resources => 0, participants => 0 },
	    'only the new community is created');
	my ($ac1) = grep { $_->{name} eq 'ac1' } @{ $A2->get('/admin/communities')->{json} || [] };
	is($ac1 && $ac1->{description}, 'first, updated', 'existing community updated in place');

	my $e = want($A2->get('/admin/export'), 200, 'export');
	is(ref $e, 'HASH', 'export is an object');
	for my $k (qw(organizations communities resources participants)) {
		is(ref $e->{$k}, 'ARRAY', "export has $k array");
	}
	my @on = map { $_->{name} } @{ $e->{organizations} || [] };
	ok(!grep({ $_ eq 'system' || $_ eq 'not available' } @on), 'seed organizations not exported');
	ok(!grep({ $_->{name} eq 'public' } @{ $e->{communities} || [] }), 'public not exported');
	ok(!grep({ $_->{name} eq 'ecs' } @{ $e->{participants} || [] }), 'participant ecs not exported');
	ok(!grep({ $_->{namespace} eq 'sys' } @{ $e->{resources} || [] }), 'sys/auths not exported');
	my ($ep1) = grep { $_->{name} eq 'ap1' } @{ $e->{participants} || [] };
	is($ep1 && $ep1->{organization}, 'Apply Org', 'export names the organization');
	is_deeply([ sort @{ $ep1 ? $ep1->{communities} : [] } ], [ 'ac1', 'ac2', 'public' ],
	    'export names the communities');
	is_deeply([ sort @{ $ep1 ? $ep1->{auth_ids} : [] } ], [ 'ap1-id', 'ap1-id2' ], 'export auth_ids');

	# round trip into a fresh daemon
	my $d3 = Ecsd->start;
	my $n = sub { scalar @{ $e->{ $_[0] } || [] } };
	$r = $d3->admin->post('/admin/apply', json => $e);
	is_deeply(want($r, 200, 'apply export to a fresh daemon'),
	    { map { $_ => $n->($_) } qw(organizations communities resources participants) },
	    'fresh daemon creates everything exported');
	my $e3 = want($d3->admin->get('/admin/export'), 200, 'export of the fresh daemon');
	my $canon = sub {
		my ($doc) = @_;
		my %c;
		for my $k (qw(organizations communities participants)) {
			$c{$k} = [ sort { $a->{name} cmp $b->{name} } @{ $doc->{$k} || [] } ];
		}
		$c{resources} = [ sort { "$a->{namespace}/$a->{name}" cmp "$b->{namespace}/$b->{name}" }
		    @{ $doc->{resources} || [] } ];
		for my $p (@{ $c{participants} }) {
			$p = { %$p };
			$p->{$_} = [ sort @{ $p->{$_} || [] } ] for qw(auth_ids communities);
		}
		return Ecsd::json_encode(\%c);
	};
	is($canon->($e3), $canon->($e), 'export of the fresh daemon equals the original export');
	is($d3->as('ap1-id')->get('/sys/memberships')->{status}, 200,
	    'identities survive the round trip');
	$d3->stop_ok('ecsd (round trip)');
	$d2->stop_ok('ecsd (apply)');
}

# ---------------------------------------------------------------- names that look like ids
{
	my $cn = want($A->post('/admin/communities', json => { name => '4242', description => 'digits' }),
	    201, 'POST community named 4242');
	my $p = want($A->post('/admin/participants', json => { name => 'digit-member',
	    organization_id => $org->{id}, auth_ids => ['digit-member'], communities => ['4242'] }),
	    201, 'POST participant with communities ["4242"]');
	is_deeply([ map { $_->{community_id} } @{ $p->{memberships} || [] } ], [ $cn->{id} ],
	    'a string in communities is a name, even if it is all digits');
	my $r = $A->post('/admin/participants', json => { name => 'digit-member2',
	    organization_id => $org->{id}, communities => [4242] });
	ok($r->{status} == 400 || $r->{status} == 404 || ($cn->{id} == 4242 && $r->{status} == 201),
	    'a number in communities is an id') or diag("$r->{status} $r->{body}");
}

# ---------------------------------------------------------------- apply updates in place
{
	my $r = $A->post('/admin/apply', json => { resources => [
	    { namespace => 'tns', name => 'items', postroute => $T, events => $F } ] });
	is_deeply(want($r, 200, 'apply an existing resource'),
	    { organizations => 0, communities => 0, resources => 0, participants => 0 }, 'nothing created');
	my $s = want($A->get("/admin/resources/$res->{id}"), 200, 'GET the resource');
	ok(jtrue($s->{postroute}) && jfalse($s->{events}), 'resource flags updated in place');
	is($s->{id}, $res->{id}, 'same id');
	my $cf = $d->as('lms1-b')->get('/sys/configs')->{json} || {};
	ok(jfalse($cf->{resource_events}{'/tns/items'}), '/sys/configs shows the new events flag');
	$r = $A->post('/admin/apply', json => { participants => [ { name => 'lms-one',
	    organization => 'Test Org', description => 'applied', auth_ids => ['lms1-b'],
	    communities => [ 'C1', 'C2' ] } ] });
	is_deeply(want($r, 200, 'apply an existing participant'),
	    { organizations => 0, communities => 0, resources => 0, participants => 0 }, 'nothing created');
	my $pp = want($A->get("/admin/participants/$p1->{id}"), 200, 'GET the participant');
	is($pp->{description}, 'applied', 'participant updated in place');
	is($pp->{organization_id}, $org->{id}, 'organization updated in place');
	is($pp->{id}, $p1->{id}, 'same id');
	is($d->as('lms1-b')->get('/sys/memberships')->{status}, 200, 'identity still works');
}

# ---------------------------------------------------------------- participant DELETE
{
	my $x = want($A->delete("/admin/participants/$p2->{id}"), 200, 'DELETE participant');
	is($x->{id}, $p2->{id}, 'DELETE answers the participant');
	is($x->{name}, 'lms-two', 'DELETE answer has the name');
	is($A->get("/admin/participants/$p2->{id}")->{status}, 404, 'deleted participant: 404');
	is($d->as('lms2')->get('/sys/memberships')->{status}, 401, 'identity of deleted participant: 401');
	my $l = $A->get('/admin/participants')->{json} || [];
	ok(!grep({ ($_->{id} // 0) == $p2->{id} } @$l), 'deleted participant not listed');
	# its name and auth id are free again
	want($A->post('/admin/participants',
	    json => { name => 'lms-two', organization_id => $org->{id}, auth_ids => ['lms2'] }),
	    201, 'name and auth id reusable after DELETE');
}

# ---------------------------------------------------------------- organization DELETE cascades
{
	my $o = want($A->post('/admin/organizations', json => { name => 'Doomed', abbr => 'DD', description => '' }),
	    201, 'POST org to delete');
	my $p = want($A->post('/admin/participants',
	    json => { name => 'doomed-p', organization_id => $o->{id}, auth_ids => ['doomed-p'] }),
	    201, 'POST participant of that org');
	is($d->as('doomed-p')->get('/sys/memberships')->{status}, 200, 'works before');
	is($A->delete("/admin/organizations/$o->{id}")->{status}, 200, 'DELETE organization');
	is($A->get("/admin/participants/$p->{id}")->{status}, 404, 'its participant is deleted');
	is($d->as('doomed-p')->get('/sys/memberships')->{status}, 401, 'its identities stop working');
}

$d->stop_ok;
done_testing;
