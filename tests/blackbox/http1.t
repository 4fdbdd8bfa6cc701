# HTTP/1.1 as ecsd's own connection layer reads and answers it (conn.c):
# the exact status of each kind of malformed request, and that the
# connection closes after it; HTTP/1.0 with and without keep-alive,
# Connection: close, pipelined requests with bodies, chunked bodies with
# extensions and trailers, requests that arrive a byte at a time, HEAD.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();
$SIG{PIPE} = 'IGNORE';

my $d = Ecsd->start;
$d->fixture_spec;
my $A1 = $d->authid('P1');
my $A2 = $d->authid('P2');
my $M2 = $d->mid(P2 => 'WUV');
my $X = '/numlab/exercises';

# Read until the peer closes or $timeout seconds pass without a byte;
# (bytes, closed).
sub slurp {
	my ($s, $timeout) = @_;
	my ($buf, $closed) = ('', 0);
	my $sel = IO::Select->new($s);
	while ($sel->can_read($timeout)) {
		my $n = sysread($s, my $chunk, 65536);
		if (!$n) {
			$closed = 1;
			last;
		}
		$buf .= $chunk;
	}
	return ($buf, $closed);
}

# Send $bytes on a new connection; (status line codes, bytes, closed).
sub exchange {
	my ($bytes, $timeout) = @_;
	my $s = $d->raw_socket;
	print $s $bytes;
	my ($buf, $closed) = slurp($s, $timeout // 2);
	close $s;
	# replies follow each other's bodies directly
	my @st = $buf =~ m{HTTP/1\.[01] (\d{3}) }g;
	return (\@st, $buf, $closed);
}

my $get2 = "GET /sys/memberships HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A2\r\n";

subtest 'malformed requests: exact status, then the connection closes' => sub {
	my @cases = (
		[ 'HTTP/2.0 request line', "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 ],
		[ 'TRACE', "TRACE /sys/memberships HTTP/1.1\r\nHost: x\r\n\r\n", 501 ],
		[ 'CONNECT', "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501 ],
		[ 'unknown method', "BREW /sys/memberships HTTP/1.1\r\nHost: x\r\n\r\n", 400 ],
		[ 'Transfer-Encoding: gzip', "POST $X HTTP/1.1\r\nHost: x\r\n" .
		    "Transfer-Encoding: gzip\r\n\r\n", 501 ],
		[ 'two Transfer-Encoding headers', "POST $X HTTP/1.1\r\nHost: x\r\n" .
		    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 ],
		[ 'folded header line', "GET /sys/memberships HTTP/1.1\r\nHost: x\r\n" .
		    "X-EcsAuthId: $A2\r\n  continued\r\n\r\n", 400 ],
		[ 'space before the colon', "GET /sys/memberships HTTP/1.1\r\nHost : x\r\n\r\n", 400 ],
		[ 'header line without a colon', "GET /sys/memberships HTTP/1.1\r\nHost: x\r\nX-Flag\r\n\r\n", 400 ],
		[ 'header without a name', "GET /sys/memberships HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400 ],
		[ 'differing Content-Length', "POST $X HTTP/1.1\r\nHost: x\r\n" .
		    "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400 ],
		[ 'Content-Length with a sign', "POST $X HTTP/1.1\r\nHost: x\r\n" .
		    "Content-Length: +3\r\n\r\nabc", 400 ],
		[ 'chunk size not hex', "POST $X HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A1\r\n" .
		    "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400 ],
		[ 'chunk without its CRLF', "POST $X HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A1\r\n" .
		    "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", 400 ],
		[ 'Expect: other', "POST $X HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n" .
		    "Content-Length: 1\r\n\r\nx", 417 ],
		[ 'three words in the target', "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400 ],
	);
	for my $c (@cases) {
		my ($name, $bytes, $want) = @$c;
		# a good request pipelined behind it must not be answered
		my ($st, $buf, $closed) = exchange($bytes . "$get2\r\n");
		is("@$st", $want, "$name: $want, nothing after it") or diag($buf);
		like($buf, qr/\r\n\r\n[^\n]+\n\z/, "$name: one line of text");
		ok($closed, "$name: connection closed");
	}
	# a bad target is refused by the router, not the parser: the
	# connection goes on
	my ($st) = exchange("GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n$get2\r\n");
	is("@$st", '400 200', 'bad target: 400, and the next request is answered');
};

subtest 'HTTP/1.0 and Connection' => sub {
	my ($st, $buf, $closed) = exchange("GET /sys/memberships HTTP/1.0\r\nX-EcsAuthId: $A2\r\n\r\n");
	is("@$st", '200', 'HTTP/1.0: 200');
	like($buf, qr{\AHTTP/1\.0 200 OK\r\n}, 'answered as HTTP/1.0');
	unlike($buf, qr/^Date:/mi, 'no Date for HTTP/1.0 (as before)');
	ok($closed, 'HTTP/1.0 without keep-alive: closed after the reply');

	my $ka = "GET /sys/memberships HTTP/1.0\r\nConnection: keep-alive\r\nX-EcsAuthId: $A2\r\n\r\n";
	($st, $buf, $closed) = exchange($ka x 2);
	is("@$st", '200 200', 'HTTP/1.0 keep-alive: two answers on one connection');
	like($buf, qr/^Connection: keep-alive\r$/mi, 'with Connection: keep-alive');

	($st, $buf, $closed) = exchange("GET /sys/memberships HTTP/1.1\r\nHost: x\r\n" .
	    "Connection: close\r\nX-EcsAuthId: $A2\r\n\r\n$get2\r\n");
	is("@$st", '200', 'Connection: close: one answer');
	like($buf, qr/^Connection: close\r$/mi, 'saying Connection: close');
	ok($closed, 'and the connection closed');
};

subtest 'pipelined requests with bodies, answered in order' => sub {
	my $post = "POST $X HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A1\r\n" .
	    "X-EcsReceiverMemberships: $M2\r\nContent-Type: text/plain\r\n";
	my $bytes = $post . "Content-Length: 5\r\n\r\nfirst" .
	    $post . "Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nsec\r\n3\r\nond\r\n0\r\nX-Trailer: t\r\n\r\n" .
	    "$get2\r\n";
	my ($st, $buf) = exchange($bytes);
	is("@$st", '201 201 200', 'three answers in order') or diag($buf);
	my @loc = $buf =~ m{^Location: \S+/(\d+)\r$}mg;
	is(scalar @loc, 2, 'two messages created');
	my $p2 = $d->as('P2');
	is($p2->get("$X/$loc[0]")->{body}, 'first', 'the first body');
	is($p2->get("$X/$loc[1]")->{body}, 'second', 'the chunked body, extensions and trailer dropped');
};

subtest 'a request that arrives a byte at a time' => sub {
	my $s = $d->raw_socket;
	for my $c (split //, "\r\n$get2\r\n") {
		print $s $c;
		select(undef, undef, undef, 0.002);
	}
	my ($buf) = slurp($s, 2);
	close $s;
	like($buf, qr{\AHTTP/1\.1 200 }, 'answered 200 (a leading empty line is ignored)');
	my ($st) = exchange("GET /sys/memberships HTTP/1.1\nHost: x\nX-EcsAuthId: $A2\n\n");
	is("@$st", '200', 'bare LF line ends: 200');
};

subtest 'HEAD' => sub {
	my ($st, $buf) = exchange("GET /sys/memberships HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A2\r\n\r\n" .
	    "HEAD /sys/memberships HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A2\r\n\r\n");
	is("@$st", '200 200', 'GET and HEAD answered');
	my ($get, $head) = split(/(?=HTTP\/1\.1 200 )/, $buf);
	my ($glen) = $get =~ /^Content-Length: (\d+)\r$/mi;
	my ($hlen) = $head =~ /^Content-Length: (\d+)\r$/mi;
	ok($glen > 0, "GET has a body ($glen bytes)");
	is($hlen, $glen, 'HEAD gives the same Content-Length');
	like($head, qr/\r\n\r\n\z/, 'and no body');
};

subtest 'a client gone before its reply is dropped, the daemon goes on' => sub {
	for (1 .. 20) {
		my $s = $d->raw_socket;
		print $s "POST $X HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: $A1\r\n" .
		    "X-EcsReceiverMemberships: $M2\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
		close $s;
	}
	my ($st) = exchange("$get2\r\n");
	is("@$st", '200', 'served after 20 clients hung up on their requests');
};

my @err = $d->loggrep(qr/^ecsd: (error|crit|alert|emerg)/i);
is(scalar @err, 0, 'no error-level log lines') or diag(join "\n", @err);
$d->stop_ok;
done_testing;
