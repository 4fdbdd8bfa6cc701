#!/usr/bin/perl
# Malformed input: bad JSON, oversized bodies and headers, invalid addressing
# headers (spec 7.1, 6.3, 14), bad ids, garbage on the socket. The daemon must
# keep serving and stop cleanly afterwards.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use IO::Socket::INET;
use IO::Select;
use Ecsd;

my $MAX = 20000;
my $d = Ecsd->start(conf => { max_body => $MAX });
my $A = $d->admin;
$d->fixture_spec;
my $p1 = $d->as('my_secret_identity');
my $p2 = $d->as('ulama');
my $mid2 = $d->mid('P2', 'WUV');

my $NO_ADDR = "You must at least specify one of X-EcsReceiverMemberships or X-EcsReceiverCommunities header\r\n\n";
my $NO_CT = qq{Validation failed: *** You must povide a "Content-Type" header. \n};
my $NO_BODY = qq{Validation failed: *** You have to provide a "http body". *** \n};
my $NO_BOTH = qq{Validation failed: *** You must povide a "Content-Type" header. , *** You have to provide a "http body". *** \n};

sub alive {
	my ($name) = @_;
	my $r = $d->as('ulama')->fresh->get('/sys/memberships');
	is($r->{status}, 200, "still serving after $name");
}

# a request that may legitimately end in a closed connection
sub try_req {
	my ($c, $m, $path, %o) = @_;
	my $r = eval { $c->request($m, $path, %o) };
	return $r || { status => 'closed', body => '', headers => {}, error => $@ };
}

# status of a raw exchange; 'closed' if the server closed without answering
sub raw_status {
	my ($bytes, %o) = @_;
	my $r = eval { $d->client->raw($bytes, timeout => $o{timeout} // 10) };
	return $r ? $r->{status} : ($@ =~ /timeout/ ? 'timeout' : 'closed');
}

# ---------------------------------------------------------------- bad JSON to the admin API
{
	for my $route (qw(organizations communities resources participants memberships apply)) {
		for my $b ('{', '{"name":"x",}', "\x00", 'nul') {
			my $r = $A->post("/admin/$route", body => $b, ctype => 'application/json');
			is($r->{status}, 400, "POST /admin/$route '" . ($b =~ s/\x00/\\0/r) . "': 400");
		}
	}
	my $r = $A->post('/admin/organizations', body => qq({"name":"\xff\xfe","abbr":"zz"}),
	    ctype => 'application/json');
	is($r->{status}, 400, 'invalid UTF-8 in JSON: 400');
	$r = $A->post('/admin/organizations', json => { name => "nul\x{0}inside", abbr => 'nn' });
	ok($r->{status} == 201 || $r->{status} == 400, 'NUL inside a JSON string: 201 or 400, not 5xx')
	    or diag("$r->{status} $r->{body}");
	my $deep = '{"organizations":' . ('[' x 4000) . (']' x 4000) . '}';
	$r = $A->post('/admin/apply', body => $deep, ctype => 'application/json');
	is($r->{status}, 400, 'deeply nested JSON: 400');
	alive('bad admin JSON');
}

# ---------------------------------------------------------------- max_body
{
	my $hdr = { 'X-EcsReceiverMemberships' => $mid2 };
	my $r = $p1->post('/numlab/results', body => 'a' x $MAX, ctype => 'text/plain', headers => $hdr);
	is($r->{status}, 201, "body of exactly max_body ($MAX) accepted");
	my $ok_id = Ecsd::loc_id($r);
	$r = try_req($p1->fresh, 'POST', '/numlab/results', body => 'a' x ($MAX + 1), ctype => 'text/plain', headers => $hdr);
	is($r->{status}, 413, 'body of max_body + 1: 413');
	$r = try_req($p1->fresh, 'POST', '/numlab/results', body => 'b' x ($MAX * 5), ctype => 'text/plain',
	    headers => $hdr, expect => 1);
	is($r->{status}, 413, 'large body with Expect: 100-continue: 413');
	$r = try_req($p1->fresh, 'POST', '/numlab/results', body => 'c' x ($MAX * 2), ctype => 'text/plain',
	    headers => $hdr, chunked => [4096]);
	is($r->{status}, 413, 'large chunked body: 413');
	$r = try_req($p1->fresh, 'PUT', "/numlab/results/$ok_id", body => 'd' x ($MAX + 100), ctype => 'text/plain',
	    headers => $hdr);
	is($r->{status}, 413, 'large PUT body: 413');
	$r = try_req($A->fresh, 'POST', '/admin/organizations',
	    json => { name => 'x' x ($MAX + 10), abbr => 'big' });
	is($r->{status}, 413, 'large admin body: 413');
	my $st = raw_status("POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: my_secret_identity\r\n" .
	    "X-EcsReceiverMemberships: $mid2\r\nContent-Type: text/plain\r\n" .
	    "Content-Length: 99999999999\r\n\r\nshort");
	ok($st eq '413' || $st eq '400' || $st eq 'closed', "huge Content-Length, no body: 413/400/closed ($st)");
	is_deeply([ split /\n/, $p2->get('/numlab/results')->{body} ], ["results/$ok_id"],
	    'no oversized message was stored');
	my $g = $p2->get("/numlab/results/$ok_id");
	is(length $g->{body}, $MAX, 'the accepted one is intact');
	alive('oversized bodies');
}

# ---------------------------------------------------------------- addressing headers (7.1, 14)
{
	my $post = sub {
		my (%h) = @_;
		return $p1->post('/numlab/results', body => 'x', ctype => 'text/plain', headers => \%h);
	};
	my $r = $post->('X-EcsReceiverMemberships' => 'abc');
	is($r->{status}, 400, 'X-EcsReceiverMemberships: abc → 400');
	is($r->{body}, $NO_ADDR, 'missing-receivers text');
	$r = $post->('X-EcsReceiverMemberships' => '  ');
	is($r->{status}, 400, 'blank X-EcsReceiverMemberships → 400');
	is($r->{body}, $NO_ADDR, 'missing-receivers text (blank)');
	$r = $post->();
	is($r->{status}, 400, 'no addressing header → 400');
	is($r->{body}, $NO_ADDR, 'missing-receivers text (none)');
	$r = $post->('X-EcsReceiverMemberships' => ',,,');
	is($r->{status}, 400, 'only commas → 400');
	$r = $post->('X-EcsReceiverMemberships' => 'abc, ' . $mid2);
	is($r->{status}, 201, 'abc,<mid> ≡ <mid> → 201');
	$r = $post->('X-EcsReceiverMemberships' => '999999');
	is($r->{status}, 400, 'unknown mid → 400');
	is($r->{body}, "Membership id in X-EcsReceiverMemberships header not found.\n", 'unknown mid text');
	$r = $post->('X-EcsReceiverMemberships' => '99999999999999999999999999');
	ok($r->{status} == 400, 'mid overflowing 64 bits → 400') or diag("$r->{status} $r->{body}");
	$r = $post->('X-EcsReceiverMemberships' => '-1');
	ok($r->{status} == 400, 'negative mid → 400') or diag("$r->{status} $r->{body}");
	$r = $post->('X-EcsReceiverCommunities' => 'NoSuchCommunity');
	is($r->{status}, 400, 'unknown community name → 400');
	is($r->{body}, "community id/name in X-EcsReceiverCommunities header not found: NoSuchCommunity\n",
	    'unknown community text');
	$r = $post->('X-EcsReceiverCommunities' => 'suv');
	is($r->{status}, 400, 'community names are case-sensitive');
	$r = $post->('X-EcsReceiverCommunities' => '999999');
	is($r->{status}, 404, 'unknown community id → 404');
	is($r->{body}, "Couldn't find Community with ID=999999\n", 'unknown community id text');
	$r = $post->('X-EcsReceiverCommunities' => "\xff\xfe");
	ok($r->{status} == 400, 'binary community name → 400') or diag("$r->{status} $r->{body}");
	alive('bad addressing headers');
}

# ---------------------------------------------------------------- validation texts (6.3, 14)
{
	my $hdr = { 'X-EcsReceiverMemberships' => $mid2 };
	my $r = $p1->post('/numlab/results', body => '', ctype => 'text/plain', headers => $hdr);
	is($r->{status}, 400, 'empty body → 400');
	is($r->{body}, $NO_BODY, 'empty body text');
	$r = $p1->post('/numlab/results', body => " \r\n\t ", ctype => 'text/plain', headers => $hdr);
	is($r->{status}, 400, 'whitespace body → 400');
	is($r->{body}, $NO_BODY, 'whitespace body text');
	$r = $p1->post('/numlab/results', body => 'data', headers => $hdr);
	is($r->{status}, 400, 'no Content-Type → 400');
	is($r->{body}, $NO_CT, 'no Content-Type text');
	$r = $p1->post('/numlab/results', body => 'data', headers => { %$hdr, 'Content-Type' => '  ' });
	is($r->{status}, 400, 'blank Content-Type → 400');
	is($r->{body}, $NO_CT, 'blank Content-Type text');
	$r = $p1->post('/numlab/results', body => '', headers => $hdr);
	is($r->{status}, 400, 'neither → 400');
	is($r->{body}, $NO_BOTH, 'both texts');
	$r = $p1->post('/numlab/results', headers => $hdr, no_length => 1);
	is($r->{status}, 400, 'no body, no Content-Length, no Content-Type → 400');
	is($r->{body}, $NO_BOTH, 'both texts (no Content-Length)');
	$r = $p1->post('/numlab/results', body => '', ctype => 'text/plain');
	is($r->{status}, 400, 'empty body without addressing → 400');
	is($r->{body}, $NO_BODY, 'validation comes before addressing');

	my $m = $p1->post('/numlab/results', body => 'orig', ctype => 'text/plain', headers => $hdr);
	my $id = Ecsd::loc_id($m);
	$r = $p1->put("/numlab/results/$id", body => '', ctype => 'text/plain', headers => $hdr);
	is($r->{status}, 400, 'PUT empty body → 400');
	is($r->{body}, $NO_BODY, 'PUT empty body text');
	$r = $p1->put("/numlab/results/$id", body => 'new', headers => $hdr);
	is($r->{status}, 400, 'PUT without Content-Type → 400');
	is($r->{body}, $NO_CT, 'PUT no Content-Type text');
	$r = $p1->put("/numlab/results/$id", body => 'new', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => 'abc' });
	is($r->{status}, 400, 'PUT with X-EcsReceiverMemberships: abc → 400');
	is($r->{body}, $NO_ADDR, 'PUT missing-receivers text');
	is($p2->get("/numlab/results/$id")->{body}, 'orig', 'failed PUTs changed nothing');
}

# ---------------------------------------------------------------- ids and paths
{
	for my $id ('abc', '-1', '0', '1.0', '0x10', '99999999999999999999999999', '1abc',
	    '1' x 600) {
		my $r = $p2->get("/numlab/results/$id");
		is($r->{status}, 404, "GET /numlab/results/$id → 404");
		is($r->{body}, "Invalid resource id\n", "GET /numlab/results/$id text");
		$r = $p1->put("/numlab/results/$id", body => 'x', ctype => 'text/plain',
		    headers => { 'X-EcsReceiverMemberships' => $mid2 });
		is($r->{status}, 404, "PUT /numlab/results/$id → 404");
		$r = $p2->delete("/numlab/results/$id");
		ok($r->{status} == 404, "DELETE /numlab/results/$id → 404");
		$r = $p2->get("/numlab/results/$id/details");
		ok($r->{status} == 404, "GET /numlab/results/$id/details → 404");
	}
	for my $path ('/numlab/nosuch', '/nosuch/results', '/nosuch/results/1', '/numlab/results/1/2/3',
	    '/numlab', '/numlab/', '/numlab/results/1/details/x', '/sys/nosuch', '/sys/events/1',
	    '/' . ('a' x 3000)) {
		my $r = $p2->get($path);
		is($r->{status}, 404, 'GET ' . substr($path, 0, 40) . ' → 404');
		$r = $d->client->get($path);
		is($r->{status}, 404, 'GET ' . substr($path, 0, 40) . ' without credentials → 404');
	}
	for my $path ('/%00/%00', '/numlab/%2e%2e/results', '/../../etc/passwd', '/numlab/%zz',
	    '/numlab/results/%', '/%ff%fe/results') {
		my $r = $p2->get($path);
		ok($r->{status} == 404 || $r->{status} == 400, "GET $path → 404 or 400 ($r->{status})");
	}
	my $r = $p2->get('/numlab/results?' . ('x=y&' x 2000));
	is($r->{status}, 200, 'long query string: 200');
	$r = $p2->get('/sys/memberships', headers => { 'X-EcsQueryStrings' => '=,,=,all,,=x,' . ('k=v,' x 500) });
	is($r->{status}, 200, 'odd X-EcsQueryStrings: 200');
	$r = $p2->get('/numlab/results', headers => { 'X-EcsQueryStrings' => 'sender' });
	is($r->{status}, 200, 'X-EcsQueryStrings without =: 200');
	$r = $d->as("\xff\xfe\x01")->get('/sys/events');
	is($r->{status}, 401, 'binary X-EcsAuthId → 401');
	$r = $d->as('x' x 5000)->get('/sys/events');
	is($r->{status}, 401, 'long X-EcsAuthId → 401');
	alive('bad ids and paths');
}

# ---------------------------------------------------------------- garbage on the socket
{
	my @garbage = (
		[ 'garbage request line', "GARBAGE\r\n\r\n" ],
		[ 'binary request line', "\x00\x01\x02\xff\xfe\r\n\r\n" ],
		[ 'method only', "GET\r\n\r\n" ],
		[ 'no HTTP version', "GET /sys/events\r\n\r\n" ],
		[ 'bad HTTP version', "GET /sys/events HTTP/x.y\r\nHost: x\r\n\r\n" ],
		[ 'header without colon', "GET /sys/events HTTP/1.1\r\nHost: x\r\nThis is not a header\r\n\r\n" ],
		[ 'bad Content-Length', "POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n" .
		    "Content-Type: text/plain\r\nContent-Length: abc\r\n\r\nxyz" ],
		[ 'negative Content-Length', "POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n" .
		    "Content-Type: text/plain\r\nContent-Length: -5\r\n\r\nxyz" ],
		[ 'conflicting Content-Length', "POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n" .
		    "Content-Type: text/plain\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nxyzab" ],
		[ 'bad chunk size', "POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n" .
		    "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxyz\r\n0\r\n\r\n" ],
		[ 'NUL in a header', "GET /sys/events HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ul\x00ama\r\n\r\n" ],
		[ 'bare LF lines', "GET /sys/events HTTP/1.1\nHost: x\nX-EcsAuthId: ulama\n\n" ],
	);
	for my $g (@garbage) {
		my ($name, $bytes) = @$g;
		my $st = raw_status($bytes);
		ok($st eq 'closed' || ($st =~ /^\d+$/ && $st >= 200 && $st < 500) || $st eq '505',
		    "$name: an answer below 500 or the connection closed ($st)");
		alive($name);
	}
	my $st = raw_status('GET /' . ('x' x 100_000) . " HTTP/1.1\r\nHost: x\r\n\r\n");
	ok($st eq 'closed' || ($st =~ /^\d+$/ && $st >= 400 && $st < 500), "100 kB request line: 4xx or closed ($st)");
	alive('a huge request line');

	my $r = eval { $p2->fresh->get('/sys/events', headers => { 'X-Huge' => 'h' x 70000 }) };
	my $hs = $r ? $r->{status} : 'closed';
	ok($hs =~ /^4\d\d$/, "one header over max_headers: 4xx ($hs)");
	alive('a huge header');
	$r = eval { $p2->fresh->get('/sys/events',
	    headers => [ map { ("X-Many-$_" => 'v' x 20) } 1 .. 5000 ]) };
	$hs = $r ? $r->{status} : 'closed';
	ok($hs =~ /^4\d\d$/, "5000 headers (over max_headers): 4xx ($hs)");
	alive('many headers');

	# half a request, then hang up; then a request that stops in the middle of the body
	for my $partial ("GET /sys/ev", "POST /numlab/results HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n" .
	    "X-EcsReceiverMemberships: $mid2\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part") {
		my $s = IO::Socket::INET->new(PeerAddr => $d->host, PeerPort => $d->port, Timeout => 5);
		ok($s, 'connected for a partial request');
		print $s $partial if $s;
		close $s if $s;
		alive('a partial request');
	}

	# pipelined: garbage after a good request on one connection
	my $s = IO::Socket::INET->new(PeerAddr => $d->host, PeerPort => $d->port, Timeout => 5);
	print $s "GET /sys/events HTTP/1.1\r\nHost: x\r\nX-EcsAuthId: ulama\r\n\r\nBLAH BLAH BLAH\r\n\r\n";
	my $buf = '';
	my $sel = IO::Select->new($s);
	while ($sel->can_read(3)) {
		my $n = sysread($s, my $chunk, 65536);
		last unless $n;
		$buf .= $chunk;
	}
	close $s;
	like($buf, qr{\AHTTP/1\.1 200}, 'good request before garbage answered 200');
	alive('pipelined garbage');

	# many idle connections do not stop the daemon from serving
	my @idle = map { IO::Socket::INET->new(PeerAddr => $d->host, PeerPort => $d->port, Timeout => 5) } 1 .. 50;
	alive('50 idle connections');
	close $_ for grep { $_ } @idle;
}

# ---------------------------------------------------------------- unknown methods
{
	for my $m (qw(PATCH OPTIONS BREW)) {
		my $r = try_req($p2->fresh, $m, '/numlab/results');
		ok($r->{status} eq '405' || $r->{status} eq '400' || $r->{status} eq '501',
		    "$m /numlab/results: 405/400/501 ($r->{status})");
	}
	my $r = $p2->fresh->request('PATCH', '/admin/organizations');
	ok($r->{status} >= 400 && $r->{status} != 500, "PATCH /admin/organizations: 4xx ($r->{status})");
	alive('unknown methods');
}

# ---------------------------------------------------------------- shut down cleanly
{
	my $r = $p2->get('/sys/events');
	is($r->{status}, 200, 'final request: 200');
	my @err = $d->loggrep(qr/^ecsd: (error|crit|alert|emerg)/i);
	is(scalar @err, 0, 'no error-level log lines') or diag(join "\n", @err[0 .. ($#err < 9 ? $#err : 9)]);
	$d->stop_ok;
}

done_testing;
