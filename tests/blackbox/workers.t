# workers = N: one ecsd, several processes on one PostgreSQL database.
# Connections are spread over the workers; poppers on all of them get every
# message exactly once; a waiter on one worker is woken by a post through
# another; ecs-bench -k counts the workers; a worker that dies is started
# again while the others serve; only worker 0 runs the plugins; HTTPS is
# served too; the master stops them all on SIGTERM, and they go when the
# master is killed. On SQLite, workers > 1 is refused (one writer).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time sleep);
use JSON::PP ();
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();

my $tmp = tempdir('ecsd-workers-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---------------------------------------------------------------- refused

subtest 'SQLite: more than one worker is refused' => sub {
	my $out = `'${\ Ecsd::_binary()}' -n -o store=sqlite -o workers=2 -D $tmp/d 2>&1`;
	is($? >> 8, 1, 'ecsd -n exits 1');
	like($out, qr/workers = 2 needs store = postgresql/, 'and says why');
	$out = `'${\ Ecsd::_binary()}' -n -o store=sqlite -o workers=1 -D $tmp/d 2>&1`;
	is($? >> 8, 0, 'one worker is fine') or diag($out);
	$out = `'${\ Ecsd::_binary()}' -n -o workers=65 -D $tmp/d 2>&1`;
	isnt($? >> 8, 0, 'workers = 65 is out of range');
};

unless (Ecsd::pg()) {
	note('the workers themselves need PostgreSQL (ECSD_TEST_PGHOST, see tests/pg/pgserver)');
	done_testing;
	exit 0;
}

my $X = '/numlab/exercises';
my $N = 3;

# The pids of $n workers by number, from their "serving" lines, once all
# serve (and none is the pid $want).
sub workers_of {
	my ($d, $n, $want) = @_;
	my %w;
	my $deadline = time + 10;
	while (time < $deadline) {
		my $log = $d->log;
		%w = ();
		$w{$1} = $2 while $log =~ /worker (\d+) \(pid (\d+)\) serving/g;
		last if keys %w == $n && !(defined $want && grep { $w{$_} == $want } keys %w);
		sleep 0.1;
	}
	return %w;
}

# The worker (its pid) holding the server side of a client's connection:
# the socket in /proc/net/tcp whose peer is the client's port, and the
# worker that has that socket open.
sub worker_of {
	my ($d, $c, %w) = @_;
	my $lport = $c->{sock} ? $c->{sock}->sockport : return undef;
	my $inode;
	open(my $fh, '<', '/proc/net/tcp') or return undef;
	while (<$fh>) {
		my @f = split;
		next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
		next unless hex($1) == $d->port && $f[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $lport;
		$inode = $f[9];
	}
	close $fh;
	return undef unless $inode;
	for my $pid (values %w) {
		opendir(my $dh, "/proc/$pid/fd") or next;
		for my $fd (readdir $dh) {
			my $t = readlink("/proc/$pid/fd/$fd") // next;
			return $pid if $t eq "socket:[$inode]";
		}
	}
	return undef;
}

# A client of participant $who on a fresh connection, connected.
sub connected {
	my ($d, $who) = @_;
	my $c = $d->as($who)->fresh;
	$c->get('/sys/memberships');
	return $c;
}

# Whether a process runs (a zombie does not).
sub alive {
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $st = <$fh> // '';
	return $st !~ /^\d+ \(.*\) Z /;
}

my $d = Ecsd->start(conf => { workers => $N });
ok($d->loggrep(qr/^ecsd: info: ready http=\S+ workers=$N$/), "the master is ready with $N workers");
my %w = workers_of($d, $N);
is_deeply([sort keys %w], [0 .. $N - 1], 'each worker says it serves');
is(scalar(keys %{ { reverse %w } }), $N, 'in a process of its own');
$d->fixture_spec;

subtest 'connections are spread over the workers' => sub {
	my %on;
	for (1 .. 24) {
		my $c = connected($d, 'P2');
		my $pid = worker_of($d, $c, %w);
		$on{ $pid // 'none' }++;
	}
	ok(!$on{none}, 'every connection is held by a worker') or diag(explain \%on);
	cmp_ok(scalar(grep { $_ ne 'none' } keys %on), '>=', 2, 'by more than one (' .
	    join(', ', map { "$_: $on{$_}" } sort keys %on) . ')');
};

subtest 'poppers on every worker get each message once' => sub {
	my $wuv = $d->mid(P2 => 'WUV');
	my $per = 150;
	my $done = "$tmp/posted";
	my (@posters, @poppers);
	for my $k (1 .. 3) {
		push @posters, child("$tmp/post$k", sub {
			my ($fh) = @_;
			my $c = $d->as('P1')->fresh;
			for my $i (1 .. $per) {
				my $r = $c->post($X, body => "m$k-$i", ctype => 'text/plain',
				    headers => { 'X-EcsReceiverMemberships' => $wuv });
				print $fh $r->{status} == 201 ? "posted m$k-$i\n" : "status $r->{status}\n";
			}
		});
	}
	for my $k (1 .. 6) {
		push @poppers, child("$tmp/pop$k", sub {
			my ($fh) = @_;
			# two poppers per worker: popper k on worker k mod N
			my $want = $w{ $k % $N };
			my $c = connected($d, 'P2');
			for (1 .. 50) {
				last if (worker_of($d, $c, %w) // 0) == $want;
				$c = connected($d, 'P2');
			}
			print $fh 'worker ' . (worker_of($d, $c, %w) // '-') . "\n";
			pop_until_done($c, $X, $done, $fh, 300);
		});
	}
	my $bad = 0;
	waitpid($_, 0), $bad += $? != 0 for @posters;
	is($bad, 0, 'the posters finished');
	open(my $f, '>', $done) or die;
	close $f;
	$bad = 0;
	waitpid($_, 0), $bad += $? != 0 for @poppers;
	is($bad, 0, 'the poppers finished');
	my (%posted, %popped, %status, %by);
	for my $k (1 .. 3) {
		for (lines_of("$tmp/post$k")) {
			$posted{$1}++ if /^posted (\S+)$/;
			$status{$1}++ if /^status (\d+)$/;
		}
	}
	for my $k (1 .. 6) {
		my $wk = '-';
		for (lines_of("$tmp/pop$k")) {
			$wk = $1 if /^worker (\S+)$/;
			$popped{$1}++, $by{$wk}++ if /^popped (.*)$/;
			$status{$1}++ if /^status (\d+)$/;
		}
	}
	is(scalar(keys %posted), 3 * $per, 'every post answered 201');
	is_deeply(\%status, {}, 'every request answered as it should');
	is(scalar(grep { !$popped{$_} } keys %posted), 0, 'no message lost');
	is(scalar(grep { $popped{$_} > 1 } keys %popped), 0, 'none popped twice');
	is(scalar(grep { !$posted{$_} } keys %popped), 0, 'nothing popped that was not posted');
	cmp_ok(scalar(grep { $_ ne '-' } keys %by), '>=', 2, 'popped through more than one worker (' .
	    join(', ', map { "$_: $by{$_}" } sort keys %by) . ')');
};

subtest 'a waiter on one worker is woken by a post through another' => sub {
	my ($wc, $ww, $pc, $pw);
	for (1 .. 50) {
		$wc = connected($d, 'P3');
		last if defined($ww = worker_of($d, $wc, %w));
	}
	for (1 .. 50) {
		$pc = connected($d, 'P1');
		$pw = worker_of($d, $pc, %w);
		last if defined $pw && $pw != $ww;
	}
	isnt($pw, $ww, "the waiter on pid $ww, the poster on pid $pw");
	my $t0 = time;
	$wc->start_request(POST => '/sys/events/fifo?wait=20', timeout => 30);
	sleep 0.5;
	my $id = create_ok($pc, $X, mids => [$d->mid(P3 => 'public')], body => 'wake', ctype => 'text/plain');
	my $r = $wc->finish_request;
	my $dt = time - $t0;
	is($r->{status}, 200, 'answered 200');
	is_deeply([map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] }],
	    ["numlab/exercises/$id created"], 'with the event of the post');
	ok($dt < 3, sprintf('well before its wait ran out (%.2f s)', $dt));
	is(length($d->as('P3')->post("$X/fifo")->{body}), 4, 'the message is there');
};

subtest 'ecs-bench -k counts the workers' => sub {
	my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
	my $bench = "$top/tools/ecs-bench";
	ok(-x $bench, 'ecs-bench is built') or return;
	my $master = $d->{pid};
	open(my $st, '<', "/proc/$master/status") or return fail("master status: $!");
	my ($own) = join('', <$st>) =~ /^VmRSS:\s+(\d+)/m;
	close $st;
	local $ENV{ECSD_ADMIN_PASSWORD} = $d->password;
	my $url = 'http://' . $d->host . ':' . $d->port;
	my $out = `'$bench' -S -u $url -R kr -s kr-sender -c 4 -n 400 -p produce,consume -k $master 2>&1`;
	is($? >> 8, 0, 'ecs-bench ran') or diag($out);
	my ($rss) = $out =~ /^RESULT phase=consume .* rss_kb=(\d+)/m;
	my ($us) = $out =~ /^RESULT phase=consume .* srv_us_req=([\d.]+)/m;
	cmp_ok($rss // 0, '>', 2 * $own, "RSS of the master and its $N workers ($own kB alone)");
	cmp_ok($us // 0, '>', 0, 'CPU per request of the workers, not of the idle master');
};

subtest 'a worker killed is started again; the others serve meanwhile' => sub {
	my $victim = $w{1};
	ok(kill('KILL', $victim), "worker 1 (pid $victim) killed");
	my $ok = 0;
	for (1 .. 20) {
		$ok++ if $d->as('P2')->fresh->get('/sys/memberships')->{status} == 200;
	}
	is($ok, 20, 'twenty requests on fresh connections answered meanwhile');
	my %now = workers_of($d, $N, $victim);
	ok(defined $now{1} && $now{1} != $victim, 'worker 1 serves again in a new process (' .
	    ($now{1} // 'none') . ')');
	ok($d->loggrep(qr/^ecsd: warning: worker 1 \(pid $victim\) killed by signal 9: starting it again/),
	    'the master said what happened');
	is(alive($now{0}) + alive($now{2}), 2, 'the other workers kept running');
	%w = %now;
	my $c = connected($d, 'P2');
	for (1 .. 30) {
		last if (worker_of($d, $c, %w) // 0) == $w{1};
		$c = connected($d, 'P2');
	}
	is(worker_of($d, $c, %w), $w{1}, 'the new worker takes connections');
	is($c->get('/sys/memberships')->{status}, 200, 'and answers them');
};

subtest 'SIGTERM stops the master and every worker' => sub {
	my @pids = values %w;
	$d->stop_ok('ecsd with workers');
	is(scalar(grep { alive($_) } @pids), 0, 'no worker left');
	ok($d->loggrep(qr/^ecsd: info: $N workers stopped$/), 'the master said so');
};

subtest 'worker 0 alone runs the plugins, which answer on fresh connections' => sub {
	my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
	my ($host, $echo) = ("$top/tools/ecc-host", "$top/plugins/echo/echo.so");
	ok(-x $host && -f $echo, 'ecc-host and the echo plugin are built') or return;
	my $e = Ecsd->start(conf => { workers => 2, plugin_host => $host,
	    'plugin echo.path' => $echo, 'plugin echo.communities' => 'demo' });
	ok(scalar($e->loggrep(qr/plugin echo: started as pid \d+/, 10)), 'the plugin started');
	$e->setup({
		organizations => [{ name => 'Test Org', abbr => 'TO', description => '' }],
		communities => [{ name => 'demo', description => '' }],
		participants => [{ name => 'alice', description => '', dns => '',
		    email => '', organization => 'Test Org',
		    community_selfrouting => JSON::PP::false(),
		    events => JSON::PP::true(), auth_ids => ['alice'],
		    communities => ['demo'] }],
	});
	my $pmid = $e->mid('plugin-echo' => 'demo');
	my ($ok, $echoed) = (0, 0);
	for my $i (1 .. 6) {
		my $c = $e->as('alice')->fresh;
		$ok++ if $c->post('/echo/messages', body => "hello $i", ctype => 'text/plain',
		    headers => { 'X-EcsReceiverMemberships' => $pmid })->{status} == 201;
	}
	is($ok, 6, 'six messages to the plugin, on fresh connections');
	my $deadline = time + 15;
	my %got;
	while (time < $deadline && keys %got < 6) {
		my $r = $e->as('alice')->fresh->post('/echo/replies/fifo');
		if ($r->{status} == 200 && length $r->{body}) {
			$got{ $r->{body} }++;
		} else {
			sleep 0.1;
		}
	}
	is_deeply([sort keys %got], [map { "hello $_" } 1 .. 6], 'each echoed once');
	my @lines = grep { /plugin echo: started as pid/ } split /\n/, $e->log;
	is(scalar(@lines), 1, 'one plugin process for the two workers');
	$e->stop_ok('ecsd with workers and a plugin');
};

subtest 'HTTPS with workers' => sub {
	my $cert = "$tmp/cert.pem";
	my $key = "$tmp/key.pem";
	my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout $key -out $cert 2>&1`;
	ok(-s $cert && -s $key, 'a certificate') or return diag($out);
	my $e = Ecsd->start(conf => { workers => 2, listen_tls => '127.0.0.1:0',
	    tls_cert => $cert, tls_key => $key });
	my ($ready) = $e->loggrep(qr/ready http=\S+ https=(\S+) workers=2/);
	ok($ready, 'the ready line names the HTTPS address') or return diag($e->log);
	my ($https) = $ready =~ /https=(\S+)/;
	my %codes;
	for (1 .. 6) {
		my $code = `curl -sk -o /dev/null -w '%{http_code}' https://$https/sys/memberships`;
		$codes{$code}++;
	}
	is_deeply(\%codes, { 401 => 6 }, 'six HTTPS requests answered (401 without credentials)');
	$e->stop_ok('ecsd with workers on HTTPS');
};

subtest 'the workers go when the master is killed' => sub {
	my $e = Ecsd->start(conf => { workers => 2 });
	my %ew = workers_of($e, 2);
	is(scalar(keys %ew), 2, 'two workers');
	$e->kill9;
	my $deadline = time + 5;
	sleep 0.1 while time < $deadline && grep { alive($_) } values %ew;
	is(scalar(grep { alive($_) } values %ew), 0, 'both gone after kill -9 of the master');
};

done_testing;
