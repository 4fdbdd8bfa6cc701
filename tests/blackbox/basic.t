#!/usr/bin/perl
# HTTP Basic on the protocol routes: identities with passwords set through
# PUT /admin/participants/{id}/password, the 401 texts and
# WWW-Authenticate, unknown users checked against the dummy hash, the
# throttling of repeated failures, and X-EcsAuthId from a trusted proxy
# winning over an Authorization header.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);
use Ecsd;

plan skip_all => 'needs daemons of its own; ECSD_TEST_URL is set' if Ecsd::external();

sub basic { my ($u, $p) = @_; return 'Basic ' . encode_base64("$u:$p", '') }

# A client with only an Authorization header.
sub bclient {
	my ($d, $u, $p) = @_;
	return $d->client(Authorization => basic($u, $p));
}

# The participant that is "itsyou" in a /sys/memberships answer.
sub itsyou {
	my ($r) = @_;
	my %pids;
	for my $m (@{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] }) {
		for my $p (@{ $m->{participants} || [] }) {
			$pids{ $p->{pid} } = 1 if $p->{itsyou};
		}
	}
	my @p = keys %pids;
	return @p == 1 ? $p[0] : @p ? 'several' : undef;
}

# A Basic failure: 401, the exact text, WWW-Authenticate: Basic realm="ecsd".
sub bad_ok {
	my ($r, $user, $name) = @_;
	is($r->{status}, 401, "$name: 401");
	is($r->{body}, "Invalid credentials for \"$user\"\n", "$name: text");
	is($r->{headers}{'www-authenticate'}, 'Basic realm="ecsd"',
	    "$name: WWW-Authenticate: Basic realm=\"ecsd\"");
	like($r->{headers}{'content-type'} // '', qr{^text/(?:plain|html)}, "$name: text");
}

sub warnings_for {
	my ($d, $user) = @_;
	return scalar(grep { /warning: .*Basic authentication of "\Q$user\E" failed/ }
	    split /\n/, $d->log);
}

my $d = Ecsd->start(conf => { log_level => 'debug' });
my $A = $d->admin;
$d->fixture_spec;
my $p1 = $d->pid('P1');
my $p2 = $d->pid('P2');
my $p3 = $d->pid('P3');

# ---- PUT /admin/participants/{id}/password -----------------------------------------

my $r = $A->put("/admin/participants/$p2/password",
    json => { auth_id => 'ulama', password => 'ulm-secret-1' });
is($r->{status}, 200, 'set a password: 200') or diag($r->{body});
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'set a password: JSON');
is_deeply($r->{json}, { id => $p2, auth_id => 'ulama', password => JSON::PP::true },
    'set a password: {"id","auth_id","password":true}');
unlike($r->{body}, qr/ulm-secret-1/, 'the password is not echoed');

$r = $A->put("/admin/participants/$p3/password",
    json => { auth_id => 'sunito', password => '12345678' });
is($r->{status}, 200, 'a password of exactly 8 bytes is accepted');

$r = $A->put("/admin/participants/$p3/password",
    json => { auth_id => 'sunito', password => '1234567' });
is($r->{status}, 400, 'a password of 7 bytes: 400');
like($r->{body}, qr/password/, '7 bytes: the text names the password');
$r = $A->put("/admin/participants/$p3/password", json => { auth_id => 'sunito', password => '' });
is($r->{status}, 400, 'an empty password: 400');
$r = $A->put("/admin/participants/$p2/password",
    json => { auth_id => 'my_secret_identity', password => 'long enough pw' });
is($r->{status}, 404, 'an auth id of another participant: 404');
like($r->{body}, qr/auth_id/, 'foreign auth id: the text names auth_id');
$r = $A->put("/admin/participants/$p2/password",
    json => { auth_id => 'no-such-identity', password => 'long enough pw' });
is($r->{status}, 404, 'an unknown auth id: 404');
$r = $A->put('/admin/participants/999999/password',
    json => { auth_id => 'ulama', password => 'long enough pw' });
is($r->{status}, 404, 'an unknown participant: 404');
$r = $A->put("/admin/participants/$p2/password", json => { password => 'long enough pw' });
is($r->{status}, 400, 'auth_id missing: 400');
like($r->{body}, qr/auth_id/, 'auth_id missing: named');
$r = $A->put("/admin/participants/$p2/password", json => { auth_id => 'ulama' });
is($r->{status}, 400, 'password missing: 400');
like($r->{body}, qr/password/, 'password missing: named');
$r = $A->put("/admin/participants/$p2/password", json => { auth_id => 'ulama', password => 12345678 });
is($r->{status}, 400, 'password a number: 400');
$r = $A->put("/admin/participants/$p2/password", json => { auth_id => 12, password => 'long enough pw' });
is($r->{status}, 400, 'auth_id a number: 400');
$r = $A->put("/admin/participants/$p2/password", body => '{"auth_id":', ctype => 'application/json');
is($r->{status}, 400, 'bad JSON: 400');
$r = $A->get("/admin/participants/$p2/password");
is($r->{status}, 405, 'GET on the password route: 405');
$r = $d->client->put("/admin/participants/$p2/password",
    json => { auth_id => 'ulama', password => 'long enough pw' });
is($r->{status}, 401, 'the password route needs admin credentials');
is(bclient($d, 'ulama', 'ulm-secret-1')->get('/sys/memberships')->{status}, 200,
    'the failed changes left the password alone');
ok(!grep({ /ulm-secret-1|12345678|long enough pw/ } split /\n/, $d->log),
    'no password appears in the log');

# ---- Basic on the protocol ----------------------------------------------------------

$r = bclient($d, 'ulama', 'ulm-secret-1')->get('/sys/memberships');
is($r->{status}, 200, 'Basic with the right password: 200');
is(itsyou($r), $p2, 'Basic: the caller is the identity\'s participant');
ok(!exists $r->{headers}{'www-authenticate'}, 'Basic success: no WWW-Authenticate');
ok(!exists $r->{headers}{'set-cookie'}, 'Basic success: no cookie for a main participant');
$r = $d->client(Authorization => 'basic ' . encode_base64('ulama:ulm-secret-1', ''))
    ->get('/sys/memberships');
is(itsyou($r), $p2, 'the scheme name is case-insensitive');
$r = bclient($d, 'sunito', '12345678')->post('/numlab/exercises', body => 'x',
    ctype => 'text/plain', headers => { 'X-EcsReceiverMemberships' => $d->mid(P3 => 'public') });
is($r->{status}, 201, 'Basic on a message resource (create): 201') or diag($r->{body});
my $msgid = Ecsd::loc_id($r);
$r = $d->as('sunito')->get("/numlab/exercises/$msgid");
is($r->{headers}{'x-ecssender'}, $d->mid(P3 => 'public'), 'created as the Basic participant');
like($d->log, qr/pid=$p3 POST \/numlab\/exercises 201/, 'request log shows the Basic participant');

my $dummy_re = qr/basic: unknown user, checked against the dummy hash/;
my $dummies = () = grep { $_ =~ $dummy_re } split /\n/, $d->log;

bad_ok(bclient($d, 'ulama', 'wrong-password')->get('/sys/memberships'), 'ulama', 'wrong password');
my $dummies2 = () = grep { $_ =~ $dummy_re } split /\n/, $d->log;
is($dummies2, $dummies, 'a known user is not checked against the dummy hash');
is(warnings_for($d, 'ulama'), 1, 'the failure is logged as a warning');

bad_ok(bclient($d, 'nobody', 'whatever-pw')->get('/sys/memberships'), 'nobody', 'unknown user');
my $dummies3 = () = grep { $_ =~ $dummy_re } split /\n/, $d->log;
is($dummies3, $dummies2 + 1,
    'unknown user: debug log says it was checked against the dummy hash');

bad_ok(bclient($d, 'myid', 'anything-at-all')->get('/sys/events'), 'myid',
    'identity without a password');
bad_ok(bclient($d, 'ulama', '')->get('/sys/events'), 'ulama', 'empty password');
bad_ok(bclient($d, 'ULAMA', 'ulm-secret-1')->get('/sys/events'), 'ULAMA',
    'user names are case-sensitive');

for my $m (['no colon', 'Basic ' . encode_base64('ulama', '')],
    ['not base64', 'Basic !!!***'], ['NUL in the user', 'Basic ' . encode_base64("ul\0ama:ulm-secret-1", '')]) {
	$r = $d->client(Authorization => $m->[1])->get('/sys/memberships');
	is($r->{status}, 401, "malformed Basic ($m->[0]): 401");
	unlike($r->{body}, qr/\n./, "malformed Basic ($m->[0]): one line of text");
}

# a password change and a removal take effect at once (no stale cache)
is(bclient($d, 'ulama', 'ulm-secret-1')->get('/sys/events')->{status}, 200,
    'the old password works before the change');
$r = $A->put("/admin/participants/$p2/password", json => { auth_id => 'ulama', password => 'ulm-secret-2' });
is($r->{status}, 200, 'change the password');
bad_ok(bclient($d, 'ulama', 'ulm-secret-1')->get('/sys/events'), 'ulama', 'old password after a change');
is(bclient($d, 'ulama', 'ulm-secret-2')->get('/sys/events')->{status}, 200, 'new password works');
$r = $A->put("/admin/participants/$p2/password", json => { auth_id => 'ulama', password => undef });
is($r->{status}, 200, 'remove the password (null): 200');
is_deeply($r->{json}, { id => $p2, auth_id => 'ulama', password => JSON::PP::false },
    'remove: "password": false');
# The 7th failure from 127.0.0.1 in this daemon (the 6th was the old password
# above): answered after a delay, hence the timeout.
$r = bclient($d, 'ulama', 'ulm-secret-2')->get('/sys/events', timeout => 30);
bad_ok($r, 'ulama', 'password after its removal');
is($d->as('ulama')->get('/sys/events')->{status}, 200, 'X-EcsAuthId still works after the removal');

# a trusted proxy that authenticated says so in X-EcsAuthId
$r = $d->as('myid')->get('/sys/memberships',
    headers => { Authorization => basic('ulama', 'bogus-password') });
is($r->{status}, 200, 'trusted proxy: X-EcsAuthId and a bogus Authorization: 200');
is(itsyou($r), $p1, 'trusted proxy: authenticated by X-EcsAuthId');
$r = $d->as('myid')->get('/sys/memberships', headers => { Authorization => 'Basic !!!' });
is($r->{status}, 200, 'trusted proxy: X-EcsAuthId and a malformed Authorization: 200');
$r = $d->as('nobody')->get('/sys/memberships',
    headers => { Authorization => basic('sunito', '12345678') });
is($r->{status}, 401, 'trusted proxy: the header decides even if it names nobody');
is($r->{body}, "No \"X-EcsAuthId: nobody\" identity found\n", 'trusted proxy: the X-EcsAuthId text');
is(warnings_for($d, 'bogus'), 0, 'nothing logged as a Basic failure for proxied requests');

$d->stop_ok('ecsd (basic)');

# ---- throttling, untrusted peers --------------------------------------------------

$d = Ecsd->start(conf => { trusted_proxies => '192.0.2.1' });
$d->fixture_spec;
$p2 = $d->pid('P2');
$A = $d->admin;
is($A->put("/admin/participants/$p2/password",
    json => { auth_id => 'ulama', password => 'ulm-secret-1' })->{status}, 200,
    'second daemon: password set');

# not a trusted proxy: X-EcsAuthId alone is refused, Basic works next to it
$r = $d->as('ulama')->get('/sys/memberships');
is($r->{status}, 401, 'untrusted peer: X-EcsAuthId alone: 401');
$r = $d->as('my_secret_identity')->get('/sys/memberships',
    headers => { Authorization => basic('ulama', 'ulm-secret-1') });
is($r->{status}, 200, 'untrusted peer: Basic is used even with an X-EcsAuthId header');
is(itsyou($r), $p2, 'untrusted peer: the Basic participant, not the X-EcsAuthId one');

my @t;
for my $i (1 .. 7) {
	$r = bclient($d, 'ulama', "wrong-$i")->get('/sys/events', timeout => 60, fresh => 1);
	push @t, $r->{elapsed};
	bad_ok($r, 'ulama', "failure $i");
}
note(sprintf('failure answer times: %s', join(' ', map { sprintf '%.2f', $_ } @t)));
cmp_ok($t[5], '>=', 0.9, 'the 6th failure within 300 s is delayed (>= 1 s)');
cmp_ok($t[6], '>=', 1.9, 'the 7th failure is delayed longer (>= 2 s)');
cmp_ok($t[6], '>=', 1, 'the 7th answer takes at least 1 s');
is(warnings_for($d, 'ulama'), 7, 'each failure is logged as a warning');
$r = bclient($d, 'ulama', 'ulm-secret-1')->get('/sys/memberships', timeout => 60);
is($r->{status}, 200, 'the right password still works while failures are throttled');
$d->stop_ok('ecsd (throttling)');

done_testing;
