# Message resources: create, show, list, update, delete, details
# (ecs-protocol.md sections 6.1-6.7, 6.9, 3.1, 3.2, 3.5).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes ();
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
my ($p1, $p2, $p3, $p4) = map { $d->as($_) } qw(P1 P2 P3 P4);
my $EX = '/numlab/exercises';
my $RS = '/numlab/results';

# ---- create -------------------------------------------------------------
my ($m1, $r);
subtest 'create answers 201 with Location and empty body' => sub {
	$m1 = create_ok($p1, $EX, mids => [$d->mid(P1 => 'WUV'), $d->mid(P2 => 'WUV')],
	    body => 'Hallo Ihr da im Radio.', ctype => 'text/plain');
	$r = $EcsdCheck::LAST;
	std_ok($r, 'create');
	is($r->{body}, '', 'empty body');
	is($r->{headers}{'content-length'}, '0', 'Content-Length: 0');
	raw_name_ok($r, 'Location', 'create');
	ctype_is($r, 'text/plain; charset=utf-8', 'create');
	like($r->{headers}{'cache-control'} // '', qr/no-cache/, 'Cache-Control no-cache');
	is($r->{headers}{location}, $d->base . "$EX/$m1", 'Location is built from Host (3.7)');
};

subtest 'show to a receiver: body, type, validators, receiver headers (6.4, 6.5)' => sub {
	my $r = $p2->get("$EX/$m1", headers => { Accept => 'text/uri-list' });
	is($r->{status}, 200, 'status 200');
	std_ok($r, 'show');
	is($r->{body}, 'Hallo Ihr da im Radio.', 'stored body');
	ctype_is($r, 'text/plain; charset=utf-8', 'show ignores Accept');
	is($r->{headers}{'cache-control'}, 'private, max-age=5', 'Cache-Control');
	like($r->{headers}{etag} // '', qr/^"[^"]+"$/, 'strong quoted ETag');
	ok(defined http_date_ok($r->{headers}{'last-modified'}), 'Last-Modified is an HTTP date')
	    or diag($r->{headers}{'last-modified'});
	raw_name_ok($r, $_, 'show') for qw(ETag Last-Modified Cache-Control X-EcsReceiverCommunities X-EcsSender);
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), 'X-EcsReceiverCommunities');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'X-EcsSender is the sender mid');
};

subtest 'show to the sender (which also addressed itself)' => sub {
	my $r = $p1->get("$EX/$m1");
	is($r->{status}, 200, 'status 200');
	is($r->{body}, 'Hallo Ihr da im Radio.', 'body');
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), 'own receiving membership');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'sender mid');
};

subtest 'show to others is 403' => sub {
	err_ok($p3->get("$EX/$m1"), 403, ERR('not_access'), 'uninvolved show');
};

subtest 'show of a sender-only message has no receiver headers' => sub {
	my $id = create_ok($p1, $EX, mids => [$d->mid(P2 => 'SUV')], body => 'only to ulm');
	my $r = $p1->get("$EX/$id");
	is($r->{status}, 200, 'status 200');
	ok(!exists $r->{headers}{'x-ecssender'}, 'no X-EcsSender');
	ok(!exists $r->{headers}{'x-ecsreceivercommunities'}, 'no X-EcsReceiverCommunities');
};

subtest 'stored Content-Type with charset is kept verbatim' => sub {
	my $id = create_ok($p1, $EX, mids => [$d->mid(P2 => 'SUV')],
	    ctype => 'text/plain; charset=ISO-8859-1', body => "gr\xfc\xdf");
	my $r = $p2->get("$EX/$id");
	ctype_is($r, 'text/plain; charset=ISO-8859-1', 'no second charset');
	is($r->{body}, "gr\xfc\xdf", 'bytes verbatim');
	my $id2 = create_ok($p1, $EX, mids => [$d->mid(P2 => 'SUV')],
	    ctype => 'application/json', body => '{"a":[1,2]}');
	$r = $p2->get("$EX/$id2");
	ctype_is($r, 'application/json; charset=utf-8');
	is($r->{body}, '{"a":[1,2]}', 'json body verbatim');
};

subtest 'binary body survives byte for byte' => sub {
	my $bin = join('', map { chr } 0 .. 255) x 4;
	my $id = create_ok($p1, $EX, mids => [$d->mid(P2 => 'SUV')],
	    ctype => 'application/octet-stream', body => $bin);
	my $r = $p2->get("$EX/$id");
	ok($r->{body} eq $bin, 'binary body identical');
};

# ---- HEAD and conditional GET ------------------------------------------
subtest 'HEAD behaves like GET without body' => sub {
	my $g = $p2->get("$EX/$m1");
	my $h = $p2->head("$EX/$m1");
	is($h->{status}, 200, 'HEAD 200');
	is($h->{body}, '', 'no body');
	std_ok($h, 'HEAD');
	is($h->{headers}{'content-length'}, length($g->{body}), 'Content-Length as for GET');
	is($h->{headers}{$_}, $g->{headers}{$_}, "HEAD $_ as GET")
	    for qw(content-type etag last-modified cache-control x-ecssender x-ecsreceivercommunities);
	my $l = $p2->head($EX);
	is($l->{status}, 200, 'HEAD on a list');
	is($l->{body}, '', 'no body');
};

subtest 'conditional GET (6.5)' => sub {
	my $g = $p2->get("$EX/$m1");
	my ($etag, $lm) = @{ $g->{headers} }{qw(etag last-modified)};
	my $r = $p2->get("$EX/$m1", headers => { 'If-None-Match' => $etag });
	is($r->{status}, 304, 'If-None-Match equal -> 304');
	is($r->{body}, '', '304 has no body');
	is($r->{headers}{etag}, $etag, '304 carries ETag');
	is($r->{headers}{'last-modified'}, $lm, '304 carries Last-Modified');
	is($r->{headers}{'cache-control'}, 'private, max-age=5', '304 carries Cache-Control');
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), '304 carries X-EcsReceiverCommunities');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), '304 carries X-EcsSender');

	$r = $p2->get("$EX/$m1", headers => { 'If-Modified-Since' => $lm });
	is($r->{status}, 304, 'If-Modified-Since = Last-Modified -> 304');
	$r = $p2->get("$EX/$m1", headers => { 'If-Modified-Since' => 'Sun, 06 Nov 1994 08:49:37 GMT' });
	is($r->{status}, 200, 'older If-Modified-Since -> 200');
	is($r->{body}, 'Hallo Ihr da im Radio.', 'full body');
	$r = $p2->get("$EX/$m1", headers => { 'If-Modified-Since' => 'yesterday-ish' });
	is($r->{status}, 200, 'unparseable If-Modified-Since -> 200');
	$r = $p2->get("$EX/$m1", headers => { 'If-None-Match' => '"nope"' });
	is($r->{status}, 200, 'other ETag -> 200');
	$r = $p2->get("$EX/$m1", headers => { 'If-None-Match' => $etag,
	    'If-Modified-Since' => 'Sun, 06 Nov 1994 08:49:37 GMT' });
	is($r->{status}, 200, 'all conditions must hold');
	$r = $p2->get("$EX/$m1", headers => { 'If-None-Match' => "W/$etag" });
	is($r->{status}, 200, 'no weak comparison');
};

# ---- list ---------------------------------------------------------------
subtest 'list selection (6.2)' => sub {
	# a fresh resource keeps the expectations exact
	my $R = '/numlab/solutions';
	my $a = create_ok($p2, $R, mids => [$d->mid(P1 => 'SUV')], body => 'from ulm');
	my $b = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')], body => 'to ulm');
	my $c = create_ok($p1, $R, comms => ['SUV', 'WUV'], body => 'to ulm twice');
	my $s = create_ok($p1, $R, mids => [$d->mid(P1 => 'SUV'), $d->mid(P2 => 'SUV')], body => 'to me too');

	my $r = $p1->get($R);
	is($r->{status}, 200, 'list 200');
	std_ok($r, 'list');
	ctype_is($r, 'text/uri-list; charset=utf-8', 'list');
	is($r->{body}, "solutions/$a\nsolutions/$s\n", 'default = received, ascending, LF lines');
	is($p1->get("$R?receiver=true")->{body}, "solutions/$a\nsolutions/$s\n", '?receiver=true');
	is($p1->get("$R?sender=true")->{body}, "solutions/$b\nsolutions/$c\nsolutions/$s\n", '?sender=true');
	is($p1->get($R, headers => { 'X-EcsQueryStrings' => 'sender=true' })->{body},
	    "solutions/$b\nsolutions/$c\nsolutions/$s\n", 'X-EcsQueryStrings: sender=true');
	is($p1->get("$R?all=true")->{body},
	    "solutions/$b\nsolutions/$c\nsolutions/$s\nsolutions/$a\n", 'all=true: sent, then received, no duplicates');
	is($p1->get($R, headers => { 'X-EcsQueryStrings' => 'all=true' })->{body},
	    "solutions/$b\nsolutions/$c\nsolutions/$s\nsolutions/$a\n", 'X-EcsQueryStrings: all=true');
	is($p1->get("$R?sender=true", headers => { 'X-EcsQueryStrings' => 'sender=false' })->{body},
	    "solutions/$a\nsolutions/$s\n", 'header value wins per key');
	is($p1->get($R, headers => { 'X-EcsQueryStrings' => ' sender = false , all = true ' })->{body},
	    "solutions/$b\nsolutions/$c\nsolutions/$s\nsolutions/$a\n", 'whitespace ignored; sender=false falls through to all');
	is($p1->get("$R?sender=1")->{body}, "solutions/$a\nsolutions/$s\n", 'sender=1 does not count');
	is($p1->get("$R?sender=TRUE")->{body}, "solutions/$a\nsolutions/$s\n", 'sender=TRUE does not count');
	is($p1->get("$R?sender=true&all=true")->{body}, "solutions/$b\nsolutions/$c\nsolutions/$s\n", 'sender wins over all');
	is($p2->get($R)->{body}, "solutions/$b\nsolutions/$c\nsolutions/$s\n", 'receiver through two memberships listed once');
	is($p2->get("$R/")->{body}, "solutions/$b\nsolutions/$c\nsolutions/$s\n", 'trailing slash tolerated');

	my $e = $p3->get($R);
	is($e->{status}, 200, 'empty list 200');
	is($e->{body}, '', 'empty body');
	is($e->{headers}{'content-length'}, '0', 'Content-Length: 0');
	ctype_is($e, 'text/uri-list; charset=utf-8', 'empty list');
};

subtest 'create through a trailing slash' => sub {
	my $id = create_ok($p1, "$EX/", mids => [$d->mid(P2 => 'SUV')], body => 'slash');
	is($p2->get("$EX/$id")->{body}, 'slash', 'created');
	my $r = $p2->get("$EX/$id/");
	is($r->{status}, 200, 'show with trailing slash');
};

# ---- ids ----------------------------------------------------------------
subtest 'id resolution (6.1)' => sub {
	err_ok($p2->get("$EX/999999"), 404, ERR('bad_id'), 'unknown id');
	err_ok($p2->get("$RS/$m1"), 404, ERR('bad_id'), 'message of another resource');
	err_ok($p2->get("$EX/abc"), 404, ERR('bad_id'), 'non-numeric id');
	err_ok($p2->delete("$EX/abc"), 404, ERR('bad_id'), 'non-numeric id on DELETE');
	is($p2->delete("$EX/fifo")->{status}, 404, 'DELETE .../fifo is 404');
	my $r = $p2->get('/numlab/nothing');
	is($r->{status}, 404, 'undeclared resource 404');
	$r = $d->get('/numlab/nothing/5');
	is($r->{status}, 404, 'undeclared resource 404 before authentication');
};

# ---- validation ---------------------------------------------------------
subtest 'create validation (6.3) stores nothing' => sub {
	my $before = $p1->get("$EX?sender=true")->{body};
	my %to = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'SUV'));
	err_ok($p1->post($EX, body => 'x', headers => \%to), 400, ERR('no_ctype'), 'no Content-Type');
	err_ok($p1->post($EX, body => 'x', headers => { %to, 'Content-Type' => '  ' }), 400, ERR('no_ctype'), 'blank Content-Type');
	err_ok($p1->post($EX, ctype => 'text/plain', headers => \%to), 400, ERR('no_body'), 'no body');
	err_ok($p1->post($EX, ctype => 'text/plain', body => " \n\t ", headers => \%to), 400, ERR('no_body'), 'whitespace body');
	err_ok($p1->post($EX, headers => \%to), 400, ERR('no_both'), 'neither');
	err_ok($p1->post($EX, body => 'x'), 400, ERR('no_ctype'), 'validation before addressing');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain'), 400, ERR('no_addr'), 'no addressing header');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '  ', 'X-EcsReceiverCommunities' => '' }),
	    400, ERR('no_addr'), 'blank addressing headers');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '999999' }), 400, ERR('bad_mid'), 'unknown mid');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'SUV') . ',999999' }), 400, ERR('bad_mid'),
	    'unknown mid next to a good one');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => 'Nowhere' }), 400, ERR('bad_cname') . 'Nowhere', 'unknown community name');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => '987654' }), 404, "Couldn't find Community with ID=987654",
	    'unknown community id');
	err_ok($p3->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'SUV') }), 403, ERR('not_joining'),
	    'no usable receiver');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '0' }), 400, ERR('bad_mid'), 'mid 0');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '999999', 'X-EcsReceiverCommunities' => 'Nowhere' }),
	    400, ERR('bad_cname') . 'Nowhere', 'community header is checked before the membership header');
	err_ok($p1->post($EX, body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => '999999', 'X-EcsReceiverCommunities' => '987654' }),
	    404, "Couldn't find Community with ID=987654", 'unknown cid before unknown mid');
	is($p1->get("$EX?sender=true")->{body}, $before, 'nothing was stored');
};

subtest 'wrong resource or tombstone on PUT and DELETE' => sub {
	my $id = create_ok($p1, $RS, mids => [$d->mid(P2 => 'WUV')], body => 'res');
	my %h = (body => 'x', ctype => 'text/plain', headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	err_ok($p1->put("$EX/$id", %h), 404, ERR('bad_id'), 'PUT through another resource');
	err_ok($p1->delete("$EX/$id"), 404, ERR('bad_id'), 'DELETE through another resource');
	err_ok($p2->get("$EX/$id/details"), 404, ERR('bad_id'), 'details through another resource');
	is($p2->post("$RS/fifo")->{body}, 'res', 'popped: tombstoned (P2 still has its event)');
	err_ok($p1->put("$RS/$id", %h), 404, ERR('bad_id'), 'PUT of a tombstone');
	err_ok($p2->delete("$RS/$id"), 404, ERR('bad_id'), 'DELETE of a tombstone');
};

subtest 'a large body (4 MiB default max_body)' => sub {
	my $big = join('', map { sprintf("%07d\n", $_) } 1 .. 524288);	# 4 MiB
	my $id = create_ok($p1, $EX, mids => [$d->mid(P2 => 'SUV')], body => $big, ctype => 'text/plain');
	my $g = $p2->get("$EX/$id");
	ok($g->{body} eq $big, 'body intact');
	is($p1->post($EX, body => $big . 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'SUV') })->{status}, 413, 'one byte more: 413');
};

# ---- update -------------------------------------------------------------
subtest 'update (6.6)' => sub {
	my $id = create_ok($p1, $EX, mids => [$d->mid(P2 => 'WUV')], body => 'alter Text', ctype => 'text/plain');
	my $g0 = $p2->get("$EX/$id");
	sleep 1.2;
	my $r = $p1->put("$EX/$id", body => 'neuer Text', ctype => 'text/html',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 200, 'update 200');
	std_ok($r, 'update');
	is($r->{body}, '', 'empty body');
	loc_ok($r, $EX, 'update');
	is(Ecsd::loc_id($r), $id, 'Location names the message');
	is($r->{headers}{location}, $d->base . "$EX/$id", 'update Location is built from Host (3.7)');
	my $g = $p2->get("$EX/$id");
	is($g->{body}, 'neuer Text', 'body replaced');
	ctype_is($g, 'text/html; charset=utf-8', 'content type replaced');
	isnt($g->{headers}{etag}, $g0->{headers}{etag}, 'ETag changed');
	ok(http_date_ok($g->{headers}{'last-modified'}) > http_date_ok($g0->{headers}{'last-modified'}),
	    'Last-Modified moved on');
	is($p2->get("$EX/$id", headers => { 'If-None-Match' => $g0->{headers}{etag} })->{status}, 200,
	    'old ETag no longer matches');

	err_ok($p2->put("$EX/$id", body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P1 => 'WUV') }), 403, ERR('not_sender'), 'receiver update');
	err_ok($p3->put("$EX/$id", body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P1 => 'public') }), 403, ERR('not_sender'), 'stranger update');
	err_ok($p1->put("$EX/999999", body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') }), 404, ERR('bad_id'), 'unknown id');
	err_ok($p1->put("$EX/$id", body => 'x', ctype => 'text/plain'), 400, ERR('no_addr'), 'addressing required again');
	err_ok($p1->put("$EX/$id", body => 'x', headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') }),
	    400, ERR('no_ctype'), 'Content-Type required again');
	err_ok($p1->put("$EX/$id", body => ' ', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') }), 400, ERR('no_body'), 'body required again');
	err_ok($p1->put("$EX/$id", body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P3 => 'public') . ',999999' }), 400, ERR('bad_mid'),
	    'unknown mid');
	# Q-15: an unknown numeric community id is merely unusable on update
	err_ok($p1->put("$EX/$id", body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => '987654' }), 403, ERR('not_joining'), 'unknown cid alone -> 403');
	$g = $p2->get("$EX/$id");
	is($g->{body}, 'neuer Text', 'failed updates changed nothing');
	is($g->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'receivers unchanged');

	# the receiver set is replaced
	$r = $p1->put("$EX/$id", body => 'fuer P3', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P3 => 'public'), 'X-EcsReceiverCommunities' => '987654' });
	is($r->{status}, 200, 'update to P3 (unknown cid ignored)');
	err_ok($p2->get("$EX/$id"), 403, ERR('not_access'), 'old receiver lost access');
	my $g3 = $p3->get("$EX/$id");
	is($g3->{body}, 'fuer P3', 'new receiver sees it');
	is($g3->{headers}{'x-ecsreceivercommunities'}, $d->cid('public'), 'new receiver headers');
	is($g3->{headers}{'x-ecssender'}, $d->mid(P1 => 'public'), 'sender mid in public');
};

# ---- delete -------------------------------------------------------------
subtest 'delete as receiver, postrouted resource (6.7)' => sub {
	my $id = create_ok($p1, $EX, mids => [$d->mid(P3 => 'public')], body => '{"x":1}', ctype => 'application/json');
	my $r = $p3->delete("$EX/$id");
	is($r->{status}, 200, 'receiver DELETE 200');
	std_ok($r, 'delete');
	is($r->{body}, '{"x":1}', 'answer carries the body');
	ctype_is($r, 'application/json; charset=utf-8', 'delete');
	is($r->{headers}{'cache-control'}, 'private, max-age=5', 'Cache-Control');
	ok(defined $r->{headers}{etag}, 'ETag');
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('public'), 'X-EcsReceiverCommunities');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'public'), 'X-EcsSender');
	err_ok($p3->get("$EX/$id"), 403, ERR('not_access'), 'former receiver');
	is($p1->get("$EX/$id")->{status}, 200, 'postrouted message stays for its sender');
	my $dt = $p1->get("$EX/$id/details");
	is($dt->{status}, 200, 'details of a message without links');
	is_deeply([$dt->{json}{receivers}, $dt->{json}{senders}], [[], []], 'no receivers left');
	err_ok($p3->delete("$EX/$id"), 404, qq{you are not a receiver of "numlab/exercises/$id"}, 'second receiver DELETE');
	$r = $p1->delete("$EX/$id", headers => { 'If-None-Match' => $p1->get("$EX/$id")->{headers}{etag} });
	is($r->{status}, 200, 'sender DELETE 200, even with a matching If-None-Match (Q-4)');
	is($r->{body}, '{"x":1}', 'with the body');
	ok(!exists $r->{headers}{'x-ecssender'}, 'no receiver headers for the sender');
	err_ok($p1->get("$EX/$id"), 404, ERR('bad_id'), 'gone after sender delete');
	err_ok($p1->delete("$EX/$id"), 404, ERR('bad_id'), 'second sender delete');
};

subtest 'delete as last receiver of a non-postrouted message disposes it' => sub {
	my $id = create_ok($p1, $RS, mids => [$d->mid(P2 => 'WUV'), $d->mid(P3 => 'public')], body => 'r');
	is($p2->delete("$RS/$id")->{status}, 200, 'first receiver');
	is($p1->get("$RS/$id")->{status}, 200, 'still there for the sender');
	is($p3->get("$RS/$id")->{status}, 200, 'and for the other receiver');
	is($p3->delete("$RS/$id")->{status}, 200, 'last receiver');
	err_ok($p1->get("$RS/$id"), 404, ERR('bad_id'), 'sender sees it no more');
	unlike($p1->get("$RS?sender=true")->{body}, qr{^results/$id$}m, 'not listed');
};

subtest 'receiver DELETE through two memberships: parallel receiver headers' => sub {
	my $id = create_ok($p1, $RS, comms => ['SUV', 'WUV'], body => 'two links');
	my $r = $p2->delete("$RS/$id");
	is($r->{status}, 200, 'DELETE 200');
	my @c = split /,/, $r->{headers}{'x-ecsreceivercommunities'} // '';
	my @s = split /,/, $r->{headers}{'x-ecssender'} // '';
	my %sender_in = ($d->cid('SUV') => $d->mid(P1 => 'SUV'), $d->cid('WUV') => $d->mid(P1 => 'WUV'));
	is_deeply([sort @c], [sort { $a <=> $b } $d->cid('SUV'), $d->cid('WUV')], 'both communities');
	is_deeply([map { $sender_in{$_} } @c], \@s, 'X-EcsSender parallel');
	err_ok($p2->get("$RS/$id"), 404, ERR('bad_id'), 'all links went; disposed');
};

subtest 'uninvolved DELETE is 404 with the receiver text' => sub {
	my $id = create_ok($p1, $RS, mids => [$d->mid(P2 => 'WUV')], body => 'r');
	err_ok($p4->delete("$RS/$id"), 404, qq{you are not a receiver of "numlab/results/$id"}, 'stranger DELETE');
	is($p2->get("$RS/$id")->{status}, 200, 'message untouched');
};

subtest 'a sender that is also receiver deletes twice' => sub {
	my $id = create_ok($p1, $RS, mids => [$d->mid(P1 => 'SUV'), $d->mid(P2 => 'SUV')], body => 'both');
	my $r = $p1->delete("$RS/$id");
	is($r->{status}, 200, 'first DELETE');
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('SUV'), 'removed own receiver link');
	my $g = $p1->get("$RS/$id");
	is($g->{status}, 200, 'sender still sees it');
	ok(!exists $g->{headers}{'x-ecssender'}, 'no longer a receiver');
	is($p2->get("$RS/$id")->{status}, 200, 'other receiver still sees it');
	is($p1->delete("$RS/$id")->{status}, 200, 'second DELETE acts as sender');
	err_ok($p2->get("$RS/$id"), 404, ERR('bad_id'), 'gone for the receiver');
};

# ---- details ------------------------------------------------------------
subtest 'member details (6.9)' => sub {
	my $id = create_ok($p1, $EX, comms => ['SUV', 'WUV'], body => 'd', ctype => 'application/xml');
	my $r = $p1->get("$EX/$id/details");
	is($r->{status}, 200, 'status 200');
	std_ok($r, 'details');
	ctype_is($r, 'application/json; charset=utf-8', 'details');
	my $j = $r->{json};
	is(ref $j, 'HASH', 'JSON object') or return;
	is_deeply([sort keys %$j], [qw(content_type owner receivers senders url)], 'keys');
	is($j->{content_type}, 'application/xml', 'content_type verbatim');
	is($j->{url}, "exercises/$id", 'url');
	is_deeply($j->{owner}, { itsyou => JSON::PP::true, pid => $d->pid('P1') }, 'owner');
	my @rc = @{ $j->{receivers} || [] };
	my @sd = @{ $j->{senders} || [] };
	is(scalar @rc, 2, 'two receiver links');
	is(scalar @sd, 2, 'senders parallel');
	my %want = ($d->mid(P2 => 'SUV') => [$d->cid('SUV'), $d->mid(P1 => 'SUV')],
	    $d->mid(P2 => 'WUV') => [$d->cid('WUV'), $d->mid(P1 => 'WUV')]);
	for my $i (0 .. $#rc) {
		my $w = $want{ $rc[$i]{mid} // '' };
		ok($w, "receiver $i mid known") or next;
		is($rc[$i]{pid}, $d->pid('P2'), "receiver $i pid");
		is($rc[$i]{cid}, $w->[0], "receiver $i cid");
		ok(!$rc[$i]{itsyou}, "receiver $i itsyou false");
		is($sd[$i]{mid}, $w->[1], "sender $i is the sender mid in that community");
	}
	my $r2 = $p2->get("$EX/$id/details");
	is($r2->{status}, 200, 'receiver may read details');
	ok(!$r2->{json}{owner}{itsyou}, 'owner.itsyou false for receiver');
	ok((grep { $_->{itsyou} } @{ $r2->{json}{receivers} }) == 2, 'itsyou on own links');
	err_ok($p3->get("$EX/$id/details"), 403, ERR('not_access'), 'stranger details');
	err_ok($p1->get("$EX/999999/details"), 404, ERR('bad_id'), 'unknown id details');
	my $n = $p1->get("$EX/$id/details", headers => { Accept => 'text/plain' });
	is($n->{status}, 406, 'Accept: text/plain -> 406');
	like($n->{body}, qr/^ ?$/, '406 empty body');
};

subtest 'collection details (6.9)' => sub {
	my $R = '/cc/course';
	my $e = $p3->get("$R/details");
	is($e->{status}, 200, 'empty selection 200');
	is($e->{body}, '', 'empty body');
	ctype_is($e, 'application/json; charset=utf-8', 'empty details');
	my $a = create_ok($p1, $R, mids => [$d->mid(P2 => 'WUV')], body => 'a');
	my $b = create_ok($p2, $R, mids => [$d->mid(P1 => 'SUV')], body => 'b');
	my $r = $p1->get("$R/details?sender=true");
	is($r->{status}, 200, 'status 200');
	is(ref $r->{json}, 'ARRAY', 'array') or return;
	is_deeply([map { $_->{url} } @{ $r->{json} }], ["course/$a"], 'sender selection');
	$r = $p1->get("$R/details", headers => { 'X-EcsQueryStrings' => 'all=true' });
	is_deeply([map { $_->{url} } @{ $r->{json} }], ["course/$a", "course/$b"], 'all selection in list order');
	$r = $p1->get("$R/details");
	is_deeply([map { $_->{url} } @{ $r->{json} }], ["course/$b"], 'default = received');
	is($r->{json}[0]{owner}{pid}, $d->pid('P2'), 'owner pid');
};

$d->stop_ok;
done_testing();
