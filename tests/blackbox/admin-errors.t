#!/usr/bin/perl
# Admin API errors (HACKING.md "Admin API"): 400 naming the field, 401 with
# WWW-Authenticate, 404 unknown ids, 409 duplicates, 405 wrong methods,
# non-numeric ids never 500; error bodies are one line of text/plain.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use MIME::Base64 ();
use Ecsd;

my $T = JSON::PP::true;
my $F = JSON::PP::false;

# an admin error: status, text/plain, one line
sub err {
	my ($r, $status, $name, $re) = @_;
	is($r->{status}, $status, "$name: $status") or diag("body: $r->{body}");
	like($r->{headers}{'content-type'} // '', qr{^text/plain}i, "$name: text/plain");
	like($r->{body}, qr/\A[^\n]+\n?\z/, "$name: one line of text");
	like($r->{body}, $re, "$name: text names the field") if $re;
}

my $d = Ecsd->start;
my $A = $d->admin;

# ---------------------------------------------------------------- 401
{
	my $c = $d->client;
	my $r = $c->get('/admin/organizations');
	err($r, 401, 'no credentials');
	is($r->{headers}{'www-authenticate'}, 'Basic realm="ecsd admin"', 'WWW-Authenticate on 401');
	$r = $d->admin('wrong-password')->get('/admin/organizations');
	err($r, 401, 'wrong password');
	is($r->{headers}{'www-authenticate'}, 'Basic realm="ecsd admin"', 'WWW-Authenticate (wrong pw)');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Basic ' .
	    MIME::Base64::encode_base64('root:' . $d->password, '') });
	err($r, 401, 'wrong user name');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Bearer ' . $d->password });
	err($r, 401, 'not Basic');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Basic !!!notbase64' });
	err($r, 401, 'garbage Basic');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Basic ' .
	    MIME::Base64::encode_base64('admin', '') });
	err($r, 401, 'Basic without colon');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Basic ' .
	    MIME::Base64::encode_base64('admin:' . $d->password . 'x', '') });
	err($r, 401, 'password with extra char');
	$r = $c->get('/admin/organizations', headers => { Authorization => 'Basic ' .
	    MIME::Base64::encode_base64('admin:' . substr($d->password, 0, -1), '') });
	err($r, 401, 'password prefix');
	$r = $d->as('anyone')->get('/admin/organizations');
	err($r, 401, 'X-EcsAuthId does not open the admin API');
	for my $w ([POST => '/admin/organizations'], [DELETE => '/admin/organizations/1'],
	    [POST => '/admin/apply'], [GET => '/admin/export'],
	    [POST => '/admin/participants/1/reset']) {
		my $r = $c->request($w->[0], $w->[1], json => { name => 'x' });
		is($r->{status}, 401, "$w->[0] $w->[1] without credentials: 401");
	}
	is(scalar(grep { $_->{name} eq 'x' } @{ $A->get('/admin/organizations')->{json} || [] }), 0,
	    'nothing created without credentials');
	is($A->get('/admin/organizations')->{status}, 200, 'right credentials: 200');
}

# ---------------------------------------------------------------- 400 naming the field
my $org = $A->post('/admin/organizations', json => { name => 'E Org', abbr => 'EO', description => '' })->{json};
my $com = $A->post('/admin/communities', json => { name => 'ecom', description => '' })->{json};
ok($org && $org->{id} && $com && $com->{id}, 'setup objects created');
{
	err($A->post('/admin/organizations', json => { abbr => 'NN', description => '' }), 400,
	    'organization without name', qr/name/);
	err($A->post('/admin/organizations', json => { name => 'No Abbr', description => '' }), 400,
	    'organization without abbr', qr/abbr/);
	err($A->post('/admin/organizations', json => { name => '', abbr => 'E1' }), 400,
	    'organization with empty name', qr/name/);
	err($A->post('/admin/organizations', json => { name => [1], abbr => 'E2' }), 400,
	    'organization name not a string', qr/name/);
	err($A->post('/admin/organizations', json => { name => 'Typed', abbr => 'E3', description => 5 }), 400,
	    'organization description not a string', qr/description/);
	err($A->post('/admin/communities', json => { description => 'x' }), 400,
	    'community without name', qr/name/);
	err($A->post('/admin/communities', json => { name => { a => 1 } }), 400,
	    'community name an object', qr/name/);
	err($A->post('/admin/resources', json => { name => 'x' }), 400,
	    'resource without namespace', qr/namespace/);
	err($A->post('/admin/resources', json => { namespace => 'x' }), 400,
	    'resource without name', qr/name/);
	err($A->post('/admin/resources', json => { namespace => 'a/b', name => 'x' }), 400,
	    'resource namespace with a slash', qr/namespace/);
	err($A->post('/admin/resources', json => { namespace => 'ok', name => 'x y' }), 400,
	    'resource name with a space', qr/name/);
	err($A->post('/admin/resources', json => { namespace => 'ok', name => 'xx', postroute => 'yes' }), 400,
	    'resource postroute not a boolean', qr/postroute/);
	err($A->post('/admin/resources', json => { namespace => 'ok', name => 'xx', events => 1 }), 400,
	    'resource events not a boolean', qr/events/);
	err($A->post('/admin/participants', json => { organization_id => $org->{id} }), 400,
	    'participant without name', qr/name/);
	err($A->post('/admin/participants', json => { name => 'no-org' }), 400,
	    'participant without organization', qr/organization/);
	my $r = $A->post('/admin/participants', json => { name => 'bad-org', organization_id => 999999 });
	ok($r->{status} == 400 || $r->{status} == 404, 'participant with unknown organization_id: 400/404')
	    or diag("$r->{status} $r->{body}");
	like($r->{body}, qr/organization/, 'the text names organization');
	err($A->post('/admin/participants', json => { name => 'bad-org2', organization_id => 'x' }), 400,
	    'participant organization_id not a number', qr/organization/);
	err($A->post('/admin/participants', json => { name => 'bad-auth', organization_id => $org->{id},
	    auth_ids => 'single' }), 400, 'auth_ids not an array', qr/auth_ids/);
	err($A->post('/admin/participants', json => { name => 'bad-auth2', organization_id => $org->{id},
	    auth_ids => [''] }), 400, 'empty auth id', qr/auth_id/);
	err($A->post('/admin/participants', json => { name => 'bad-auth3', organization_id => $org->{id},
	    auth_ids => [5] }), 400, 'auth id not a string', qr/auth_id/);
	err($A->post('/admin/participants', json => { name => 'bad-com', organization_id => $org->{id},
	    communities => ['no-such-community'] }), 400, 'unknown community name', qr/communit/);
	$r = $A->post('/admin/participants', json => { name => 'bad-com2', organization_id => $org->{id},
	    communities => [999999] });
	ok($r->{status} == 400 || $r->{status} == 404, 'unknown community id: 400/404')
	    or diag("$r->{status} $r->{body}");
	err($A->post('/admin/participants', json => { name => 'bad-com3', organization_id => $org->{id},
	    communities => 'ecom' }), 400, 'communities not an array', qr/communities/);
	err($A->post('/admin/participants', json => { name => 'bad-ev', organization_id => $org->{id},
	    events => 'no' }), 400, 'participant events not a boolean', qr/events/);
	err($A->post('/admin/participants', json => { name => 'bad-sr', organization_id => $org->{id},
	    community_selfrouting => 1 }), 400, 'community_selfrouting not a boolean',
	    qr/community_selfrouting/);
	my $names = join ' ', map { $_->{name} } @{ $A->get('/admin/participants')->{json} || [] };
	unlike($names, qr/bad-|no-org/, 'no participant was created by a failing POST');

	err($A->post('/admin/memberships', json => { community_id => $com->{id} }), 400,
	    'membership without participant_id', qr/participant_id/);
	my $p = $A->post('/admin/participants', json => { name => 'good-p', organization_id => $org->{id},
	    auth_ids => ['good-p'] })->{json} || {};
	err($A->post('/admin/memberships', json => { participant_id => $p->{id} }), 400,
	    'membership without community_id', qr/community_id/);
	$r = $A->post('/admin/memberships', json => { participant_id => 999999, community_id => $com->{id} });
	ok($r->{status} == 400 || $r->{status} == 404, 'membership for unknown participant: 400/404');
	$r = $A->post('/admin/memberships', json => { participant_id => $p->{id}, community_id => 999999 });
	ok($r->{status} == 400 || $r->{status} == 404, 'membership in unknown community: 400/404');
	is_deeply(($A->get("/admin/participants/$p->{id}")->{json} || {})->{memberships}, [],
	    'no membership was created');

	# bodies that are not a JSON object
	for my $b ('', 'not json', '[1,2]', '"str"', '{"name":', "{\"name\":\"a\"} trailing") {
		my $r = $A->post('/admin/organizations', body => $b, ctype => 'application/json');
		is($r->{status}, 400, "organization body '$b': 400") or diag($r->{body});
	}
	for my $route (qw(communities resources participants memberships apply)) {
		my $r = $A->post("/admin/$route", body => '{bad', ctype => 'application/json');
		is($r->{status}, 400, "POST /admin/$route bad JSON: 400");
	}
	$r = $A->put("/admin/organizations/$org->{id}", body => '{bad', ctype => 'application/json');
	is($r->{status}, 400, 'PUT bad JSON: 400');
	$r = $A->put("/admin/organizations/$org->{id}", json => { name => '' });
	err($r, 400, 'PUT empty name', qr/name/);
	is(($A->get("/admin/organizations/$org->{id}")->{json} || {})->{name}, 'E Org',
	    'failed PUT changed nothing');
	$r = $A->put("/admin/participants/$p->{id}", json => { auth_ids => [ 'ok-1', '' ] });
	is($r->{status}, 400, 'PUT participant with an empty auth id: 400');
	is($d->as('good-p')->get('/sys/memberships')->{status}, 200, 'failed PUT kept the old identity');
	is($d->as('ok-1')->get('/sys/memberships')->{status}, 401, 'failed PUT added no identity');

	# more PUT validation
	err($A->put("/admin/participants/$p->{id}", json => { name => '' }), 400,
	    'PUT participant empty name', qr/name/);
	$r = $A->put("/admin/participants/$p->{id}", json => { organization_id => 999999 });
	ok($r->{status} == 400 || $r->{status} == 404, 'PUT participant unknown organization_id: 400/404')
	    or diag("$r->{status} $r->{body}");
	err($A->put("/admin/participants/$p->{id}", json => { events => 'no' }), 400,
	    'PUT participant events not a boolean', qr/events/);
	err($A->put("/admin/participants/$p->{id}", json => { communities => ['no-such-community'] }), 400,
	    'PUT participant unknown community', qr/communit/);
	err($A->put("/admin/communities/$com->{id}", json => { name => '' }), 400,
	    'PUT community empty name', qr/name/);
	err($A->put("/admin/organizations/$org->{id}", json => { abbr => '' }), 400,
	    'PUT organization empty abbr', qr/abbr/);
	my $pp = $A->get("/admin/participants/$p->{id}")->{json} || {};
	is($pp->{name}, 'good-p', 'failed PUTs left the participant name');
	is($pp->{organization_id}, $org->{id}, 'failed PUTs left the organization');
	is_deeply($pp->{memberships}, [], 'failed PUTs left the memberships');

	# the same community twice
	$r = $A->post('/admin/participants', json => { name => 'twice', organization_id => $org->{id},
	    auth_ids => ['twice'], communities => [ $com->{id}, 'ecom', $com->{id} ] });
	ok($r->{status} == 201 || $r->{status} == 400, 'a community listed twice: 201 or 400')
	    or diag("$r->{status} $r->{body}");
	if ($r->{status} == 201) {
		is(scalar @{ $r->{json}{memberships} || [] }, 1, 'a community listed twice: one membership');
	} else {
		like($r->{body}, qr/communit/, 'the 400 names communities');
	}
	$r = $A->post('/admin/participants', json => { name => 'twice-id', organization_id => $org->{id},
	    auth_ids => [ 'same-id', 'same-id' ] });
	ok($r->{status} == 201 || $r->{status} == 400 || $r->{status} == 409,
	    'an auth id listed twice: 201, 400 or 409') or diag("$r->{status} $r->{body}");

	# apply with broken references
	$r = $A->post('/admin/apply', json => { participants => [ { name => 'ap-x',
	    organization => 'No Such Org', auth_ids => ['ap-x'] } ] });
	is($r->{status}, 400, 'apply: participant of unknown organization: 400') or diag($r->{body});
	like($r->{body}, qr/organization|No Such Org/, 'the text names the organization');
	$r = $A->post('/admin/apply', json => { organizations => 'x' });
	is($r->{status}, 400, 'apply: organizations not an array: 400');
	$r = $A->post('/admin/apply', json => { communities => [ { description => 'no name' } ] });
	is($r->{status}, 400, 'apply: community without name: 400');
	is($d->as('ap-x')->get('/sys/memberships')->{status}, 401, 'failed apply created no participant');
	$r = $A->post('/admin/apply', json => {
	    organizations => [ { name => 'Apply New Org', abbr => 'ANO', description => '' } ],
	    participants => [ { name => 'ap-y', organization => 'Apply New Org', auth_ids => ['good-p'] } ] });
	ok($r->{status} == 409 || $r->{status} == 400, 'apply: identity of another participant: 409/400')
	    or diag("$r->{status} $r->{body}");
	is($d->as('good-p')->get('/sys/memberships')->{status}, 200, 'the identity stays with its owner');
	ok(!grep({ $_->{name} eq 'ap-y' } @{ $A->get('/admin/participants')->{json} || [] }),
	    'the failing participant was not created');
	ok(!grep({ $_->{name} eq 'Apply New Org' } @{ $A->get('/admin/organizations')->{json} || [] }),
	    'a failing apply is atomic: its organization was not created either');
}

# ---------------------------------------------------------------- 404 unknown ids
{
	for my $k (qw(organizations communities resources participants)) {
		err($A->get("/admin/$k/999999"), 404, "GET unknown $k");
		err($A->delete("/admin/$k/999999"), 404, "DELETE unknown $k");
	}
	for my $k (qw(organizations communities participants)) {
		err($A->put("/admin/$k/999999", json => { description => 'x' }), 404, "PUT unknown $k");
	}
	err($A->post('/admin/participants/999999/reset'), 404, 'reset unknown participant');
	err($A->delete('/admin/memberships/999999'), 404, 'DELETE unknown membership');
	is($A->get('/admin/nosuch')->{status}, 404, 'unknown admin collection: 404');
	is($A->get('/admin/participants/1/nosuch')->{status}, 404, 'unknown admin subpath: 404');
}

# ---------------------------------------------------------------- non-numeric ids
{
	for my $id ('abc', '1abc', '-1', '0', '1.5', '99999999999999999999999999', '%00', '1%2F2') {
		for my $k (qw(organizations communities resources participants)) {
			my $r = $A->get("/admin/$k/$id");
			ok($r->{status} >= 400 && $r->{status} < 500, "GET /admin/$k/$id: 4xx")
			    or diag("$r->{status} $r->{body}");
		}
		my $r = $A->delete("/admin/memberships/$id");
		ok($r->{status} >= 400 && $r->{status} < 500, "DELETE /admin/memberships/$id: 4xx");
		$r = $A->post("/admin/participants/$id/reset");
		ok($r->{status} >= 400 && $r->{status} < 500, "reset $id: 4xx");
		$r = $A->put("/admin/organizations/$id", json => { description => 'x' });
		ok($r->{status} >= 400 && $r->{status} < 500, "PUT /admin/organizations/$id: 4xx");
	}
	is($A->get('/admin/organizations')->{status}, 200, 'still serving');
}

# ---------------------------------------------------------------- 409 duplicates
{
	# fresh objects: the validation tests above may have renamed the earlier ones
	is($A->post('/admin/organizations', json => { name => 'Dup Org', abbr => 'DO', description => '' })->{status},
	    201, 'organization Dup Org');
	is($A->post('/admin/communities', json => { name => 'dupcom' })->{status}, 201, 'community dupcom');
	err($A->post('/admin/organizations', json => { name => 'Dup Org', abbr => 'E9', description => '' }),
	    409, 'duplicate organization name');
	err($A->post('/admin/organizations', json => { name => 'E Org 2', abbr => 'DO', description => '' }),
	    409, 'duplicate organization abbr');
	err($A->post('/admin/communities', json => { name => 'dupcom' }), 409, 'duplicate community name');
	err($A->post('/admin/communities', json => { name => 'public' }), 409, 'community public exists');
	ok($A->post('/admin/resources', json => { namespace => 'dup', name => 'r' })->{status} == 201,
	    'resource dup/r');
	err($A->post('/admin/resources', json => { namespace => 'dup', name => 'r' }), 409,
	    'duplicate resource');
	is($A->post('/admin/resources', json => { namespace => 'dup', name => 'r2' })->{status}, 201,
	    'same namespace, other name is fine');
	is($A->post('/admin/resources', json => { namespace => 'dup2', name => 'r' })->{status}, 201,
	    'same name, other namespace is fine');
	my $r = $A->post('/admin/resources', json => { namespace => 'sys', name => 'auths' });
	ok($r->{status} == 409 || $r->{status} == 400, 'resource sys/auths: 409 (exists) or 400 (reserved)')
	    or diag("$r->{status} $r->{body}");
	err($A->post('/admin/participants', json => { name => 'good-p', organization_id => $org->{id} }),
	    409, 'duplicate participant name');
	err($A->post('/admin/participants', json => { name => 'other-p', organization_id => $org->{id},
	    auth_ids => ['good-p'] }), 409, 'duplicate auth id');
	is($A->post('/admin/participants', json => { name => 'other-p', organization_id => $org->{id},
	    auth_ids => ['other-p'] })->{status}, 201, 'other-p created');
	my $l = $A->get('/admin/participants')->{json} || [];
	my ($o) = grep { $_->{name} eq 'other-p' } @$l;
	err($A->put("/admin/participants/$o->{id}", json => { name => 'good-p' }), 409,
	    'PUT participant to an existing name');
	err($A->put("/admin/participants/$o->{id}", json => { auth_ids => ['good-p'] }), 409,
	    'PUT participant with an identity of another');
	is($d->as('good-p')->get('/sys/memberships')->{status}, 200, 'identity still belongs to good-p');
	my $c2 = $A->post('/admin/communities', json => { name => 'ecom2' })->{json} || {};
	err($A->put("/admin/communities/$c2->{id}", json => { name => 'dupcom' }), 409,
	    'PUT community to an existing name');
	my $o2 = $A->post('/admin/organizations', json => { name => 'E Org 3', abbr => 'E3X' })->{json} || {};
	err($A->put("/admin/organizations/$o2->{id}", json => { name => 'Dup Org' }), 409,
	    'PUT organization to an existing name');
	is($A->put("/admin/organizations/$o2->{id}", json => { name => 'E Org 3' })->{status}, 200,
	    'PUT organization to its own name is fine');
}

# ---------------------------------------------------------------- 405 wrong methods
{
	for my $w ([DELETE => '/admin/organizations'], [PUT => '/admin/organizations'],
	    [POST => '/admin/organizations/1'], [DELETE => '/admin/communities'],
	    [PUT => '/admin/participants'], [POST => '/admin/participants/1'],
	    [GET => '/admin/participants/1/reset'], [DELETE => '/admin/participants/1/reset'],
	    [GET => '/admin/apply'], [PUT => '/admin/apply'], [POST => '/admin/export'],
	    [DELETE => '/admin/export'], [GET => '/admin/memberships/1'],
	    [PUT => '/admin/memberships/1'], [PUT => '/admin/resources/1']) {
		my $r = $A->request($w->[0], $w->[1], json => {});
		is($r->{status}, 405, "$w->[0] $w->[1]: 405") or diag($r->{body});
	}
}

$d->stop_ok;
done_testing;
