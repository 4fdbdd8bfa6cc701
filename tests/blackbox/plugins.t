#!/usr/bin/perl
# Plugins: ecc-host and the echo plugin, hosted by ecsd (a [plugin echo]
# section, supervised) and by ecc-host alone against a plain ecsd; the
# --describe output, the ABI check and the usage errors of ecc-host.
#
# Environment: ECC_TEST_WRAPPER runs the standalone ecc-host under a
# command, e.g. "valgrind --error-exitcode=99 --leak-check=full".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use JSON::PP ();
use Ecsd;

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $HOST = "$top/tools/ecc-host";
my $ECHO = "$top/plugins/echo/echo.so";
my $BAD = "$top/tests/plugins/badabi.so";
plan skip_all => "$HOST not built" unless -x $HOST;
plan skip_all => "$ECHO not built" unless -f $ECHO;
my @WRAP = split(' ', $ENV{ECC_TEST_WRAPPER} // '');
my $TMP = tempdir('plugins-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $N = 0;
my $CRASH = 'please crash now';
my $SAN = qr/AddressSanitizer|LeakSanitizer|runtime error|ERROR SUMMARY: [1-9]/;

# run([argv], {background => 1, timeout => s}) → {exit, out, err} or a job
sub run {
	my ($argv, $o) = @_;
	$o ||= {};
	$N++;
	my ($of, $ef) = ("$TMP/out.$N", "$TMP/err.$N");
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null') or POSIX::_exit(127);
		open(STDOUT, '>', $of) or POSIX::_exit(127);
		open(STDERR, '>', $ef) or POSIX::_exit(127);
		exec(@WRAP, @$argv) or POSIX::_exit(127);
	}
	my $j = { pid => $pid, of => $of, ef => $ef };
	return $j if $o->{background};
	return finish($j, $o->{timeout});
}

sub slurp {
	open(my $f, '<', $_[0]) or return '';
	local $/;
	my $t = <$f> // '';
	close $f;
	return $t;
}

sub finish {
	my ($j, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
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
	return { exit => ($st == -1 ? 'timeout' : ($st & 127) ?
	    'signal ' . ($st & 127) : $st >> 8),
	    out => slurp($j->{of}), err => slurp($j->{ef}) };
}

# A free loopback port, for a daemon that must come back on the same one.
sub free_port {
	my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
	    Proto => 'tcp', Listen => 1) or die "listen: $@";
	my $p = $s->sockport;
	close $s;
	return $p;
}

# Organization, community demo and the participant alice.
sub setup_alice {
	my ($d, @more) = @_;
	$d->setup({
		organizations => [{ name => 'Test Org', abbr => 'TO',
		    description => '' }],
		communities => [{ name => 'demo', description => '' }],
		participants => [{ name => 'alice', description => '', dns => '',
		    email => '', organization => 'Test Org',
		    community_selfrouting => JSON::PP::false,
		    events => JSON::PP::true, auth_ids => ['alice'],
		    communities => ['demo'] }, @more],
	});
}

# Pop alice's next reply on echo/replies, waiting up to $timeout seconds.
sub pop_reply {
	my ($d, $timeout) = @_;
	my $deadline = time + ($timeout // 15);
	my $c = $d->as('alice');
	while (time < $deadline) {
		my $r = $c->post('/echo/replies/fifo');
		return $r if $r->{status} == 200 && length $r->{body};
		sleep 0.1;
	}
	return undef;
}

# Send body/ctype from alice to the plugin, pop the echo; a summary that
# does not depend on the daemon's ids.
sub echo_once {
	my ($d, $plugin, $body, $ctype) = @_;
	my $pmid = $d->mid($plugin => 'demo');
	my $s = $d->as('alice')->post('/echo/messages', body => $body,
	    ctype => $ctype, headers => { 'X-EcsReceiverMemberships' => $pmid });
	return { error => "POST $s->{status} $s->{body}" } unless $s->{status} == 201;
	my $r = pop_reply($d);
	return { error => 'no reply' } unless $r;
	return {
		body => $r->{body},
		ctype => $r->{headers}{'content-type'},
		from_plugin => ($r->{headers}{'x-ecssender'} // '') eq $pmid ? 1 : 0,
		to_alice_in => $r->{headers}{'x-ecsreceivercommunities'} eq
		    $d->cid('demo') ? 'demo' : 'elsewhere',
	};
}

my @CASES = (['hello echo', 'text/plain'],
    ['{"answer":42}', 'application/json'],
    ["two\nlines \x{e4}", 'text/plain; charset=iso-8859-1']);

# ---------------------------------------------------------------- ecc-host CLI
{
	my $r = run([$HOST, '--describe', $ECHO]);
	is($r->{exit}, 0, '--describe exits 0') or diag($r->{err});
	is($r->{out}, "name echo\nversion 0.1.0\n" .
	    "resource echo/messages 0 1\nresource echo/replies 0 1\n",
	    '--describe: name, version and resources');

	SKIP: {
		skip "$BAD not built (make check builds it)", 3 unless -f $BAD;
		$r = run([$HOST, '--describe', $BAD]);
		is($r->{exit}, 3, 'ABI mismatch: --describe exits 3');
		$r = run([$HOST, '--url', 'http://127.0.0.1:1', '--auth-id', 'x', $BAD]);
		is($r->{exit}, 3, 'ABI mismatch: exits 3');
		like($r->{err}, qr/^ecc-host\[badabi\]: warning: .*ABI 2.*ABI 1/m,
		    'ABI mismatch: says which ABIs');
	}

	$r = run([$HOST]);
	is($r->{exit}, 2, 'no plugin: exit 2');
	like($r->{err}, qr/usage: ecc-host/, 'no plugin: usage on stderr');
	is(run([$HOST, '--auth-id', 'x', $ECHO])->{exit}, 2, 'no --url: exit 2');
	is(run([$HOST, '--url', 'http://127.0.0.1:1', '--auth-id', 'x',
	    '--user', 'u', '--password-file', '/dev/null', $ECHO])->{exit}, 2,
	    'two kinds of credentials: exit 2');
	is(run([$HOST, '--url', 'http://127.0.0.1:1', '--user', 'u', $ECHO])->{exit},
	    2, '--user without --password-file: exit 2');
	is(run([$HOST, '--url', 'http://127.0.0.1:1', '-o', 'novalue', $ECHO])->{exit},
	    2, '-o without =: exit 2');
	is(run([$HOST, '--frobnicate', $ECHO])->{exit}, 2, 'unknown option: exit 2');
	is(run([$HOST, '--describe', $ECHO, $ECHO])->{exit}, 2, 'two plugins: exit 2');

	$r = run([$HOST, '--url', 'http://127.0.0.1:1', '--auth-id', 'x',
	    "$TMP/nonexistent.so"]);
	is($r->{exit}, 1, 'a missing plugin: exit 1');
	like($r->{err}, qr/^ecc-host\[nonexistent\]: warning: cannot load/m,
	    'a missing plugin: says so');
	$r = run([$HOST, '--url', 'http://127.0.0.1:1', '--auth-id', 'x',
	    '--name', 'e1', '-o', 'bogus=1', $ECHO]);
	is($r->{exit}, 1, 'a configuration key the plugin refuses: exit 1');
	like($r->{err}, qr/^ecc-host\[e1\]: warning: .*refuses .*bogus/m,
	    'the refused key is named, with the --name prefix');
	unlike($r->{err}, $SAN, 'ecc-host: no sanitizer complaints');
}

# ---------------------------------------------------------------- ecsd hosts echo
my %hosted;
my @pids;
{
	my $d = Ecsd->start(conf => {
		plugin_host => $HOST,
		'plugin echo.path' => $ECHO,
		'plugin echo.communities' => 'demo',
		'plugin echo.crash_on' => $CRASH,
	});
	my ($started) = $d->loggrep(qr/plugin echo: started as pid \d+/, 10);
	ok($started, 'ecsd starts the plugin') or diag($d->log);
	push @pids, $started =~ /pid (\d+)/ if $started;
	like($started // '', qr/\(participant plugin-echo\)/, 'as participant plugin-echo');
	ok(scalar($d->loggrep(qr/^ecc-host\[echo\]: info: running echo/, 10)),
	    'ecc-host logs with its prefix into the ecsd log');

	setup_alice($d);
	my $pe = $d->names->{participants}{'plugin-echo'};
	ok($pe, 'participant plugin-echo exists');
	my $oid = $d->names->{organizations}{system}{id};
	is($pe->{organization_id}, $oid, 'in the organization system');
	ok(defined $d->mid('plugin-echo' => 'demo'), 'member of community demo');
	is(scalar(@{ $pe->{memberships} }), 1, 'of that community only');
	is(scalar(@{ $pe->{auth_ids} }), 1, 'with one auth id');
	my $authid = $pe->{auth_ids}[0];
	my %res = %{ $d->names->{resources} };
	ok($res{'echo/messages'} && $res{'echo/replies'}, 'resources provisioned');
	my $rm = $d->admin->get("/admin/resources/$res{'echo/messages'}");
	ok(!$rm->{json}{postroute} && $rm->{json}{events},
	    'echo/messages: postroute off, events on');

	for my $c (@CASES) {
		my $e = echo_once($d, 'plugin-echo', @$c);
		$hosted{ $c->[0] } = $e;
		is($e->{body}, $c->[0], "echo of \"$c->[1]\": same body")
		    or diag(explain($e), $d->log);
		like($e->{ctype} // '', qr/^\Q$c->[1]\E/, 'same Content-Type');
		is($e->{from_plugin}, 1, 'from the plugin\'s membership');
		is($e->{to_alice_in}, 'demo', 'to alice, in demo');
	}
	my $l = $d->as($authid)->get('/echo/messages');
	is($l->{status}, 200, 'the plugin lists echo/messages');
	is($l->{body}, '', 'the originals are deleted');
	is($d->as('alice')->post('/echo/messages/fifo')->{body}, '',
	    'alice receives no echo of the echoes');

	# A restart keeps the participant and its auth id.
	is($d->restart, 0, 'ecsd restarts (exit 0)');
	ok(scalar($d->loggrep(qr/plugin echo: started as pid/)) >= 2,
	    'the plugin is started again');
	my ($st2) = grep { /started as pid/ } reverse split /\n/, $d->log;
	push @pids, $st2 =~ /pid (\d+)/;
	$d->refresh_map;
	is_deeply($d->names->{participants}{'plugin-echo'}{auth_ids}, [$authid],
	    'restarting ecsd keeps the plugin\'s auth id');
	my $e = echo_once($d, 'plugin-echo', 'after restart', 'text/plain');
	is($e->{body}, 'after restart', 'echo after the restart');

	# Supervision: the plugin aborts, ecsd stays, restarts it.
	my $nstart = () = $d->loggrep(qr/plugin echo: started as pid/);
	my $s = $d->as('alice')->post('/echo/messages', body => $CRASH,
	    ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid('plugin-echo' => 'demo') });
	is($s->{status}, 201, 'the crash_on message is accepted');
	ok(scalar($d->loggrep(qr/ecsd: warning: plugin echo: killed by signal 6$/, 15)),
	    'ecsd logs the abort') or diag($d->log);
	ok($d->running, 'ecsd is still running');
	is($d->admin->get('/admin/participants')->{status}, 200, 'admin requests work');
	is($d->as('alice')->get('/sys/memberships')->{status}, 200,
	    'participant requests work');
	ok(scalar($d->loggrep(qr/plugin echo: restarting in 1 s/, 5)),
	    'ecsd restarts it after 1 s');
	my $deadline = time + 15;
	my @st;
	while (time < $deadline) {
		@st = $d->loggrep(qr/plugin echo: started as pid/);
		last if @st > $nstart;
		sleep 0.1;
	}
	ok(@st > $nstart, 'the plugin is started again') or diag($d->log);
	push @pids, $st[-1] =~ /pid (\d+)/ if @st > $nstart;
	$e = echo_once($d, 'plugin-echo', 'after the crash', 'text/plain');
	is($e->{body}, 'after the crash', 'the restarted plugin echoes');

	$d->stop_ok('ecsd with a plugin');
	my @left = grep { kill(0, $_) } @pids;
	is_deeply(\@left, [], "no plugin process left behind (pids @pids)");
	my @bad = grep { /$SAN/ } split /\n/, $d->log;
	ok(!@bad, 'no sanitizer complaints of the plugin host') or diag(join("\n", @bad));
}

# ---------------------------------------------------------------- ecc-host alone
{
	my $port = free_port();
	my $d = Ecsd->start(conf => { listen => "127.0.0.1:$port" });
	# Provision what ecsd would, from the --describe output.
	my $desc = run([$HOST, '--describe', $ECHO])->{out};
	my @res;
	for my $l (split /\n/, $desc) {
		next unless $l =~ m{^resource (\S+)/(\S+) ([01]) ([01])$};
		push @res, { namespace => $1, name => $2,
		    postroute => $3 ? JSON::PP::true : JSON::PP::false,
		    events => $4 ? JSON::PP::true : JSON::PP::false };
	}
	is(scalar(@res), 2, 'two resources described');
	for my $r (@res) {
		my $c = $d->admin->post('/admin/resources', json => $r);
		is($c->{status}, 201, "resource $r->{namespace}/$r->{name} created");
	}
	setup_alice($d, { name => 'echo-alone', description => 'plugin',
	    dns => '', email => '', organization => 'Test Org',
	    community_selfrouting => JSON::PP::false, events => JSON::PP::true,
	    auth_ids => ['echo-alone-id'], communities => ['demo'] });
	my $j = run([$HOST, '-v', '--url', $d->base, '--auth-id', 'echo-alone-id',
	    '--name', 'alone', $ECHO], { background => 1 });
	my $deadline = time + 10;
	sleep 0.1 while time < $deadline && slurp($j->{ef}) !~ /running echo/;
	like(slurp($j->{ef}), qr/^ecc-host\[alone\]: info: running echo/m,
	    'ecc-host runs echo');

	for my $c (@CASES) {
		my $e = echo_once($d, 'echo-alone', @$c);
		is_deeply($e, $hosted{ $c->[0] },
		    "\"$c->[1]\": the same echo as under ecsd") or diag(explain($e));
	}

	# The broker goes away and comes back on the same port.
	is($d->stop, 0, 'the broker stops');
	$deadline = time + 10;
	sleep 0.1 while time < $deadline &&
	    slurp($j->{ef}) !~ /cannot get events: .*again in \d+ s/;
	like(slurp($j->{ef}), qr/warning: cannot get events: .*again in 1 s/,
	    'ecc-host notices and backs off');
	sleep 2;
	my $n = () = slurp($j->{ef}) =~ /cannot get events/g;
	cmp_ok($n, '<=', 3, "no busy loop while the broker is away ($n tries in 2 s)");
	$d->restart;
	my $e = echo_once($d, 'echo-alone', 'back again', 'text/plain');
	is($e->{body}, 'back again', 'echo after the broker is back');
	like(slurp($j->{ef}), qr/info: getting events again/, 'ecc-host says so');

	kill 'TERM', $j->{pid};
	my $r = finish($j, 15);
	is($r->{exit}, 0, 'ecc-host exits 0 after SIGTERM') or diag($r->{err});
	like($r->{err}, qr/info: stopping \(signal 15\)\n.*info: stopped$/m,
	    'ecc-host logs the stop');
	like($r->{err}, qr/debug: event created echo\/messages\/\d+/, '-v logs each event');
	unlike($r->{err}, $SAN, 'ecc-host: no sanitizer complaints');

	# The same participant with HTTP Basic and a password file.
	my $pid = $d->names->{participants}{'echo-alone'}{pid};
	my $pw = $d->admin->put("/admin/participants/$pid/password",
	    json => { auth_id => 'echo-alone-id', password => 'echo secret' });
	is($pw->{status}, 200, 'a password for the plugin\'s identity');
	open(my $fh, '>', "$TMP/pw") or die "$TMP/pw: $!";
	print $fh "echo secret\n";
	close $fh;
	$r = run([$HOST, '--url', $d->base, '--user', 'echo-alone-id',
	    '--password-file', "$TMP/nopw", $ECHO]);
	is($r->{exit}, 1, 'an unreadable password file: exit 1');
	$j = run([$HOST, '--url', $d->base, '--user', 'echo-alone-id',
	    '--password-file', "$TMP/pw", $ECHO], { background => 1 });
	$e = echo_once($d, 'echo-alone', 'with a password', 'text/plain');
	is($e->{body}, 'with a password', 'echo with HTTP Basic');
	kill 'TERM', $j->{pid};
	$r = finish($j, 15);
	is($r->{exit}, 0, 'ecc-host (Basic) exits 0 after SIGTERM') or diag($r->{err});
	unlike($r->{err}, qr/warning/, 'ecc-host (Basic): no warnings') or diag($r->{err});
	$d->stop_ok;
}

done_testing();
