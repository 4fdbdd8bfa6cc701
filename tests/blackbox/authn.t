#!/usr/bin/perl
# Authentication (spec 4.1, 3.3, 3.6) and the access configuration of
# HACKING.md: trusted_proxies, admin_allow, admin_password,
# ECSD_ADMIN_PASSWORD and <datadir>/admin.secret.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use MIME::Base64 ();
use Ecsd;

sub basic { my ($pw) = @_; return 'Basic ' . MIME::Base64::encode_base64("admin:$pw", '') }

# a protocol 401 with the exact spec text, no WWW-Authenticate
sub e401 {
	my ($r, $text, $name) = @_;
	is($r->{status}, 401, "$name: 401");
	is($r->{body}, "$text\n", "$name: text");
	ok(!exists $r->{headers}{'www-authenticate'}, "$name: no WWW-Authenticate");
	like($r->{headers}{'content-type'} // '', qr{^text/html}i, "$name: text/html (spec 3.3)");
}

my $d = Ecsd->start;
my $A = $d->admin;
$d->fixture_spec;

# ---------------------------------------------------------------- 4.1 texts
{
	my $c = $d->client;
	e401($c->get('/sys/events'), 'No "X-EcsAuthId" http header', 'no header');
	e401($c->get('/numlab/exercises'), 'No "X-EcsAuthId" http header', 'no header (resource)');
	e401($c->post('/numlab/exercises', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '1' }), 'No "X-EcsAuthId" http header',
	    'no header (create)');
	e401($c->get('/sys/events', headers => { 'X-EcsAuthId' => '' }), 'No "X-EcsAuthId" http header',
	    'empty header');
	e401($c->get('/sys/events', headers => { 'X-EcsAuthId' => '   ' }), 'No "X-EcsAuthId" http header',
	    'blank header');
	e401($d->as('nobody')->get('/sys/events'), 'No "X-EcsAuthId: nobody" identity found',
	    'unknown identity');
	e401($d->as('MYID')->get('/sys/memberships'), 'No "X-EcsAuthId: MYID" identity found',
	    'identities are case-sensitive');
	is($d->as('myid ')->get('/sys/configs')->{status}, 200,
	    'trailing blank is not part of the header value (RFC 7230 OWS)');
	e401($d->as('ulama')->get('/sys/events', headers => { 'X-EcsAuthId' => 'ulamax' }),
	    'No "X-EcsAuthId: ulamax" identity found', 'explicit header wins');
	my $adm = $c->get('/sys/events', headers => { Authorization => basic($d->password) });
	is($adm->{status}, 401, 'admin credentials do not authenticate the protocol');
	is($adm->{body}, "Invalid credentials for \"admin\"\n", 'they are Basic credentials of no identity');
	like($adm->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, 'with a Basic challenge');
	e401($c->get('/sys/events', headers => { Cookie => 'ecs_anonymous=abc; other=1' }),
	    'No "X-EcsAuthId" http header', 'anonymous cookie ignored while anonymous is disabled');
	e401($c->get('/sys/events', headers => { Cookie => 'ecs_subparticipant=nosuch' }),
	    'No valid identity found for subparticipant cookie: nosuch', 'unknown subparticipant cookie');
	e401($c->get('/sys/events', headers => { Cookie => 'ecs_subparticipant=ulama' }),
	    'Subparticipant-Cookie: ulama" is not assigned any subparticipant',
	    'subparticipant cookie naming a main participant');

	for my $id (qw(my_secret_identity myid ulama sunito trulane)) {
		is($d->as($id)->get('/sys/events')->{status}, 200, "$id authenticates");
	}
	my $r = $d->as('ulama')->get('/sys/events');
	ok(!exists $r->{headers}{'set-cookie'}, 'no Set-Cookie for main participants');

	# routing before authentication (3.6)
	is($c->get('/no/such/resource')->{status}, 404, 'unknown path without credentials: 404');
	is($c->get('/nosuch')->{status}, 404, 'unknown top path without credentials: 404');
	is($c->post('/sys/events')->{status}, 405, 'wrong method without credentials: 405');
	is($c->delete('/sys/configs')->{status}, 405, 'DELETE /sys/configs without credentials: 405');

	# a deleted identity stops working at once
	my $p = $A->post('/admin/participants', json => { name => 'temp',
	    organization_id => $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id}, auth_ids => ['temp-id'] });
	is($p->{status}, 201, 'temp participant');
	is($d->as('temp-id')->get('/sys/events')->{status}, 200, 'temp identity works');
	$A->put("/admin/participants/$p->{json}{id}", json => { auth_ids => ['temp-id2'] });
	e401($d->as('temp-id')->get('/sys/events'), 'No "X-EcsAuthId: temp-id" identity found',
	    'replaced identity');
	is($d->as('temp-id2')->get('/sys/events')->{status}, 200, 'new identity works');
}
$d->stop_ok('ecsd (main)');
if (Ecsd::external()) {	# the rest needs daemons of its own
	done_testing;
	exit 0;
}

# ---------------------------------------------------------------- trusted_proxies
{
	my $t = Ecsd->start(conf => { trusted_proxies => '192.0.2.1' });
	$t->fixture_spec;
	my $r = $t->as('ulama')->get('/sys/memberships');
	is($r->{status}, 401, 'X-EcsAuthId from an untrusted address: 401');
	ok(!exists $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate');
	is($t->as('ulama')->get('/numlab/exercises')->{status}, 401, 'also on resources');
	is($t->admin->get('/admin/participants')->{status}, 200, 'admin API unaffected');
	is($t->client->get('/no/such')->{status}, 404, 'routing still works');
	$t->stop_ok('ecsd (trusted_proxies = 192.0.2.1)');

	$t = Ecsd->start(conf => { trusted_proxies => '192.0.2.0/24, 127.0.0.0/8' });
	$t->fixture_spec;
	is($t->as('ulama')->get('/sys/memberships')->{status}, 200, 'CIDR 127.0.0.0/8 trusted');
	$t->stop_ok('ecsd (trusted_proxies CIDR)');
}

# ---------------------------------------------------------------- admin_allow
{
	my $t = Ecsd->start(conf => { admin_allow => '192.0.2.1' });
	my $r = $t->admin->get('/admin/participants');
	is($r->{status}, 403, 'admin API from 127.0.0.1 not in admin_allow: 403');
	is($t->admin->post('/admin/organizations', json => { name => 'x', abbr => 'x' })->{status}, 403,
	    'POST too');
	$r = $t->client->get('/admin/participants');
	ok($r->{status} == 403 || $r->{status} == 401, 'without credentials: 403 or 401')
	    or diag("$r->{status} $r->{body}");
	is($t->admin->get('/admin/export')->{status}, 403, 'export too');
	is($t->client->get('/no/such')->{status}, 404, 'protocol routing unaffected');
	$t->stop_ok('ecsd (admin_allow = 192.0.2.1)');

	$t = Ecsd->start(conf => { admin_allow => '10.0.0.0/8, 127.0.0.0/8' });
	is($t->admin->get('/admin/participants')->{status}, 200, 'admin_allow CIDR 127.0.0.0/8: 200');
	$t->stop_ok('ecsd (admin_allow CIDR)');
}

# ---------------------------------------------------------------- admin passwords
{
	# ECSD_ADMIN_PASSWORD wins over admin_password
	my $t = Ecsd->start(conf => { admin_password => 'from-config' },
	    env => { ECSD_ADMIN_PASSWORD => 'from-env' });
	is($t->admin('from-env')->get('/admin/participants')->{status}, 200, 'environment password works');
	is($t->admin('from-config')->get('/admin/participants')->{status}, 401,
	    'config password loses against the environment');
	ok(!-e $t->datadir . '/admin.secret', 'no admin.secret when a password is given');
	$t->stop_ok('ecsd (env password)');

	# admin_password alone
	$t = Ecsd->start(conf => { admin_password => 'from-config' },
	    env => { ECSD_ADMIN_PASSWORD => undef });
	is($t->admin('from-config')->get('/admin/participants')->{status}, 200, 'config password works');
	is($t->admin($Ecsd::ADMIN_PASSWORD)->get('/admin/participants')->{status}, 401,
	    'harness default password refused');
	ok(!-e $t->datadir . '/admin.secret', 'no admin.secret with admin_password');
	$t->stop_ok('ecsd (config password)');

	# neither: admin.secret
	$t = Ecsd->start(env => { ECSD_ADMIN_PASSWORD => undef });
	my $f = $t->datadir . '/admin.secret';
	ok(-f $f, 'admin.secret created');
	my @st = stat $f;
	is(sprintf('%04o', ($st[2] // 0) & 07777), '0600', 'admin.secret mode 0600');
	my $pw = '';
	if (open(my $fh, '<', $f)) { local $/; $pw = <$fh> // ''; close $fh }
	$pw =~ s/\s+\z//;
	ok(length($pw) >= 16, 'admin.secret holds a password of at least 16 characters');
	is($t->admin($pw)->get('/admin/participants')->{status}, 200, 'admin.secret content works');
	is($t->admin('')->get('/admin/participants')->{status}, 401, 'empty password refused');
	is($t->admin($pw . 'x')->get('/admin/participants')->{status}, 401, 'wrong password refused');
	my $dmode = (stat $t->datadir)[2] // 0;
	is(sprintf('%04o', $dmode & 07777), '0700', 'datadir created with mode 0700');

	# the secret is kept across restarts
	$t->restart;
	my $pw2 = '';
	if (open(my $fh, '<', $f)) { local $/; $pw2 = <$fh> // ''; close $fh }
	$pw2 =~ s/\s+\z//;
	is($pw2, $pw, 'admin.secret unchanged after restart');
	is($t->admin($pw)->get('/admin/participants')->{status}, 200, 'still works after restart');
	$t->stop_ok('ecsd (admin.secret)');

	# a second daemon generates a different secret
	my $t2 = Ecsd->start(env => { ECSD_ADMIN_PASSWORD => undef });
	my $pw3 = '';
	if (open(my $fh, '<', $t2->datadir . '/admin.secret')) { local $/; $pw3 = <$fh> // ''; close $fh }
	$pw3 =~ s/\s+\z//;
	isnt($pw3, $pw, 'generated secrets differ between data directories');
	is($t2->admin($pw)->get('/admin/participants')->{status}, 401, 'other daemon\'s secret refused');
	$t2->stop_ok('ecsd (second admin.secret)');
}

done_testing;
