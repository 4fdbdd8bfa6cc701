# HTTP conventions (ecs-protocol.md sections 3, 4.1, 5.1; client requirements
# 5, 8, 9, 10, 13, 19; HACKING.md max_body).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
my ($p1, $p2) = map { $d->as($_) } qw(P1 P2);
my $X = '/numlab/exercises';
my %to2 = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'));

subtest 'Expect: 100-continue is answered promptly (3.1)' => sub {
	my $id = create_ok($p1, $X, headers => \%to2, body => 'v1');
	# the client waits up to 5 s for the interim answer before it sends
	# the body anyway (libcurl: 1 s); ecsd must not make it wait
	my $r = $p1->put("$X/$id", body => 'v2 ' . ('x' x 100), ctype => 'text/plain', headers => \%to2,
	    expect => 1, expect_wait => 5);
	is($r->{status}, 200, 'PUT with Expect: 200');
	ok(defined $r->{continue_s} && $r->{continue_s} < 2.5,
	    sprintf('100 Continue before the body (after %s s)', $r->{continue_s} // 'never'));
	ok(!$r->{body_not_sent}, 'body was read');
	is($p2->get("$X/$id")->{body}, 'v2 ' . ('x' x 100), 'update applied');
	$r = $p1->post($X, body => 'with expect', ctype => 'text/plain', headers => \%to2, expect => 1,
	    expect_wait => 5);
	is($r->{status}, 201, 'POST with Expect: 201');
	ok(defined $r->{continue_s} && $r->{continue_s} < 2.5,
	    sprintf('100 Continue before the body (after %s s)', $r->{continue_s} // 'never'));
};

subtest 'chunked request bodies are read (3.1, Q-55)' => sub {
	my $body = join('', map { chr(65 + $_ % 26) } 0 .. 99);
	my $r = $p1->post($X, body => $body, chunked => [7, 13, 1], ctype => 'text/plain', headers => \%to2);
	is($r->{status}, 201, 'chunked POST 201') or diag($r->{body});
	my $id = Ecsd::loc_id($r);
	is($p2->get("$X/$id")->{body}, $body, 'body reassembled');
	$r = $p1->put("$X/$id", body => "$body!", chunked => 1, ctype => 'text/plain', headers => \%to2);
	is($r->{status}, 200, 'chunked PUT 200');
	is($p2->get("$X/$id")->{body}, "$body!", 'updated body');
	$r = $p1->post('/sys/auths', json => { realm => 'chunky' }, chunked => [5], headers => \%to2);
	is($r->{status}, 201, 'chunked token POST 201');
};

subtest 'keep-alive: many requests, one connection' => sub {
	my $c = $d->as('P2');
	my @r = ($c->get($X), $c->get('/sys/events'), $c->get("$X/999999"), $c->post("$X/fifo"),
	    $c->head('/sys/events'), $c->get('/no/such/thing/here'), $c->get('/sys/memberships'),
	    $c->post($X, body => 'x', ctype => 'text/plain'), $c->get($X));
	is_deeply([map { $_->{status} } @r], [200, 200, 404, 200, 200, 404, 200, 400, 200], 'statuses');
	is($c->connections, 1, 'all on one connection');
	my $i = 0;
	std_ok($_, "$_->{method} #" . ++$i) for @r;
	ok(!(grep { $_->{elapsed} > 2 } @r), 'every answer within 2 s');
	ok(!(grep { ($_->{headers}{connection} // '') =~ /close/i } @r), 'no Connection: close');
};

subtest 'unknown paths: 404 before authentication (3.6, 5.1)' => sub {
	for my $p ('/nope', '/no/such', '/numlab/nothing', '/sys/memberships/5', '/sys/events/5',
	    '/numlab/exercises/5/details/x', '/eventqueues', '/sys/nothing') {
		my $r = $d->get($p);
		is($r->{status}, 404, "GET $p without credentials -> 404");
		std_ok($r, "GET $p");
	}
	my $r = $d->get('/no/such');
	like($r->{body}, qr{\A[^\n]*/no/such[^\n]*\n?\z}, 'one line naming the path');
	is($p2->get('/sys/memberships/5')->{status}, 404, 'also with credentials');
};

subtest 'wrong method: 405 with Allow, before authentication (3.6)' => sub {
	my @cases = (
		['DELETE', $X, [qw(GET POST)], [qw(PUT DELETE)]],
		['PUT', $X, [qw(GET POST)], [qw(PUT DELETE)]],
		['POST', "$X/5", [qw(GET PUT DELETE)], ['POST']],
		['PUT', '/sys/events', ['GET'], [qw(POST PUT DELETE)]],
		['DELETE', '/sys/events/fifo', [qw(GET POST)], [qw(PUT DELETE)]],
		['POST', '/sys/memberships', ['GET'], [qw(POST PUT DELETE)]],
		['POST', '/events', ['GET'], [qw(POST PUT DELETE)]],
		['POST', "$X/details", ['GET'], ['POST']],
	);
	for my $c (@cases) {
		my ($m, $p, $yes, $no) = @$c;
		my $r = $d->request($m, $p);
		is($r->{status}, 405, "$m $p -> 405");
		std_ok($r, "$m $p");
		like($r->{body}, qr/^ ?$/, "$m $p: empty body");
		raw_name_ok($r, 'Allow', "$m $p");
		my %allow = map { $_ => 1 } split /\s*,\s*/, $r->{headers}{allow} // '';
		ok((!grep { !$allow{$_} } @$yes), "$m $p: Allow has @$yes") or diag($r->{headers}{allow});
		ok((!grep { $allow{$_} } @$no), "$m $p: Allow lacks @$no");
	}
};

subtest 'X-EcsAuthId errors (4.1)' => sub {
	for my $p ($X, '/sys/events', '/sys/memberships', "$X/1") {
		my $r = $d->get($p);
		err_ok($r, 401, ERR('no_authid'), "GET $p without X-EcsAuthId");
		ok(!exists $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate');
	}
	err_ok($d->as('   ')->get($X), 401, ERR('no_authid'), 'blank X-EcsAuthId');
	err_ok($d->as('')->get($X), 401, ERR('no_authid'), 'empty X-EcsAuthId');
	err_ok($d->as('nobody')->get($X), 401, 'No "X-EcsAuthId: nobody" identity found', 'unknown identity');
	err_ok($d->as('ULAMA')->get($X), 401, 'No "X-EcsAuthId: ULAMA" identity found', 'auth ids are case-sensitive');
	err_ok($d->client->post($X, body => 'x', ctype => 'text/plain', headers => \%to2), 401, ERR('no_authid'),
	    'create without identity');
	my $r = $d->client->get($X, headers => { 'x-ecsauthid' => 'ulama' });
	is($r->{status}, 200, 'header name is case-insensitive');
	is($d->as('myid')->get($X)->{status}, 200, 'second identity of P1');
};

subtest 'Location is absolute, built from Host and forwarded headers (3.7)' => sub {
	my $post = sub {
		my (%h) = @_;
		my $r = $d->client->post($X, body => 'loc', ctype => 'text/plain',
		    headers => { 'X-EcsAuthId' => 'myid', %to2, %h });
		is($r->{status}, 201, 'created');
		return ($r->{headers}{location} // '', Ecsd::loc_id($r) // 0);
	};
	my ($l, $id) = $post->(Host => 'ecs.example.org:8080');
	is($l, "http://ecs.example.org:8080$X/$id", 'non-default port kept');
	($l, $id) = $post->(Host => 'ecs.example.org');
	is($l, "http://ecs.example.org$X/$id", 'no port');
	($l, $id) = $post->(Host => 'ecs.example.org:80');
	is($l, "http://ecs.example.org$X/$id", 'default port 80 omitted (Q-5)');
	($l, $id) = $post->(Host => 'ecs.example.org:443', 'X-Forwarded-Proto' => 'https');
	is($l, "https://ecs.example.org$X/$id", 'https from a trusted proxy, 443 omitted');
	($l, $id) = $post->(Host => 'inner:3000', 'X-Forwarded-Host' => 'first.example, ecs.example.org');
	like($l, qr{^http://ecs\.example\.org(?::\d+)?\Q$X\E/$id$}, 'last X-Forwarded-Host');
	my $u = $d->client->put("$X/$id", body => 'loc2', ctype => 'text/plain',
	    headers => { 'X-EcsAuthId' => 'myid', %to2, Host => 'ecs.example.org:8080' });
	is($u->{status}, 200, 'update');
	is($u->{headers}{location}, "http://ecs.example.org:8080$X/$id", 'update Location keeps the port (Q-6)');
};

subtest 'legacy aliases (5.1)' => sub {
	my $a = $p2->get('/memberships');
	my $b = $p2->get('/sys/memberships');
	is($a->{status}, 200, 'GET /memberships');
	is_deeply($a->{json}, $b->{json}, '/memberships = /sys/memberships');
	ctype_is($a, 'application/json; charset=utf-8', '/memberships');
	like($a->{body}, qr/"name": "Universit\xc3\xa4t Ulm"/, 'raw UTF-8, pretty-printed "key": value (3.8)');
	my $id = create_ok($p1, $X, headers => \%to2);
	is_deeply($p2->get('/events')->{json}, $p2->get('/sys/events')->{json}, '/events = /sys/events');
	my $ev = $p2->get('/sys/events')->{json};
	is_deeply($p2->get('/events/fifo?count=-1')->{json}, $ev, 'GET /events/fifo');
	is_deeply($p2->post('/events/fifo?count=-1')->{json}, $ev, 'POST /events/fifo pops');
	is_deeply($p2->get('/sys/events')->{json}, [], 'popped');
};

subtest 'content negotiation on system resources (3.4)' => sub {
	my $r = $p2->get('/sys/memberships', headers => { Accept => 'text/plain' });
	is($r->{status}, 406, 'memberships as text/plain -> 406');
	like($r->{body}, qr/^ ?$/, 'empty body');
	$r = $p2->get('/sys/memberships', headers => { Accept => 'application/xml' });
	is($r->{status}, 200, 'memberships as XML');
	like($r->{headers}{'content-type'} // '', qr{^application/xml; charset=utf-8$}, 'XML type');
	$r = $p2->get('/sys/memberships.json', headers => { Accept => 'application/xml' });
	ctype_is($r, 'application/json; charset=utf-8', 'suffix wins');
	$r = $p2->get('/sys/events', headers => { Accept => 'text/html, application/json' });
	ctype_is($r, 'application/json; charset=utf-8', 'first offered type of a list');
	$r = $p2->get('/sys/events', headers => { Accept => 'text/*' });
	like($r->{headers}{'content-type'} // '', qr{^text/plain}, 'type/* range honoured');
	$r = $p2->get('/sys/events', ctype => 'text/plain');
	like($r->{headers}{'content-type'} // '', qr{^text/plain}, 'no Accept: the request Content-Type');
	$r = $p1->get("$X/1", headers => { Accept => 'image/png' });
	isnt($r->{status}, 406, 'message routes ignore Accept');
};

$d->stop_ok;

subtest 'max_body = 4096 (HACKING.md)' => sub {
	my $s = Ecsd->start(conf => { max_body => 4096 });
	$s->fixture_spec;
	my $c = $s->as('P1');
	my %h = ('X-EcsReceiverMemberships' => $s->mid(P2 => 'WUV'));
	my $r = $c->post($X, body => 'y' x 4000, ctype => 'text/plain', headers => \%h);
	is($r->{status}, 201, '4000 bytes accepted');
	$r = $c->post($X, body => 'y' x 4097, ctype => 'text/plain', headers => \%h);
	is($r->{status}, 413, '4097 bytes refused with 413');
	std_ok($r, '413');
	$r = $s->as('P1')->post($X, body => 'z' x 8192, ctype => 'text/plain', headers => \%h, chunked => [512]);
	is($r->{status}, 413, 'chunked 8192 bytes refused with 413');
	$r = $s->as('P1')->post($X, body => 'z' x 8192, ctype => 'text/plain', headers => \%h, expect => 1);
	is($r->{status}, 413, 'Expect: 100-continue with an oversized Content-Length: 413');
	my $list = $s->as('P2')->get($X)->{body};
	is(scalar(() = $list =~ /\n/g), 1, 'only the small message was stored');
	$s->stop_ok('max_body daemon');
};

done_testing();
