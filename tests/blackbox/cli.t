#!/usr/bin/perl
# ecsd command line, -n, exit statuses and the log lines of HACKING.md.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use MIME::Base64 ();
use Time::HiRes qw(time sleep);
use Ecsd;

if (Ecsd::external()) {
	plan(skip_all => 'runs the binary itself; ECSD_TEST_URL is set');
}

my $BIN = Ecsd::_binary();
ok(-x $BIN, "binary $BIN is executable") or BAIL_OUT("no ecsd binary");
my $TMP = tempdir('ecsd-cli-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $N = 0;

# run(args..., {env => {}, timeout => s}) → {exit, out, err}
sub run {
	my $o = ref $_[-1] eq 'HASH' ? pop : {};
	my @args = @_;
	$N++;
	my ($of, $ef) = ("$TMP/out.$N", "$TMP/err.$N");
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $of) or POSIX::_exit(127);
		open(STDERR, '>', $ef) or POSIX::_exit(127);
		$ENV{ECSD_ADMIN_PASSWORD} = 'cli-test-pw';
		my $e = $o->{env} || {};
		for (keys %$e) { defined $e->{$_} ? ($ENV{$_} = $e->{$_}) : delete $ENV{$_} }
		chdir $TMP;
		exec($BIN, @args) or POSIX::_exit(127);
	}
	my $deadline = time + ($o->{timeout} // 10);
	my $st;
	while (time < $deadline) {
		if (waitpid($pid, WNOHANG) == $pid) { $st = $?; last }
		sleep 0.05;
	}
	unless (defined $st) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
		$st = -1;
	}
	my $slurp = sub { open(my $f, '<', $_[0]) or return ''; local $/; my $t = <$f> // ''; close $f; $t };
	return { exit => ($st == -1 ? 'timeout' : ($st & 127) ? 'signal ' . ($st & 127) : $st >> 8),
	    out => $slurp->($of), err => $slurp->($ef), all => $slurp->($of) . $slurp->($ef) };
}

sub conffile {
	my ($name, $text) = @_;
	my $f = "$TMP/$name";
	open(my $fh, '>', $f) or die "$f: $!";
	print $fh $text;
	close $fh;
	return $f;
}

# ---------------------------------------------------------------- version, help, usage
{
	for my $opt ('--version', '-V') {
		my $r = run($opt);
		is($r->{exit}, 0, "$opt exits 0");
		like($r->{out}, qr/\Aecsd [0-9][^\s]*\n\z/, "$opt prints 'ecsd VERSION' on stdout")
		    or diag("out: $r->{out} err: $r->{err}");
	}
	for my $opt ('--help', '-h') {
		my $r = run($opt);
		is($r->{exit}, 0, "$opt exits 0");
		like($r->{all}, qr/usage: ecsd/, "$opt prints the usage");
		like($r->{all}, qr/-c/, "$opt mentions -c");
	}
	for my $args (['--bogus'], ['-x'], ['extra-argument'], ['-c'], ['--config'],
	    ['-l'], ['-D'], ['-o']) {
		my $r = run(@$args);
		is($r->{exit}, 2, "@$args: usage error, exit 2") or diag("out: $r->{out} err: $r->{err}");
		like($r->{err}, qr/\S/, "@$args: says something on stderr");
		is($r->{out}, '', "@$args: nothing on stdout");
	}
}

# ---------------------------------------------------------------- -n
{
	my $ok = conffile('ok.conf', <<"EOF");
# a comment
listen = 127.0.0.1:0

datadir = $TMP/okdata
   sync = normal
max_body = 2048
log_level = debug
trusted_proxies = 127.0.0.1, ::1, 10.0.0.0/8
admin_allow = 127.0.0.1
idle_timeout = 30
EOF
	for my $opt ('-n', '--check-config') {
		my $r = run('-c', $ok, $opt);
		is($r->{exit}, 0, "$opt valid config: exit 0") or diag($r->{all});
		like($r->{all}, qr/^configuration OK$/m, "$opt prints 'configuration OK'");
	}
	my $r = run('--config', $ok, '-n', '-o', 'max_body=4096', '-D', "$TMP/x", '-l', '127.0.0.1:0');
	is($r->{exit}, 0, '-o, -D, -l with -n: exit 0') or diag($r->{all});
	ok(!-e "$TMP/x/ecsd.db", '-n does not create a database');
	if (Ecsd::pg()) {
		my $db = Ecsd::pg_createdb();
		$r = run('-c', $ok, '-n', Ecsd::store_options($db));
		is($r->{exit}, 0, '-n with store = postgresql: exit 0') or diag($r->{all});
		chomp(my $n = Ecsd::pg_psql($db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"));
		is($n, 0, '-n creates no tables in the PostgreSQL database');
		Ecsd::pg_dropdb($db);
	}

	my @bad = (
		[ 'badkey.conf', "listen = 127.0.0.1:0\n# c\nno_such_key = 1\n", 3 ],
		[ 'badint.conf', "max_body = abc\n", 1 ],
		[ 'badint2.conf', "\n\nmax_connections = 12x\n", 3 ],
		[ 'badsync.conf', "sync = sometimes\n", 1 ],
		[ 'badlevel.conf', "listen = 127.0.0.1:0\nlog_level = loud\n", 2 ],
		[ 'noequals.conf', "listen = 127.0.0.1:0\njust some words\n", 2 ],
		[ 'badlisten.conf', "listen = no-port-here\n", 1 ],
		[ 'badcidr.conf', "trusted_proxies = 300.1.2.3\n", 1 ],
		[ 'badallow.conf', "\nadmin_allow = 10.0.0.0/99\n", 2 ],
		[ 'section.conf', "listen = 127.0.0.1:0\n[nosuch]\nkey = 1\n", 3 ],
		[ 'badstore.conf', "listen = 127.0.0.1:0\nstore = mysql\n", 2 ],
	);
	for my $b (@bad) {
		my ($name, $text, $line) = @$b;
		my $f = conffile($name, $text);
		my $r = run('-c', $f, '-n');
		is($r->{exit}, 1, "$name: exit 1") or diag($r->{all});
		like($r->{all}, qr/^ecsd: \Q$f\E:$line: \S/m, "$name: 'ecsd: file:$line: message'")
		    or diag($r->{all});
		unlike($r->{all}, qr/configuration OK/, "$name: no 'configuration OK'");
	}
	my $f = conffile('badvalue-start.conf', "listen = 127.0.0.1:0\nmax_body = -5x\n");
	$r = run('-c', $f);
	is($r->{exit}, 1, 'bad config without -n: exit 1 too');
	like($r->{all}, qr/^ecsd: \Q$f\E:2: /m, 'names file and line');

	$r = run('-c', $ok, '-n', '-o', 'store=postgresql');
	is($r->{exit}, 1, 'store = postgresql without postgresql_dsn: exit 1');
	like($r->{err}, qr/^ecsd: store = postgresql(?: needs postgresql_dsn|: this ecsd was built without PostgreSQL)/m,
	    'says what is missing') or diag($r->{all});
	unlike($r->{all}, qr/configuration OK/, 'not OK');
	$r = run('-c', $ok, '-n', '-o', 'store=sqlite', '-o', 'postgresql_dsn=dbname=x');
	is($r->{exit}, 0, 'a postgresql_dsn beside store = sqlite is fine') or diag($r->{all});

	$r = run('-c', "$TMP/does-not-exist.conf", '-n');
	is($r->{exit}, 1, 'missing config file: exit 1');
	like($r->{all}, qr/does-not-exist\.conf/, 'names the file');
	$r = run('-c', $ok, '-n', '-o', 'no_such_key=1');
	ok($r->{exit} eq '1' || $r->{exit} eq '2', '-o with unknown key: exit 1 or 2') or diag($r->{all});
	like($r->{all}, qr/no_such_key/, 'names the key');
	unlike($r->{all}, qr/configuration OK/, 'not OK');
	$r = run('-c', $ok, '-n', '-o', 'max_body=lots');
	ok($r->{exit} eq '1' || $r->{exit} eq '2', '-o with bad value: exit 1 or 2') or diag($r->{all});
	like($r->{all}, qr/max_body/, 'names the key');
}

# ---------------------------------------------------------------- ready line, signals
sub start_raw {
	my (@args) = @_;
	$N++;
	my $ef = "$TMP/daemon.$N";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', "$ef.out") or POSIX::_exit(127);
		open(STDERR, '>', $ef) or POSIX::_exit(127);
		$ENV{ECSD_ADMIN_PASSWORD} = 'cli-test-pw';
		chdir $TMP;
		exec($BIN, @args) or POSIX::_exit(127);
	}
	my $deadline = time + 15;
	my ($port, $text) = (undef, '');
	while (time < $deadline) {
		if (open(my $f, '<', $ef)) { local $/; $text = <$f> // ''; close $f }
		if ($text =~ /ready http=\S+:(\d+)/) { $port = $1; last }
		last if waitpid($pid, WNOHANG) == $pid;
		sleep 0.05;
	}
	return { pid => $pid, port => $port, errfile => $ef };
}
sub logtext { my ($d) = @_; open(my $f, '<', $d->{errfile}) or return ''; local $/; my $t = <$f> // ''; close $f; $t }
sub stop_raw {
	my ($d, $sig) = @_;
	kill $sig, $d->{pid};
	my $deadline = time + 10;
	while (time < $deadline) {
		return $? if waitpid($d->{pid}, WNOHANG) == $d->{pid};
		sleep 0.05;
	}
	kill 'KILL', $d->{pid};
	waitpid($d->{pid}, 0);
	return 'timeout';
}
sub http {
	my ($port, $req) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
	    or return '';
	print $s $req;
	local $/;
	my $resp = '';
	eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 10;
		$resp = <$s> // '';
		alarm 0;
	};
	close $s;
	return $resp;
}

{
	# With ECSD_TEST_PGHOST the daemons started here run on PostgreSQL
	# too: $db1 is the database that belongs with $TMP/data1.
	my $db1 = Ecsd::pg() ? Ecsd::pg_createdb() : undef;
	my $d = start_raw('-D', "$TMP/data1", '-l', '127.0.0.1:0', Ecsd::store_options($db1));
	ok($d->{port}, 'daemon started with -l 127.0.0.1:0') or diag(logtext($d));
	my $log = logtext($d);
	my @ready = grep { /ready/ } split /\n/, $log;
	is(scalar @ready, 1, 'exactly one ready line');
	like($ready[0] // '', qr/^ecsd: info: ready http=127\.0\.0\.1:([1-9][0-9]*)$/, 'ready line format');
	isnt($d->{port}, 0, 'the actual port, not 0');
	if (Ecsd::pg()) {
		like($log, qr/^ecsd: info: store postgresql host=\S+ dbname=\Q$db1\E user=\S+, sync=full$/m,
		    'the log names the backend and the database');
	} else {
		like($log, qr{^ecsd: info: store sqlite \Q$TMP\E/data1/ecsd\.db, sync=full$}m,
		    'the log names the backend and the database');
	}
	ok(-d "$TMP/data1", '-D directory created');
	my $resp = http($d->{port}, "GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	like($resp, qr{\AHTTP/1\.1 404}, 'serves on the announced port');
	my $auth = 'Basic ' . MIME::Base64::encode_base64('admin:cli-test-pw', '');
	$resp = http($d->{port}, "GET /admin/participants HTTP/1.1\r\nHost: x\r\nAuthorization: $auth\r\nConnection: close\r\n\r\n");
	like($resp, qr{\AHTTP/1\.1 200}, 'admin API with ECSD_ADMIN_PASSWORD');
	sleep 0.3;
	$log = logtext($d);
	like($log, qr{^ecsd: info: 127\.0\.0\.1 pid=- GET /no/such/path 404 [0-9.]+ms$}m,
	    'request log line (pid=-)');
	like($log, qr{^ecsd: info: 127\.0\.0\.1 admin GET /admin/participants 200 [0-9.]+ms$}m,
	    'request log line (admin)');
	unlike($log, qr/^(?!ecsd: (info|warn|debug|error): ).+$/m, 'every log line is "ecsd: LEVEL: text"');

	# the same port again: runtime error, exit 1
	my $r = run('-D', "$TMP/data2", '-l', "127.0.0.1:$d->{port}", Ecsd::store_options());
	is($r->{exit}, 1, 'port in use: exit 1') or diag($r->{all});
	like($r->{err}, qr/^ecsd: /m, 'port in use: error on stderr');

	my $st = stop_raw($d, 'TERM');
	is($st, 0, 'SIGTERM: exit 0');
	is(logtext($d) =~ /AddressSanitizer|runtime error/ ? 1 : 0, 0, 'no sanitizer reports');

	$d = start_raw('-o', "datadir=$TMP/data1", '-o', 'listen=127.0.0.1:0',
	    Ecsd::store_options($db1));
	ok($d->{port}, 'restart with -o datadir/listen on the same datadir');
	$st = stop_raw($d, 'INT');
	is($st, 0, 'SIGINT: exit 0');

	my $conf = conffile('run.conf', "listen = 127.0.0.1:1\ndatadir = $TMP/data3\n");
	$d = start_raw('-c', $conf, '-o', 'listen=127.0.0.1:0', Ecsd::store_options());
	ok($d->{port}, '-o overrides the file');
	$st = stop_raw($d, 'TERM');
	is($st, 0, 'exit 0');

	if (Ecsd::pg()) {
		my $dsn = Ecsd::pg_dsn($db1) . " password='not in the log'";
		$d = start_raw('-D', "$TMP/data1", '-l', '127.0.0.1:0', '-o', 'store=postgresql',
		    '-o', "postgresql_dsn=$dsn");
		ok($d->{port}, 'started with a password in postgresql_dsn') or diag(logtext($d));
		unlike(logtext($d), qr/not in the log/, 'the password is not logged');
		like(logtext($d), qr/^ecsd: info: store postgresql .*password=\*/m, 'it is shown as *');
		is(stop_raw($d, 'TERM'), 0, 'exit 0');
	}

	open(my $fh, '>', "$TMP/plainfile") or die;
	close $fh;
	$r = run('-D', "$TMP/plainfile", '-l', '127.0.0.1:0', Ecsd::store_options());
	is($r->{exit}, 1, 'datadir is a file: exit 1') or diag($r->{all});
}

# ---------------------------------------------------------------- idle_timeout
{
	my $d = Ecsd->start(conf => { idle_timeout => 1 });
	my $s = IO::Socket::INET->new(PeerAddr => $d->host, PeerPort => $d->port, Timeout => 5);
	ok($s, 'connected');
	my $t0 = time;
	my $sel = IO::Select->new($s);
	my $closed = 0;
	while (time - $t0 < 8) {
		next unless $sel->can_read(0.5);
		my $n = sysread($s, my $buf, 100);
		if (!$n) { $closed = 1; last }
	}
	my $dt = time - $t0;
	ok($closed, 'idle connection closed by the server (idle_timeout = 1)');
	ok($dt >= 0.5 && $dt < 5, sprintf('after about a second (%.1f s)', $dt));
	is($d->client->get('/no/such')->{status}, 404, 'still serving');
	$d->stop_ok('ecsd (idle_timeout)');
}

# ---------------------------------------------------------------- log lines through the harness
{
	my $d = Ecsd->start;
	$d->fixture_spec;
	my $r = $d->as('ulama')->get('/sys/events');
	is($r->{status}, 200, 'authenticated request');
	my $pid = $d->pid('P2');
	ok($d->loggrep(qr{^ecsd: info: 127\.0\.0\.1 pid=\Q$pid\E GET /sys/events 200 [0-9.]+ms$}, 5),
	    'request log line with pid=<pid>');
	$d->as('nobody')->get('/sys/events');
	ok($d->loggrep(qr{^ecsd: info: 127\.0\.0\.1 pid=- GET /sys/events 401 [0-9.]+ms$}, 5),
	    'failed authentication logged with pid=-');
	$d->stop_ok;
}

done_testing;
