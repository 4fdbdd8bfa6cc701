# Limits and hostile clients: connections over max_connections get 503,
# a trickled request gets 408 after request_timeout (on that connection
# only, however many came and went before), header blocks over
# max_headers get 431, pipelined and half-closed requests are answered, and
# thousands of idle connections neither stop others nor grow memory much.
use strict;
use warnings;
use Test::More;
use IO::Socket::IP;
use Time::HiRes qw(time sleep);
use Socket qw(SHUT_WR);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();
$SIG{PIPE} = 'IGNORE';	# the trickling client writes after the 408

my $d = Ecsd->start(conf => { max_connections => 20, request_timeout => 2,
    max_body => 16 << 20,
    max_headers => 4096 });
$d->fixture_spec;

sub raw_request {
	my ($path, %h) = @_;
	my $r = "GET $path HTTP/1.1\r\nHost: x\r\n";
	$r .= "$_: $h{$_}\r\n" for sort keys %h;
	return "$r\r\n";
}

# Read whatever arrives until the peer closes or timeout seconds pass.
sub slurp {
	my ($s, $timeout) = @_;
	my $buf = '';
	my $end = time + $timeout;
	while (time < $end) {
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		last unless select(my $rout = $rin, undef, undef, 0.1) >= 0;
		next unless vec($rout, fileno($s), 1);
		my $n = sysread($s, my $chunk, 65536);
		last unless $n;
		$buf .= $chunk;
	}
	return $buf;
}

my $p2 = $d->as('P2');

subtest 'connections over max_connections get 503' => sub {
	my @idle = map { $d->raw_socket } 1 .. 20;
	sleep 0.3;
	my $s = $d->raw_socket;
	print $s raw_request('/sys/events', 'X-EcsAuthId' => 'ulama');
	my $got = slurp($s, 3);
	like($got, qr{^HTTP/1\.1 503 }, 'the 21st connection is answered 503');
	like($got, qr{\r\n\r\nToo many connections[^\n]*\n\z}, 'with one line of text');
	close $_ for @idle, $s;
	sleep 1;
	my $r = $d->as('P2')->fresh->get('/sys/events');
	is($r->{status}, 200, 'once they are gone, new connections are served');
};

subtest 'a trickled request gets 408 and the others are served meanwhile' => sub {
	my $s = $d->raw_socket;
	my $t0 = time;
	my $got = '';
	for my $c (split //, "GET /sys/events HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\nX-Slow: ") {
		last if time - $t0 > 6;
		last unless print $s $c;
		my $r = $p2->get('/sys/memberships');
		is($r->{status}, 200, 'another client is served') if $c eq 'X';
		sleep 0.2;
	}
	$got = slurp($s, 4);
	like($got, qr{^HTTP/1\.1 408 }, '408 Request Timeout');
	my $dt = time - $t0;
	ok($dt >= 2, "not before request_timeout (${dt}s)");
	close $s;
};

subtest 'header blocks over max_headers get 431' => sub {
	my $r = $p2->get('/sys/events', headers => { 'X-Big' => 'a' x 5000 });
	is($r->{status}, 431, 'answered 431');
	like($r->{body}, qr/^Request header fields too large\n\z/, 'one line of text');
	is($p2->get('/sys/events')->{status}, 200, 'and the next request is fine');
};

subtest 'pipelined requests are answered in order' => sub {
	my $s = $d->raw_socket;
	print $s join('', map { raw_request("/sys/events?count=$_", 'X-EcsAuthId' => 'ulama') } 1 .. 3);
	my $got = slurp($s, 2);
	my @st = $got =~ m{HTTP/1\.1 (\d+) }g;
	is_deeply(\@st, [200, 200, 200], 'three answers') or diag($got);
	close $s;
};

subtest 'a half-closed socket still gets its answer' => sub {
	my $s = $d->raw_socket;
	print $s raw_request('/sys/events', 'X-EcsAuthId' => 'ulama', Connection => 'close');
	shutdown($s, SHUT_WR);
	like(slurp($s, 2), qr{^HTTP/1\.1 200 }, '200 after shutdown(SHUT_WR)');
	close $s;
};

# A reply is written as soon as it is ready, and what the socket does not
# take then is written as the client reads: a client that reads a large
# reply late gets all of it, and the connection goes on.
subtest 'a large reply reaches a client that reads it late' => sub {
	my $body = join("", map { sprintf("%07d\n", $_) } 1 .. 1_250_000);	# 10 MB
	my $r = $d->as('P1')->post('/numlab/results', body => $body,
	    ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 201, 'a 10 MB message is created') or return;
	my $id = Ecsd::loc_id($r);
	my $s = $d->raw_socket;
	print $s raw_request("/numlab/results/$id", 'X-EcsAuthId' => 'ulama');
	sleep 1;
	my $got = '';
	until ($got =~ /\r\nContent-Length: (\d+)\r\n.*?\r\n\r\n/s &&
	    length($got) >= $+[0] + $1) {
		my $n = sysread($s, my $chunk, 65536);
		last unless $n;
		$got .= $chunk;
	}
	my ($head, $rest) = split(/\r\n\r\n/, $got, 2);
	like($head, qr{^HTTP/1\.1 200 }, 'answered 200');
	ok(defined $rest && $rest eq $body, 'with the whole body, in order');
	print $s raw_request('/sys/events', 'X-EcsAuthId' => 'ulama');
	like(slurp($s, 2), qr{^HTTP/1\.1 200 }, 'and the connection goes on');
	close $s;
};

subtest 'invalid UTF-8 in JSON is refused' => sub {
	my $r = $d->admin->post('/admin/communities', body => "{\"name\":\"\xff\xfe\"}",
	    ctype => 'application/json');
	is($r->{status}, 400, 'admin JSON with invalid UTF-8: 400');
	$r = $d->as('P1')->post('/sys/auths', body => "{\"url\":\"\xc3\x28\"}",
	    ctype => 'application/json', headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 400, 'token JSON with invalid UTF-8: 400');
	is($r->{body}, "Invalid JSON body\n", 'spec text');
};

sub rss_kb {
	my ($x) = @_;
	open(my $fh, '<', "/proc/$x->{pid}/status") or return 0;
	while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
	return 0;
}

$d->stop_ok('limits daemon');

# After many connections have come and gone, each one that trickles a
# request gets its 408 and one that sends nothing gets nothing. (Until
# c097d0f connections lived in an open-addressing table, where closing one
# moved others back into its slot, and a moved one lost its reads to its
# old slot; they are a list now, and the test stays.)
subtest 'reads count for their own connection after others close' => sub {
	my $t = Ecsd->start(conf => { max_connections => 20, request_timeout => 1,
	    idle_timeout => 60 });
	my @conns = map { $t->raw_socket } 1 .. 76;
	for my $round (1 .. 8) {
		# Close half; the sweep lets them go and moves others back.
		my @keep;
		for my $i (0 .. $#conns) {
			if (($i + $round) % 2) { close $conns[$i] } else { push @keep, $conns[$i] }
		}
		sleep 0.3;
		@conns = (@keep, map { $t->raw_socket } 1 .. 76 - @keep);
	}
	my @trickle = @conns[0 .. 59];
	my @quiet = @conns[60 .. $#conns];
	print $_ "GET /sys/events HTTP/1.1\r\nHost: x\r\n" for @trickle;
	sleep 2;	# past request_timeout, and a sweep
	my $timedout = grep { slurp($_, 0.2) =~ m{^HTTP/1\.1 408 } } @trickle;
	is($timedout, scalar @trickle, 'every trickling connection got 408');
	my $rin = '';
	vec($rin, fileno($_), 1) = 1 for @quiet;
	is(select(my $rout = $rin, undef, undef, 0), 0,
	    'no quiet connection got anything');
	close $_ for @conns;
	$t->stop_ok('connection-table daemon');
};

subtest 'thousands of idle connections' => sub {
	my $big = Ecsd->start(conf => { max_connections => 5000, idle_timeout => 30 });
	$big->fixture_spec;
	my $before = rss_kb($big);
	my @idle;
	for (1 .. 2000) {
		my $s = IO::Socket::IP->new(PeerHost => $big->host, PeerPort => $big->port,
		    Type => SOCK_STREAM) or last;
		push @idle, $s;
	}
	is(scalar @idle, 2000, '2000 idle connections open');
	sleep 0.5;
	my $t0 = time;
	my $r = $big->as('P2')->fresh->get('/sys/memberships');
	is($r->{status}, 200, 'a normal client is still served');
	my $after = rss_kb($big);
	ok($after - $before < 64 * 1024, "RSS grew by " . ($after - $before) . " KiB (< 64 MiB)");
	close $_ for @idle;
	$big->stop_ok('idle-connections daemon');
};

done_testing();
