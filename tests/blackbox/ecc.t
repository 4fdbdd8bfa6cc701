#!/usr/bin/perl
# The ECC client API (tests/ecc/ecc-test against a real ecsd) and the ecs
# participant CLI, scripted end to end.
#
# Environment: ECC_TEST_WRAPPER runs ecc-test and ecs under a command, e.g.
# "valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Spec;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use JSON::PP ();
use Ecsd;

my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $DRIVER = "$top/tests/ecc/ecc-test";
my $ECS = "$top/tools/ecs";
plan(skip_all => "$DRIVER not built (make check builds it)") unless -x $DRIVER;
plan(skip_all => "$ECS not built") unless -x $ECS;
my @WRAP = split(' ', $ENV{ECC_TEST_WRAPPER} // '');
my $TMP = tempdir('ecc-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $N = 0;

# run([argv], {env => {}, stdin => text, timeout => s}) → {exit, out, err, elapsed}
sub run {
	my ($argv, $o) = @_;
	$o ||= {};
	$N++;
	my ($of, $ef, $if) = ("$TMP/out.$N", "$TMP/err.$N", "$TMP/in.$N");
	open(my $fh, '>', $if) or die "$if: $!";
	print $fh $o->{stdin} // '';
	close $fh;
	my $t0 = time;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', $if) or POSIX::_exit(127);
		open(STDOUT, '>', $of) or POSIX::_exit(127);
		open(STDERR, '>', $ef) or POSIX::_exit(127);
		my $e = $o->{env} || {};
		for (keys %$e) { defined $e->{$_} ? ($ENV{$_} = $e->{$_}) : delete $ENV{$_} }
		exec(@WRAP, @$argv) or POSIX::_exit(127);
	}
	return { pid => $pid, of => $of, ef => $ef, t0 => $t0 } if $o->{background};
	return finish({ pid => $pid, of => $of, ef => $ef, t0 => $t0 }, $o->{timeout});
}

sub finish {
	my ($j, $timeout) = @_;
	my $deadline = time + ($timeout // 60);
	my $st;
	while (time < $deadline) {
		if (waitpid($j->{pid}, WNOHANG) == $j->{pid}) { $st = $?; last }
		sleep 0.02;
	}
	unless (defined $st) {
		kill 'KILL', $j->{pid};
		waitpid($j->{pid}, 0);
		$st = -1;
	}
	my $slurp = sub { open(my $f, '<', $_[0]) or return ''; local $/; my $t = <$f> // ''; close $f; $t };
	return { exit => ($st == -1 ? 'timeout' : ($st & 127) ? 'signal ' . ($st & 127) : $st >> 8),
	    out => $slurp->($j->{of}), err => $slurp->($j->{ef}), elapsed => time - $j->{t0} };
}

# ---------------------------------------------------------------- the API
{
	my $d = Ecsd->start;
	$d->fixture_spec;
	my $r = run([$DRIVER, $d->base, $d->password], { timeout => 120 });
	my $seen = 0;
	for my $l (split /\n/, $r->{out}) {
		if ($l =~ /^(not )?ok - (.*)$/) {
			ok(!$1, "ecc: $2");
			$seen++;
		} elsif ($l =~ /^Bail out!/) {
			fail("ecc: $l");
		} elsif ($l =~ /^#/) {
			diag($l) if $l !~ /checks, 0 failed/;
		}
	}
	cmp_ok($seen, '>=', 60, "ecc-test ran its checks ($seen)");
	is($r->{exit}, 0, 'ecc-test exits 0') or diag($r->{err});
	unlike($r->{err}, qr/AddressSanitizer|LeakSanitizer|runtime error|ERROR SUMMARY: [1-9]/,
	    'ecc-test: no sanitizer or valgrind complaints');
	# The server logs one line per request with the peer; the sessions
	# above made well over 50 calls.
	cmp_ok(scalar($d->loggrep(qr/ecsd: info: 127\.0\.0\.1 .* GET \/numlab\/exercises 200/)),
	    '>=', 50, 'the server saw the keep-alive calls');
	$d->stop_ok;
}

# ---------------------------------------------------------------- the CLI
my $d = Ecsd->start;
$d->fixture_spec;
my $home = "$TMP/home";
make_path("$home/.config/ecs");
my %base_env = (HOME => $home, XDG_CONFIG_HOME => undef, ECS_URL => $d->base,
    ECS_AUTH_ID => undef, ECS_CERT => undef, ECS_KEY => undef, ECS_USER => undef,
    ECS_PASSWORD => undef, ECS_CA => undef);
my $P1 = $d->authid('P1');
my $P2 = $d->authid('P2');
my $P3 = $d->authid('P3');
my $mid2 = $d->mid(P2 => 'WUV');
my $RES = 'numlab/exercises';

sub ecs {
	my ($who, @args) = @_;
	my $o = ref $args[-1] eq 'HASH' ? pop @args : {};
	my %env = (%base_env, %{ $o->{env} || {} });
	$env{ECS_AUTH_ID} = $who if defined $who;
	return run([$ECS, @args], { %$o, env => \%env });
}

sub json_of {
	my ($t) = @_;
	my $v = eval { JSON::PP->new->utf8->decode($t) };
	return $v;
}

# usage, help, version
{
	my $r = ecs(undef, '--version');
	is($r->{exit}, 0, 'ecs --version exits 0');
	like($r->{out}, qr/^ecs \d/, 'ecs --version prints the version');
	$r = ecs(undef, '--help');
	is($r->{exit}, 0, 'ecs --help exits 0');
	like($r->{out}, qr/usage: ecs/, 'ecs --help prints the usage');
	$r = ecs($P1);
	is($r->{exit}, 2, 'no command: exit 2');
	like($r->{err}, qr/usage: ecs/, 'no command: usage on stderr');
	is(ecs($P1, 'frobnicate')->{exit}, 2, 'unknown command: exit 2');
	is(ecs($P1, 'send', $RES, { stdin => 'x' })->{exit}, 2, 'send without receivers: exit 2');
	is(ecs($P1, 'get', $RES, 'abc')->{exit}, 2, 'bad message id: exit 2');
	is(ecs($P1, '--raw', '--json', 'memberships')->{exit}, 2, '--raw with --json: exit 2');
	is(ecs($P1, '--auth-id', 'x', '--user', 'y', 'memberships')->{exit}, 2,
	    'two kinds of credentials: exit 2');
	$r = ecs($P1, 'memberships', { env => { ECS_URL => undef } });
	is($r->{exit}, 2, 'no URL: exit 2');
	like($r->{err}, qr/no server/, 'no URL: says so');
}

# memberships
{
	my $r = ecs($P2, 'memberships');
	is($r->{exit}, 0, 'memberships exits 0');
	like($r->{out}, qr/^WUV \(cid \d+\)/m, 'memberships: communities listed');
	like($r->{out}, qr/mid\s+$mid2\s.*<- you/, 'memberships: own mid marked');
	$r = ecs($P2, '--json', 'memberships');
	my $j = json_of($r->{out});
	ok(ref $j eq 'ARRAY' && @$j == 2, 'memberships --json parses');
}

# send, list, get, update, details
my ($id1, $id2, $id3);
{
	my $r = ecs($P1, 'send', $RES, '--to', $mid2, { stdin => '{"x":1}' });
	is($r->{exit}, 0, 'send from stdin exits 0') or diag($r->{err});
	($id1) = $r->{out} =~ m{^\Q$RES\E/(\d+)$}m;
	ok($id1, 'send prints RESOURCE/ID');
	open(my $f, '>', "$TMP/body.txt") or die;
	print $f "Hallo Ihr da im Radio.\n";
	close $f;
	$r = ecs($P1, '--raw', 'send', $RES, '--community', 'WUV', "$TMP/body.txt");
	is($r->{exit}, 0, 'send a file to a community exits 0');
	($id2) = $r->{out} =~ /^(\d+)$/m;
	ok($id2 && $id2 > $id1, '--raw send prints the id');
	$r = ecs($P1, '--json', 'send', $RES, '--to', $mid2, '--type', 'text/plain', '-',
	    { stdin => 'three' });
	my $j = json_of($r->{out});
	$id3 = $j && $j->{id};
	ok($id3 && $id3 > $id2 && $j->{resource} eq $RES, 'send --json parses');

	$r = ecs($P2, 'list', $RES);
	is($r->{exit}, 0, 'list exits 0');
	is($r->{out}, "$RES/$id1\n$RES/$id2\n$RES/$id3\n", 'list prints RESOURCE/ID lines');
	$r = ecs($P2, 'list', $RES, '--raw');
	is($r->{out}, "exercises/$id1\nexercises/$id2\nexercises/$id3\n", 'list --raw: the server body');
	$r = ecs($P1, 'list', $RES, '--sender', '--json');
	is_deeply(json_of($r->{out}), [$id1, $id2, $id3], 'list --sender --json');
	$r = ecs($P1, 'list', $RES);
	is($r->{out}, '', 'list as the sender without --sender: empty');

	$r = ecs($P2, '--raw', 'get', $RES, $id2);
	is($r->{exit}, 0, 'get exits 0');
	is($r->{out}, "Hallo Ihr da im Radio.\n", 'get --raw: the body byte for byte');
	$r = ecs($P2, 'get', "$RES/$id1");
	like($r->{out}, qr/^Content-Type: application\/json/m, 'get: Content-Type shown');
	like($r->{out}, qr/^Sender: \d+/m, 'get: sender mids shown');
	like($r->{out}, qr/\n\n\{"x":1\}\n\z/, 'get: body after a blank line');
	$r = ecs($P2, '--json', 'get', $RES, $id3);
	$j = json_of($r->{out});
	ok($j && $j->{body} eq 'three' && $j->{id} == $id3 &&
	    $j->{content_type} =~ m{^text/plain}, 'get --json parses');

	$r = ecs($P1, 'update', $RES, $id1, '--to', $mid2, { stdin => '{"x":2}' });
	is($r->{exit}, 0, 'update exits 0') or diag($r->{err});
	is(ecs($P2, '--raw', 'get', $RES, $id1)->{out}, '{"x":2}', 'update replaced the body');
	$r = ecs($P2, 'update', $RES, $id1, '--to', $mid2, { stdin => 'x' });
	is($r->{exit}, 1, 'update by a receiver: exit 1');
	like($r->{err}, qr/403 You are not the original sender of the message\./,
	    'update by a receiver: the server text');

	$r = ecs($P2, '--json', 'details', $RES, $id1);
	$j = json_of($r->{out});
	ok($j && ref $j->{receivers} eq 'ARRAY', 'details --json parses');
	$r = ecs($P1, '--json', 'details', $RES, '--sender');
	$j = json_of($r->{out});
	ok(ref $j eq 'ARRAY' && @$j == 3, 'collection details --json parses');
}

# errors
{
	my $r = ecs($P2, 'get', $RES, 999999);
	is($r->{exit}, 1, 'get of a missing message: exit 1');
	like($r->{err}, qr/^ecs: 404 Invalid resource id$/m, 'get of a missing message: 404 text');
	$r = ecs('nobody', 'memberships');
	is($r->{exit}, 1, 'unknown identity: exit 1');
	like($r->{err}, qr/401 No "X-EcsAuthId: nobody" identity found/, 'unknown identity: 401 text');
	$r = ecs($P3, 'get', $RES, $id1);
	is($r->{exit}, 1, 'outsider: exit 1');
	like($r->{err}, qr/403 You are not allowed to access this resource/, 'outsider: 403 text');
	$r = ecs($P1, 'memberships', { env => { ECS_URL => 'http://127.0.0.1:1' } });
	is($r->{exit}, 1, 'unreachable server: exit 1');
	like($r->{err}, qr/^ecs: 127\.0\.0\.1:1: /, 'unreachable server: says where');
}

# events
{
	my $r = ecs($P2, 'events');
	is($r->{exit}, 0, 'events exits 0');
	like($r->{out}, qr/^created\s+\Q$RES\E\/$id1$/m, 'events: created line');
	like($r->{out}, qr/^updated\s+\Q$RES\E\/$id1$/m, 'events: updated line');
	$r = ecs($P2, '--json', 'events', '--count', '1');
	my $j = json_of($r->{out});
	ok(ref $j eq 'ARRAY' && @$j == 1 && $j->[0]{status} eq 'created', 'events --json --count 1');
	$r = ecs($P2, 'events', '--pop', '--count', 'all');
	is($r->{exit}, 0, 'events --pop --count all');
	$r = ecs($P2, 'events');
	is($r->{exit}, 3, 'events on an empty queue: exit 3');
	is($r->{out}, '', 'events on an empty queue: nothing printed');
}

# pop, peek, delete
{
	my $r = ecs($P2, '--raw', 'peek', $RES, '--lifo');
	is($r->{exit}, 0, 'peek --lifo exits 0');
	is($r->{out}, 'three', 'peek --lifo: the newest');
	$r = ecs($P2, '--raw', 'pop', $RES);
	is($r->{out}, '{"x":2}', 'pop: the oldest');
	$r = ecs($P2, '--json', 'pop', $RES);
	my $j = json_of($r->{out});
	ok($j && $j->{body} eq "Hallo Ihr da im Radio.\n", 'pop --json parses');
	$r = ecs($P1, 'delete', $RES, $id3);
	is($r->{exit}, 0, 'delete as sender exits 0');
	$r = ecs($P2, 'pop', $RES);
	is($r->{exit}, 3, 'pop on an empty queue: exit 3');
	is($r->{out}, '', 'pop on an empty queue: nothing on stdout');
	like($r->{err}, qr/queue is empty/, 'pop on an empty queue: said on stderr');
	is(ecs($P2, 'peek', $RES, '--raw')->{exit}, 3, 'peek on an empty queue: exit 3');
}

# tokens
{
	my $r = ecs($P1, '--json', 'token', 'create', 'https://lms.example.org/course/7', '--to', $mid2);
	is($r->{exit}, 0, 'token create exits 0') or diag($r->{err});
	my $j = json_of($r->{out});
	my $hash = $j && $j->{hash};
	ok($hash && $hash =~ /^[0-9a-f]{40}$/, 'token create --json: a hash');
	$r = ecs($P2, 'token', 'get', $hash);
	like($r->{out}, qr{^url: https://lms\.example\.org/course/7$}m, 'token get shows the url');
	$r = ecs($P2, 'token', 'consume', $hash);
	is($r->{exit}, 0, 'token consume exits 0');
	like($r->{out}, qr/^hash: $hash$/m, 'token consume shows the token');
	$r = ecs($P2, 'token', 'consume', $hash);
	is($r->{exit}, 1, 'second consume: exit 1');
	like($r->{err}, qr/404 Invalid auths hash/, 'second consume: 404 text');
	is(ecs($P1, 'token', 'create', 'https://x', { stdin => '' })->{exit}, 2,
	    'token create without receivers: exit 2');
}

# events --follow
{
	ecs($P2, 'events', '--pop', '--count', 'all');	# the destroyed event of the delete
	ecs($P1, 'send', $RES, '--to', $mid2, { stdin => 'f1' });
	ecs($P1, 'send', $RES, '--to', $mid2, { stdin => 'f2' });
	my $r = ecs($P2, 'events', '--follow', '--count', '2', { timeout => 30 });
	is($r->{exit}, 0, 'events --follow --count 2 exits 0');
	is(scalar(() = $r->{out} =~ /^created /mg), 2, 'events --follow printed two events');
	$r = ecs($P2, 'events', '--follow', '--timeout', '2', { timeout => 30 });
	is($r->{exit}, 0, 'events --follow --timeout 2 exits 0 without events');
	ok($r->{elapsed} >= 1.5 && $r->{elapsed} < 10, sprintf('... after about 2 s (%.1f)', $r->{elapsed}));
	my $j = ecs($P2, '--json', 'events', '--follow', '--count', '1', '--timeout', '20',
	    { background => 1 });
	sleep 1.5;
	ecs($P1, 'send', $RES, '--to', $mid2, { stdin => 'f3' });
	$r = finish($j, 30);
	is($r->{exit}, 0, 'events --follow sees an event sent while it waits');
	my $e = json_of((split /\n/, $r->{out})[0] // '');
	ok($e && $e->{status} eq 'created' && $e->{ressource} =~ m{^\Q$RES\E/\d+$},
	    'events --follow --json: one object per line');
	ok($r->{elapsed} < 15, sprintf('... promptly (%.1f s)', $r->{elapsed}));
}

# configuration file and environment
{
	open(my $f, '>', "$home/.config/ecs/config") or die;
	print $f "# test\nurl = " . $d->base . "\nauth_id = $P2\n";
	close $f;
	my $r = run([$ECS, 'memberships'], { env => { %base_env, ECS_URL => undef } });
	is($r->{exit}, 0, 'url and auth_id from ~/.config/ecs/config');
	like($r->{out}, qr/Ilias Uni Ulm \(U\)\s+<- you/, '... as that participant');
	$r = run([$ECS, 'memberships'], { env => { %base_env, ECS_URL => undef, ECS_AUTH_ID => $P1 } });
	like($r->{out}, qr/Ilias Uni Stuttgart \(S\)\s+<- you/, 'ECS_AUTH_ID beats the file');
	$r = run([$ECS, '--auth-id', $P3, 'memberships'],
	    { env => { %base_env, ECS_URL => undef, ECS_AUTH_ID => $P1 } });
	like($r->{out}, qr/Computation client \(S\)\s+<- you/, '--auth-id beats the environment');
	open($f, '>', "$home/.config/ecs/config") or die;
	print $f "bogus line\n";
	close $f;
	$r = run([$ECS, 'memberships'], { env => { %base_env } });
	is($r->{exit}, 2, 'a broken config file: exit 2');
	like($r->{err}, qr{config:1: }, '... naming file and line');
	unlink("$home/.config/ecs/config");
}

$d->stop_ok;

# ---------------------------------------------------------------- HTTPS
# A throwaway CA, a server certificate for 127.0.0.1 and a client
# certificate mapped to a participant by its subject DN.
SKIP: {
	my ($openssl) = grep { -x "$_/openssl" } File::Spec->path;
	skip('openssl(1) not installed', 1) unless $openssl;
	$openssl .= '/openssl';
	my $pki = "$TMP/pki";
	make_path($pki);
	my @KEY = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
	my $ossl = sub {
		my $r = run([$openssl, @_], { env => { OPENSSL_CONF => undef } });
		die "openssl @_: $r->{err}" if $r->{exit} ne '0';
	};
	open(my $fh, '>', "$pki/s.ext") or die;
	print $fh "subjectAltName=IP:127.0.0.1\n";
	close $fh;
	$ossl->('req', '-x509', @KEY, '-keyout', "$pki/ca.key", '-out', "$pki/ca.crt",
	    '-days', '30', '-subj', '/CN=ecc test CA');
	for (['server', '/CN=127.0.0.1', "$pki/s.ext"], ['client', '/O=Uni Ulm/CN=ecc-client', undef]) {
		my ($n, $subj, $ext) = @$_;
		$ossl->('req', @KEY, '-keyout', "$pki/$n.key", '-out', "$pki/$n.csr", '-subj', $subj);
		$ossl->('x509', '-req', '-in', "$pki/$n.csr", '-CA', "$pki/ca.crt", '-CAkey',
		    "$pki/ca.key", '-CAcreateserial', '-days', '30',
		    (defined $ext ? ('-extfile', $ext) : ()), '-out', "$pki/$n.crt");
	}
	my $t = eval {
		Ecsd->start(conf => { listen_tls => '127.0.0.1:0', tls_cert => "$pki/server.crt",
		    tls_key => "$pki/server.key", tls_ca => "$pki/ca.crt" });
	};
	skip('ecsd has no HTTPS listener', 1) unless $t;
	my ($ready) = $t->loggrep(qr/ready .*https=/);
	skip('ecsd did not report an https address', 1) unless $ready;
	my ($hp) = $ready =~ /https=(\S+)/;
	$t->fixture_spec;
	my $org = $t->names->{organizations}{"Universit\x{e4}t Ulm"}{id};
	my $r = $t->admin->post('/admin/participants', json => { name => 'ecc-client',
	    organization_id => $org, auth_ids => ['CN=ecc-client,O=Uni Ulm'],
	    communities => ['SUV'] });
	is($r->{status}, 201, 'tls: participant for the client certificate');
	$t->refresh_map;
	my $url = "https://$hp";
	$r = run([$DRIVER, '--tls', $url, "$pki/ca.crt", "$pki/client.crt", "$pki/client.key"],
	    { timeout => 120 });
	my $seen = 0;
	for my $l (split /\n/, $r->{out}) {
		next unless $l =~ /^(not )?ok - (.*)$/;
		ok(!$1, "ecc: $2");
		$seen++;
	}
	cmp_ok($seen, '>=', 7, "ecc-test --tls ran its checks ($seen)");
	is($r->{exit}, 0, 'ecc-test --tls exits 0') or diag($r->{err});
	my %tenv = (%base_env, ECS_URL => $url, ECS_CA => "$pki/ca.crt");
	my @cert = ('--cert', "$pki/client.crt", '--key', "$pki/client.key");
	$r = run([$ECS, @cert, 'memberships'], { env => \%tenv });
	is($r->{exit}, 0, 'tls: ecs with a client certificate');
	like($r->{out}, qr/ecc-client \(U\)\s+<- you/, 'tls: ... authenticates as its participant');
	my $mid = $t->mid('ecc-client' => 'SUV');
	$r = run([$ECS, '--auth-id', $t->authid('P1'), 'send', $RES, '--to', $mid],
	    { env => { %tenv, ECS_URL => $t->base }, stdin => 'over tls' });
	is($r->{exit}, 0, 'tls: a message for the certificate participant');
	$r = run([$ECS, @cert, '--raw', 'pop', $RES], { env => \%tenv });
	is($r->{out}, 'over tls', 'tls: ecs pops it over HTTPS');
	$r = run([$ECS, @cert, 'memberships'], { env => { %tenv, ECS_CA => undef } });
	is($r->{exit}, 1, 'tls: unknown server CA: exit 1');
	like($r->{err}, qr/TLS: .*certificate verify failed/, 'tls: ... says why');
	$t->stop_ok;
}

done_testing();
