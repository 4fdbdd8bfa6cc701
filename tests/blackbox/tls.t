#!/usr/bin/perl
# The HTTPS listener (HACKING.md: listen_tls, tls_cert, tls_key, tls_ca,
# tls_verify): client certificates mapped to participants by SHA-256
# fingerprint or subject DN, unmapped and unverifiable certificates, the
# fallback to X-EcsAuthId without a certificate, tls_verify = require,
# TLS 1.2 as the minimum and https Location headers (spec 3.7).
# A throwaway CA is made with openssl(1); requests go through curl(1).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Spec;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Ecsd;

sub in_path {
	my ($prog) = @_;
	for my $dir (File::Spec->path) {
		return "$dir/$prog" if -x "$dir/$prog";
	}
	return undef;
}

my $OPENSSL = in_path('openssl');
my $CURL = in_path('curl');
plan skip_all => 'openssl(1) not installed' unless $OPENSSL;
plan skip_all => 'curl(1) not installed' unless $CURL;
plan skip_all => 'needs daemons of its own; ECSD_TEST_URL is set' if Ecsd::external();

my $tmp = tempdir('ecsd-tls-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ECSD_TEST_KEEP});

# Run a command; stdout and stderr into files. Returns {rc, out, err}.
sub run {
	my ($cmd, %o) = @_;
	my ($out, $err) = ("$tmp/run.out", "$tmp/run.err");
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $out) or POSIX::_exit(126);
		open(STDERR, '>', $err) or POSIX::_exit(126);
		chdir $tmp or POSIX::_exit(126);
		exec(@$cmd) or POSIX::_exit(127);
	}
	my $deadline = time + ($o{timeout} // 60);
	my $w = 0;
	while (time < $deadline) {
		$w = waitpid($pid, WNOHANG);
		last if $w == $pid;
		sleep 0.02;
	}
	if ($w != $pid) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	my $st = $?;
	my %r = (rc => $w != $pid ? 124 : ($st & 127) ? 128 + ($st & 127) : $st >> 8);
	for my $k (qw(out err)) {
		open(my $fh, '<', $k eq 'out' ? $out : $err) or die "$k: $!";
		local $/;
		$r{$k} = <$fh> // '';
		close $fh;
	}
	return \%r;
}

sub ossl {
	my (@args) = @_;
	my $r = run([$OPENSSL, @args]);
	die "openssl @args failed ($r->{rc}):\n$r->{err}" if $r->{rc} != 0;
	return $r;
}

# ---- the throwaway PKI ----------------------------------------------------------

my @KEY = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');

# A self-signed CA.
sub make_ca {
	my ($name, $cn) = @_;
	ossl('req', '-x509', @KEY, '-keyout', "$name.key", '-out', "$name.crt",
	    '-days', '30', '-subj', "/CN=$cn");
}

# A certificate signed by $ca with subject $subj (and extensions).
sub make_cert {
	my ($name, $ca, $subj, $ext) = @_;
	ossl('req', @KEY, '-keyout', "$name.key", '-out', "$name.csr", '-subj', $subj);
	my @ext;
	if (defined $ext) {
		open(my $fh, '>', "$tmp/$name.ext") or die;
		print $fh "$ext\n";
		close $fh;
		@ext = ('-extfile', "$name.ext");
	}
	ossl('x509', '-req', '-in', "$name.csr", '-CA', "$ca.crt", '-CAkey', "$ca.key",
	    '-CAcreateserial', '-days', '30', @ext, '-out', "$name.crt");
}

# A certificate of $ca valid only in January 2020 (openssl ca -startdate/-enddate:
# the OpenSSL 3.0 x509 command cannot backdate).
sub make_expired {
	my ($name, $ca, $subj) = @_;
	mkdir "$tmp/cadb";
	open(my $fh, '>', "$tmp/cadb/index.txt") or die;
	close $fh;
	open($fh, '>', "$tmp/cadb/serial") or die;
	print $fh "1000\n";
	close $fh;
	open($fh, '>', "$tmp/ca.cnf") or die;
	print $fh <<'EOF';
[ ca ]
default_ca = tca
[ tca ]
database = ./cadb/index.txt
serial = ./cadb/serial
new_certs_dir = ./cadb
default_md = sha256
policy = pol
unique_subject = no
[ pol ]
commonName = supplied
organizationName = optional
EOF
	close $fh;
	ossl('req', @KEY, '-keyout', "$name.key", '-out', "$name.csr", '-subj', $subj);
	ossl('ca', '-batch', '-config', 'ca.cnf', '-cert', "$ca.crt", '-keyfile', "$ca.key",
	    '-startdate', '20200101000000Z', '-enddate', '20200201000000Z',
	    '-in', "$name.csr", '-out', "$name.crt");
}

sub fingerprint {
	my ($name) = @_;
	my $r = run([$OPENSSL, 'x509', '-in', "$name.crt", '-outform', 'DER']);
	die "DER of $name: $r->{err}" if $r->{rc} != 0;
	return 'sha256:' . sha256_hex($r->{out});
}

make_ca('ca', 'ecsd test CA');
make_ca('ca2', 'another CA');
make_cert('server', 'ca', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1');
make_cert('fpr', 'ca', '/O=Uni Stuttgart/CN=lms-by-fingerprint');
make_cert('dn', 'ca', '/O=Uni Ulm/CN=lms2');
make_cert('stranger', 'ca', '/O=Nowhere/CN=stranger');
make_cert('foreign', 'ca2', '/O=Uni Ulm/CN=lms2');	# same DN, other CA
make_expired('expired', 'ca', '/O=Uni Ulm/CN=lms2');	# same DN, expired
my $FPR = fingerprint('fpr');
like($FPR, qr/^sha256:[0-9a-f]{64}$/, 'fingerprint of the test certificate computed');

my %TLSCONF = (listen_tls => '127.0.0.1:0', tls_cert => "$tmp/server.crt",
    tls_key => "$tmp/server.key", tls_ca => "$tmp/ca.crt");

# ---- curl ---------------------------------------------------------------------

# curl($d, METHOD, PATH, cert => name, headers => {...}, body => ..., args => [...])
# Returns {rc, status, headers (lower-case), body, err}.
sub curl {
	my ($port, $method, $path, %o) = @_;
	my @cmd = ($CURL, '-sS', '--max-time', '20', '--cacert', "$tmp/ca.crt",
	    '-D', "$tmp/curl.head", '-o', "$tmp/curl.body", '-X', $method);
	push @cmd, '--cert', "$tmp/$o{cert}.crt", '--key', "$tmp/$o{cert}.key" if $o{cert};
	for my $k (sort keys %{ $o{headers} || {} }) {
		push @cmd, '-H', "$k: $o{headers}{$k}";
	}
	if (defined $o{body}) {
		push @cmd, '--data-binary', $o{body};
		push @cmd, '-H', 'Content-Type: text/plain' unless $o{headers}{'Content-Type'};
	}
	push @cmd, @{ $o{args} || [] };
	unlink "$tmp/curl.head", "$tmp/curl.body";
	push @cmd, "https://127.0.0.1:$port$path";
	my $r = run(\@cmd);
	my %res = (rc => $r->{rc}, err => $r->{err}, status => 0, headers => {}, body => '');
	if (open(my $fh, '<', "$tmp/curl.head")) {
		local $/;
		my $h = <$fh> // '';
		close $fh;
		for my $l (split /\r?\n/, $h) {
			if ($l =~ m{^HTTP/\S+ (\d{3})}) {
				$res{status} = $1 + 0;
				$res{headers} = {};
			} elsif ($l =~ /^([^:]+):\s*(.*?)\s*$/) {
				$res{headers}{ lc $1 } = $2;
			}
		}
	}
	if (open(my $fh, '<', "$tmp/curl.body")) {
		local $/;
		$res{body} = <$fh> // '';
		close $fh;
	}
	$res{json} = Ecsd::json_decode($res{body});
	return \%res;
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

# A refused certificate: the handshake fails, or the server says 401
# "Client certificate not verified"; never an answer as a participant.
sub refused_ok {
	my ($r, $name) = @_;
	my $ok = ok($r->{rc} != 0 ||
	    ($r->{status} == 401 && $r->{body} eq "Client certificate not verified\n"),
	    "$name: refused (handshake failure or 401 not verified)");
	diag("curl exit $r->{rc}, status $r->{status}, body $r->{body}, stderr $r->{err}") unless $ok;
	isnt($r->{status}, 200, "$name: no 200");
	return $ok;
}

# ---- tls_verify = optional ------------------------------------------------------

my $d = Ecsd->start(conf => { %TLSCONF, tls_verify => 'optional' });
my ($tlsport) = map { /ready http=\S+ https=127\.0\.0\.1:(\d+)/ ? $1 : () } split /\n/, $d->log;
ok($tlsport, 'ready line names the https listener: ready http=A:P https=A:P')
    or BAIL_OUT("no https in the ready line:\n" . $d->log);
isnt($tlsport, $d->port, 'https and http listen on different ports');
$d->fixture_spec;
my $A = $d->admin;
my $orgS = $d->names->{organizations}{"Universit\x{e4}t Stuttgart"}{id};
my $orgU = $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id};
my $r = $A->post('/admin/participants', json => { name => 'lms by fingerprint',
    organization_id => $orgS, auth_ids => [$FPR], communities => ['SUV'] });
is($r->{status}, 201, 'participant with a fingerprint identity') or diag($r->{body});
my $pid_fpr = $r->{json}{id};
$r = $A->post('/admin/participants', json => { name => 'lms2',
    organization_id => $orgU, auth_ids => ['CN=lms2,O=Uni Ulm'], communities => ['SUV'] });
is($r->{status}, 201, 'participant with a DN identity') or diag($r->{body});
my $pid_dn = $r->{json}{id};
$d->refresh_map;

$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'fpr');
is($r->{rc}, 0, 'fingerprint cert: curl succeeds') or diag($r->{err});
is($r->{status}, 200, 'fingerprint cert: 200') or diag($r->{body});
is(itsyou($r), $pid_fpr, 'fingerprint cert: itsyou is the participant owning sha256:<fpr>');

$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'dn');
is($r->{status}, 200, 'DN cert: 200') or diag("$r->{rc} $r->{err} $r->{body}");
is(itsyou($r), $pid_dn, 'DN cert: itsyou is the participant owning "CN=lms2,O=Uni Ulm"');

$r = curl($tlsport, 'GET', '/sys/events', cert => 'fpr',
    headers => { 'X-EcsAuthId' => 'ulama' });
is($r->{status}, 200, 'cert and X-EcsAuthId: 200');
$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'fpr',
    headers => { 'X-EcsAuthId' => 'ulama' });
is(itsyou($r), $pid_fpr, 'a verified certificate beats X-EcsAuthId');

$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'stranger');
is($r->{status}, 401, 'verified but unmapped cert: 401');
is($r->{body}, "Client certificate \"CN=stranger,O=Nowhere\" is not mapped to any participant\n",
    'verified but unmapped cert: text names the DN');
$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'stranger',
    headers => { 'X-EcsAuthId' => 'ulama' });
is($r->{status}, 401, 'unmapped cert: X-EcsAuthId does not rescue it');

# without a certificate: the X-EcsAuthId rules (loopback is a trusted proxy)
$r = curl($tlsport, 'GET', '/sys/memberships', headers => { 'X-EcsAuthId' => 'ulama' });
is($r->{status}, 200, 'no cert, X-EcsAuthId from trusted loopback: 200');
is(itsyou($r), $d->pid('P2'), 'no cert, X-EcsAuthId: that participant');
$r = curl($tlsport, 'GET', '/sys/memberships');
is($r->{status}, 401, 'no cert, no X-EcsAuthId: 401');
is($r->{body}, "No \"X-EcsAuthId\" http header\n", 'no cert, no X-EcsAuthId: spec text');

# unverifiable certificates
refused_ok(curl($tlsport, 'GET', '/sys/memberships', cert => 'foreign'),
    'cert of another CA (mapped DN)');
refused_ok(curl($tlsport, 'GET', '/sys/memberships', cert => 'expired'),
    'expired cert (mapped DN)');
refused_ok(curl($tlsport, 'GET', '/sys/memberships', cert => 'foreign',
    headers => { 'X-EcsAuthId' => 'ulama' }), 'cert of another CA with X-EcsAuthId');

# protocol versions
$r = curl($tlsport, 'GET', '/sys/configs', cert => 'fpr',
    args => ['--tlsv1.2', '--tls-max', '1.2']);
is($r->{status}, 200, 'TLS 1.2 accepted') or diag($r->{err});
$r = curl($tlsport, 'GET', '/sys/configs', cert => 'fpr',
    args => ['--tlsv1.3', '--tls-max', '1.3']);
is($r->{status}, 200, 'TLS 1.3 accepted') or diag($r->{err});
# SECLEVEL=0 lets the client offer TLS 1.1; the refusal must come from ecsd.
$r = curl($tlsport, 'GET', '/sys/configs', cert => 'fpr',
    args => ['--tlsv1.1', '--tls-max', '1.1', '--ciphers', 'DEFAULT:@SECLEVEL=0']);
isnt($r->{rc}, 0, 'TLS 1.1 refused (curl fails)');
is($r->{status}, 0, 'TLS 1.1: no HTTP answer');
like($r->{err}, qr/protocol version|unsupported protocol|no protocols available/i,
    'TLS 1.1: a protocol version failure') or diag($r->{err});

# Location over HTTPS (3.7)
my $mid_p2 = $d->mid(P2 => 'SUV');
$r = curl($tlsport, 'POST', '/numlab/exercises', cert => 'fpr', body => 'over tls',
    headers => { 'X-EcsReceiverMemberships' => $mid_p2 });
is($r->{status}, 201, 'POST over HTTPS: 201') or diag("$r->{err} $r->{body}");
like($r->{headers}{location} // '', qr{^https://127\.0\.0\.1:$tlsport/numlab/exercises/\d+$},
    'POST over HTTPS: Location https://127.0.0.1:<tlsport>/numlab/exercises/<id>')
    or diag('Location: ' . ($r->{headers}{location} // '(none)'));
my ($mid_id) = ($r->{headers}{location} // '') =~ m{/(\d+)$};
$r = $d->as('P2')->get("/numlab/exercises/$mid_id");
is($r->{status}, 200, 'message sent over HTTPS readable over HTTP by its receiver');
is($r->{body}, 'over tls', 'message body as sent');
is($r->{headers}{'x-ecssender'}, $d->names->{participants}{'lms by fingerprint'}{mids}{SUV},
    'X-EcsSender is the certificate participant\'s membership');

# the HTTP listener is unchanged
$r = $d->as('P1')->post('/numlab/exercises', body => 'plain', ctype => 'text/plain',
    headers => { 'X-EcsReceiverMemberships' => $mid_p2 });
like($r->{headers}{location} // '', qr{^http://127\.0\.0\.1:\d+/numlab/exercises/\d+$},
    'POST over HTTP: Location stays http://');
$r = $d->client->get('/sys/memberships');
is($r->{status}, 401, 'HTTP listener without credentials: 401 as before');

# plain HTTP spoken to the TLS port is no request
{
	my $c = Ecsd::Client->new({ host => '127.0.0.1', port => $tlsport, gen => 0, prefix => '' },
	    { 'X-EcsAuthId' => 'ulama' });
	my $res = eval { $c->get('/sys/events', timeout => 5) };
	ok(!$res || $res->{status} != 200, 'plain HTTP on the HTTPS port is not served');
	$c->close;
}
$d->stop_ok('ecsd (tls_verify = optional)');

# ---- tls_verify = require ----------------------------------------------------------

$d = Ecsd->start(conf => { %TLSCONF, tls_verify => 'require' });
($tlsport) = map { /ready http=\S+ https=127\.0\.0\.1:(\d+)/ ? $1 : () } split /\n/, $d->log;
ok($tlsport, 'require: https listener ready');
$d->fixture_spec;
$r = $d->admin->post('/admin/participants', json => { name => 'lms by fingerprint',
    organization_id => $d->names->{organizations}{"Universit\x{e4}t Stuttgart"}{id},
    auth_ids => [$FPR], communities => ['SUV'] });
is($r->{status}, 201, 'require: participant with a fingerprint identity');
$pid_fpr = $r->{json}{id};

$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'fpr');
is($r->{status}, 200, 'require: fingerprint cert: 200') or diag($r->{err});
is(itsyou($r), $pid_fpr, 'require: fingerprint cert: itsyou');
$r = curl($tlsport, 'GET', '/sys/memberships');
isnt($r->{rc}, 0, 'require: no cert: handshake refused (curl fails)');
is($r->{status}, 0, 'require: no cert: no HTTP answer');
$r = curl($tlsport, 'GET', '/sys/memberships', headers => { 'X-EcsAuthId' => 'ulama' });
isnt($r->{rc}, 0, 'require: no cert but X-EcsAuthId: handshake refused');
isnt($r->{status}, 200, 'require: no cert but X-EcsAuthId: no 200');
refused_ok(curl($tlsport, 'GET', '/sys/memberships', cert => 'foreign'),
    'require: cert of another CA');
refused_ok(curl($tlsport, 'GET', '/sys/memberships', cert => 'expired'),
    'require: expired cert');
$r = curl($tlsport, 'GET', '/sys/memberships', cert => 'stranger');
is($r->{status}, 401, 'require: verified unmapped cert: 401');
is($d->as('P2')->get('/sys/memberships')->{status}, 200,
    'require: the HTTP listener still takes X-EcsAuthId');
$d->stop_ok('ecsd (tls_verify = require)');

# ---- configuration errors -------------------------------------------------------

{
	my $bin = Ecsd::_binary();
	my $c = run([$bin, '-n', '-o', "datadir=$tmp/d", '-o', 'listen_tls=127.0.0.1:0']);
	is($c->{rc}, 1, 'listen_tls without tls_cert/tls_key: configuration refused');
	like($c->{err}, qr/listen_tls/, 'listen_tls without keys: the key is named');
	$c = run([$bin, '-n', '-o', "datadir=$tmp/d", '-o', 'tls_verify=sometimes']);
	is($c->{rc}, 1, 'tls_verify = sometimes refused');
	like($c->{err}, qr/tls_verify/, 'tls_verify: the key is named');
	$c = run([$bin, '-n', '-o', "datadir=$tmp/d", map { ('-o', "$_=$TLSCONF{$_}") }
	    sort keys %TLSCONF]);
	is($c->{rc}, 0, 'a complete TLS configuration checks OK') or diag($c->{err});
}

done_testing;
