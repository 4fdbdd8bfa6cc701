#!/usr/bin/perl
# /sys/subparticipants (spec 12.5, 4.1, 4.2, 4.5, 2.2, 9) and the quirks
# Q-7, Q-23, Q-24, Q-25, Q-34, Q-49, Q-56, Q-57.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Time::Local qw(timegm);
use Ecsd;
use EcsdCheck;

sub jtrue  { my ($v) = @_; return JSON::PP::is_bool($v) && $v ? 1 : 0 }
sub jfalse { my ($v) = @_; return JSON::PP::is_bool($v) && !$v ? 1 : 0 }

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
    Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

# Cookie expiry: RFC 1123 date or the original's "Wdy, DD-Mon-YYYY HH:MM:SS GMT".
sub cookie_date {
	my ($s) = @_;
	return undef unless defined $s &&
	    $s =~ /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d)[- ](\w{3})[- ](\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
	return undef unless exists $MON{$2};
	return timegm($6, $5, $4, $1, $MON{$2}, $3);
}

sub set_cookies { my ($r) = @_; return map { $_->[1] } grep { lc $_->[0] eq 'set-cookie' } @{ $r->{raw_headers} } }

# exactly one Set-Cookie: <name>=<value>; path=/; expires=<now + 3600 s>
sub cookie_ok {
	my ($r, $cname, $value, $name) = @_;
	my @sc = set_cookies($r);
	is(scalar @sc, 1, "$name: one Set-Cookie") or diag("status $r->{status}; Set-Cookie: @sc");
	my $c = $sc[0] // '';
	my $ok = like($c, qr/^\Q$cname=$value\E; path=\/; expires=[^;]+$/,
	    "$name: Set-Cookie $cname=<auth id>; path=/; expires=...");
	my ($exp) = $c =~ /expires=([^;]+)$/;
	my $t = cookie_date($exp);
	ok(defined $t && abs($t - (time + 3600)) <= 120, "$name: expires is an HTTP date about now + 3600 s")
	    or diag("expires=" . ($exp // '(none)'));
	return $ok;
}

sub no_cookie_ok {
	my ($r, $name) = @_;
	my @sc = set_cookies($r);
	ok(!@sc, "$name: no Set-Cookie") or diag("Set-Cookie: @sc");
}

sub events {
	my ($c) = @_;
	my $r = $c->get('/sys/events');
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] } ];
}
sub list {
	my ($c, $path) = @_;
	my $r = $c->get($path);
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ split /\n/, $r->{body} ];
}
sub send_msg {
	my ($c, $path, $body, %a) = @_;
	my %h;
	$h{'X-EcsReceiverMemberships'} = $a{mids} if defined $a{mids};
	$h{'X-EcsReceiverCommunities'} = $a{comms} if defined $a{comms};
	my $r = $c->post($path, body => $body, ctype => 'text/plain', headers => \%h);
	diag("POST $path: $r->{status} $r->{body}") unless $r->{status} == 201;
	return $r->{status} == 201 ? Ecsd::loc_id($r) : undef;
}
# pid of the caller (its itsyou entry under all=true); undef without memberships
sub whoami {
	my ($c) = @_;
	my $r = $c->get('/sys/memberships', headers => { 'X-EcsQueryStrings' => 'all=true' });
	my @me = grep { jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] };
	return @me ? $me[0]{pid} : "HTTP $r->{status}";
}
# pids listed as members of community $cname under all=true for caller $c
sub members {
	my ($c, $cname) = @_;
	my $r = $c->get('/sys/memberships?all=true');
	my ($e) = grep { $_->{community}{name} eq $cname } @{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] };
	return [ map { $_->{pid} } @{ $e ? $e->{participants} : [] } ];
}

my $d = Ecsd->start;
my $A = $d->admin;
my $m = $d->fixture_spec;
my ($c1, $c2, $c3, $c4) = map { $d->as($_) } qw(my_secret_identity ulama sunito trulane);
my $base = $d->base;
my $P1 = $m->{participants}{ $Ecsd::SPEC_NAMES{P1} };
my %cdesc = map { $_->{name} => $_->{description} } @{ $A->get('/admin/communities')->{json} || [] };
my $S = "Universit\x{e4}t Stuttgart";
my $p1desc = qq{Created from "Ilias Uni Stuttgart" (pid:$P1->{pid})};
my @p1_sids;	# children of P1, in creation order

my $E_CT = 'Please provide "Content-Type: application/json" header for json data.';
my $E_JSON_C = 'You have provided invalid JSON data (SubparticipantsController#create).';
my $E_JSON_U = 'You have provided invalid JSON data (SubparticipantsController#update).';
my $E_UNK = "You provided at least one unknown community for a subparticipant creation.\n" .
    'Following community is unknown (either a cid or a community name): ';
my $E_SUBSET = "The subparticipant's communities must be a subset of its parent.\n" .
    'Following communities are not allowed: ';
my $E_403 = 'You are not allowed to access this subparticipant because you are not its parent/creator.';
my $E_404 = q{Couldn't find Subparticipant with ID=};

# create as $c with %o (json or body/ctype); returns (sid, answer json, auth id, response)
sub create_sub {
	my ($c, %o) = @_;
	my $r = $c->post('/sys/subparticipants', %o);
	is($r->{status}, 200, 'create subparticipant: 200') or diag($r->{body});
	my $sid = Ecsd::loc_id($r);
	my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
	my $auth = $j->{auth_ids} && $j->{auth_ids}[0] ? $j->{auth_ids}[0]{auth_id} : undef;
	return ($sid, $j, $auth // 'no-such-subparticipant', $r);
}

# the subparticipant entry of a representation's first membership
sub sub_entry { my ($j) = @_; return ($j->{memberships} && $j->{memberships}[0]) ? $j->{memberships}[0]{participants}[0] || {} : {} }

# ---------------------------------------------------------------- create: the representation
my $pr_suv = send_msg($c2, '/numlab/exercises', 'P2 postrouted to SUV', comms => 'SUV');
my $np_suv = send_msg($c2, '/numlab/results', 'P2 not postrouted to SUV', comms => 'SUV');
my $mid_suv = send_msg($c2, '/numlab/exercises', 'P2 postrouted, by mid', mids => $d->mid(P1 => 'SUV'));
ok($pr_suv && $np_suv && $mid_suv, 'P2 sent three messages before the subparticipant exists');

my ($sid1, $j1, $S1, $r1);
{
	my $r = $c1->post('/sys/subparticipants', json => { communities => ['SUV'], realm => 'r1' });
	$r1 = $r;
	is($r->{status}, 200, 'create: 200, not 201 (Q-49)') or diag($r->{body});
	std_ok($r, 'create');
	like($r->{headers}{'content-type'} // '', qr{^application/json(?:; ?charset=utf-8)?$}i,
	    'create: Content-Type application/json');
	$sid1 = loc_ok($r, '/sys/subparticipants', 'create');
	is($r->{headers}{location}, "$base/sys/subparticipants/" . ($sid1 // 'x'),
	    'create: Location is <base>/sys/subparticipants/<sid> (no repeated id)');
	like($r->{body}, qr/\}\r\n\z/, 'create: JSON followed by \r\n');
	no_cookie_ok($r, 'create');
	my $j = $j1 = ref $r->{json} eq 'HASH' ? $r->{json} : {};
	is_deeply([ sort keys %$j ],
	    [ sort qw(name description auth_ids dns email community_selfrouting events memberships realm) ],
	    'create: representation keys');
	is($j->{name}, 'Subparticipant (id:' . ($sid1 // '?') . ')', 'name "Subparticipant (id:<sid>)"');
	is($j->{description}, $p1desc, 'description names the parent and its pid');
	is(ref $j->{auth_ids}, 'ARRAY', 'auth_ids is an array');
	is(scalar @{ $j->{auth_ids} || [] }, 1, 'one auth id');
	my $ai = $j->{auth_ids}[0] || {};
	is_deeply([ sort keys %$ai ], [qw(auth_id desc)], 'auth_ids element keys');
	like($ai->{auth_id} // '', qr/^[0-9a-f]{32,}$/, 'auth id: at least 32 lowercase hex digits');
	is($ai->{desc}, 'Randomized authid', 'auth id desc "Randomized authid"');
	$S1 = $ai->{auth_id} // 'no-such-subparticipant';
	is($j->{dns}, 'N/A', 'dns N/A');
	is($j->{email}, $P1->{email}, 'email of the parent');
	ok(jfalse($j->{community_selfrouting}), 'community_selfrouting false (default)');
	ok(jtrue($j->{events}), 'events true (default)');
	is($j->{realm}, 'r1', 'realm stored verbatim');
	my $e = sub_entry($j);
	is_deeply($j->{memberships}, [ {
		community => { name => 'SUV', description => $cdesc{SUV}, cid => $d->cid('SUV') },
		participants => [ {
			name => $j->{name}, description => $p1desc, email => $P1->{email}, dns => 'N/A',
			mid => $e->{mid}, org => { name => $S, abbr => 'S' }, itsyou => JSON::PP::true,
			pid => $e->{pid}, type => 'sub',
		} ],
	} ], 'memberships: SUV, listing only the subparticipant itself') or diag($r->{body});
	ok(($e->{pid} // 0) > 0 && ($e->{mid} // 0) > 0, 'pid and mid are numbers');
	push @p1_sids, $sid1;

	# what the administrator sees
	my $p = $A->get('/admin/participants/' . ($e->{pid} // 0));
	is($p->{status}, 200, 'admin sees the child participant');
	my $pj = $p->{json} || {};
	is($pj->{type}, 'sub', 'admin: type sub');
	is($pj->{name}, $j->{name}, 'admin: same name');
	is($pj->{organization_id}, $P1->{organization_id}, 'admin: organization of the parent');
	is_deeply($pj->{auth_ids}, [$S1], 'admin: the random auth id');
	is_deeply([ map { $_->{mid} } @{ $pj->{memberships} || [] } ], [ $e->{mid} ], 'admin: the one membership');
	is_deeply(members($c2, 'SUV'), [ sort { $a <=> $b } $d->pid('P1'), $d->pid('P2'), $e->{pid} ],
	    'P2 sees the subparticipant in SUV under all=true');

	# postrouting of the new membership (spec 9)
	my $s = $d->as($S1);
	is_deeply(events($s), [ "numlab/exercises/$pr_suv created" ],
	    'postrouting: created event for the postrouted community message only');
	is_deeply(list($s, '/numlab/exercises'), [ "exercises/$pr_suv" ], 'postrouted message listed');
	is($s->get("/numlab/exercises/$pr_suv")->{body}, 'P2 postrouted to SUV', 'and readable');
	is_deeply(list($s, '/numlab/results'), [], 'non-postrouted community message not delivered');
	is($s->get("/numlab/exercises/$mid_suv")->{status}, 403, 'mid-addressed message not delivered');
}
my $pid1 = sub_entry($j1)->{pid} // 0;
my $mid1 = sub_entry($j1)->{mid} // 0;

# ---------------------------------------------------------------- authentication, cookies (4.1, 4.2, Q-7)
{
	my $sh = $d->as($S1);
	my $sc = $d->client(Cookie => "ecs_subparticipant=$S1");

	for my $case (
	    [ GET => '/sys/events' ], [ GET => '/events' ], [ GET => '/sys/events/fifo' ],
	    [ GET => '/sys/memberships' ], [ GET => '/memberships' ],
	    [ GET => '/sys/configs' ], [ GET => '/numlab/exercises' ],
	    [ GET => "/numlab/exercises/$pr_suv" ], [ GET => '/numlab/exercises/fifo' ],
	    [ GET => "/numlab/exercises/$pr_suv/details" ]) {
		my ($meth, $path) = @$case;
		for my $how ([ header => $sh ], [ cookie => $sc ]) {
			my $r = $how->[1]->request($meth, $path);
			is($r->{status}, 200, "sub ($how->[0]) $meth $path: 200") or diag($r->{body});
			cookie_ok($r, 'ecs_subparticipant', $S1, "sub ($how->[0]) $meth $path");
		}
	}
	my $r = $sh->post('/sys/configs', json => {});
	is($r->{status}, 200, 'sub POST /sys/configs: 200');
	cookie_ok($r, 'ecs_subparticipant', $S1, 'sub POST /sys/configs');
	$r = $sc->get('/numlab/exercises/999999999');
	is($r->{status}, 404, 'sub GET unknown message: 404');
	cookie_ok($r, 'ecs_subparticipant', $S1, 'error after authentication');
	$r = $sc->post('/numlab/results', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 403, 'sub addressing a community it is not in: 403');
	cookie_ok($r, 'ecs_subparticipant', $S1, '403 after authentication');

	is(whoami($sh), $pid1, 'X-EcsAuthId: <auth id> authenticates the subparticipant');
	is(whoami($sc), $pid1, 'cookie ecs_subparticipant authenticates the subparticipant');
	is(whoami($d->client(Cookie => "other=1; ecs_subparticipant=$S1; x=y")), $pid1,
	    'cookie found among other cookies');
	my $both = $d->client(Cookie => "ecs_subparticipant=$S1", 'X-EcsAuthId' => 'ulama');
	is(whoami($both), $pid1, 'cookie beats X-EcsAuthId');
	$r = $both->get('/sys/events');
	cookie_ok($r, 'ecs_subparticipant', $S1, 'cookie + X-EcsAuthId');
	err_ok($d->client(Cookie => 'ecs_subparticipant=nosuch', 'X-EcsAuthId' => 'ulama')->get('/sys/events'),
	    401, 'No valid identity found for subparticipant cookie: nosuch',
	    'bad cookie is not rescued by a valid X-EcsAuthId');
	err_ok($d->client(Cookie => 'ecs_subparticipant=myid')->get('/sys/events'), 401,
	    'Subparticipant-Cookie: myid" is not assigned any subparticipant', 'cookie of a main participant');

	# /sys/subparticipants: no subparticipants, no cookies
	for my $case ([ GET => '/sys/subparticipants' ], [ POST => '/sys/subparticipants' ],
	    [ GET => "/sys/subparticipants/$sid1" ], [ PUT => "/sys/subparticipants/$sid1" ],
	    [ DELETE => "/sys/subparticipants/$sid1" ]) {
		my ($meth, $path) = @$case;
		for my $how ([ header => $sh ], [ cookie => $sc ], [ 'cookie + parent header' =>
		    $d->client(Cookie => "ecs_subparticipant=$S1", 'X-EcsAuthId' => 'my_secret_identity') ]) {
			my $r = $how->[1]->request($meth, $path, ($meth =~ /^P/ ? (json => {}) : ()));
			err_ok($r, 401, 'Subparticipants not allowed.', "sub ($how->[0]) $meth $path");
			no_cookie_ok($r, "sub ($how->[0]) $meth $path");
		}
	}
	is($c1->get("/sys/subparticipants/$sid1")->{status}, 200, 'the subparticipant survived its DELETE attempts');
	$r = $c1->get('/sys/subparticipants');
	no_cookie_ok($r, 'main participant on /sys/subparticipants');
	no_cookie_ok($c1->get('/sys/events'), 'main participant on /sys/events');
}

# ---------------------------------------------------------------- create: body and Content-Type rules
{
	my ($sid, $j, $auth, $r) = create_sub($c1);
	push @p1_sids, $sid;
	loc_ok($r, '/sys/subparticipants', 'empty body');
	is($j->{name}, "Subparticipant (id:$sid)", 'empty body: name');
	ok(exists $j->{realm} && !defined $j->{realm}, 'empty body: realm null');
	ok(jfalse($j->{community_selfrouting}), 'empty body: selfrouting false');
	ok(jtrue($j->{events}), 'empty body: events true');
	is_deeply($j->{memberships}, [], 'empty body: no memberships');
	like($j->{auth_ids}[0]{auth_id} // '', qr/^[0-9a-f]{32,}$/, 'empty body: random auth id');
	isnt($j->{auth_ids}[0]{auth_id}, $S1, 'auth ids differ between subparticipants');
	like($r->{body}, qr/\}\r\n\z/, 'empty body: JSON followed by \r\n');
	my $g = $d->as($auth)->get('/sys/memberships');
	is($g->{status}, 200, 'subparticipant without memberships authenticates');
	is($g->{body}, '', 'and has no memberships');

	($sid, $j) = create_sub($c1, body => '', ctype => 'text/plain');
	push @p1_sids, $sid;
	is_deeply($j->{memberships}, [], 'empty body with a non-JSON Content-Type: defaults');

	($sid, $j) = create_sub($c1, json => [ 'SUV' ]);
	push @p1_sids, $sid;
	is_deeply($j->{memberships}, [], 'JSON array body is treated as {}');
	($sid, $j) = create_sub($c1, body => '"SUV"', ctype => 'application/json');
	push @p1_sids, $sid;
	is_deeply($j->{memberships}, [], 'JSON string body is treated as {}');

	($sid, $j) = create_sub($c1, body => '{"realm":"cs"}', ctype => 'application/json; charset=utf-8');
	push @p1_sids, $sid;
	is($j->{realm}, 'cs', 'Content-Type with parameters accepted');
	($sid, $j) = create_sub($c1, body => '{"realm":"xj"}', ctype => 'text/x-json');
	push @p1_sids, $sid;
	is($j->{realm}, 'xj', 'JSON synonym text/x-json accepted');

	($sid, $j) = create_sub($c1, json => { communities => [ 'SUV', { x => 1 }, [ 2 ], undef,
	    $d->cid('WUV') ], realm => 'mixed' });
	push @p1_sids, $sid;
	is_deeply([ map { $_->{community}{name} } @{ $j->{memberships} || [] } ], [qw(SUV WUV)],
	    'communities by name and by cid; other element types skipped');

	my $before = $c1->get('/sys/subparticipants')->{body};
	err_ok($c1->post('/sys/subparticipants', body => '{"realm":"x"}', ctype => 'text/plain'),
	    415, $E_CT, 'non-empty body, Content-Type text/plain');
	err_ok($c1->post('/sys/subparticipants', body => '{"realm":"x"}'),
	    415, $E_CT, 'non-empty body, no Content-Type');
	err_ok($c1->post('/sys/subparticipants', body => '{"realm":"x"}', ctype => 'application/xml'),
	    415, $E_CT, 'non-empty body, Content-Type application/xml');
	err_ok($c1->post('/sys/subparticipants', body => '{bad', ctype => 'application/json'),
	    400, $E_JSON_C, 'unparseable JSON');
	err_ok($c1->post('/sys/subparticipants', body => '{"realm":', ctype => 'application/json'),
	    400, $E_JSON_C, 'truncated JSON');
	err_ok($c1->post('/sys/subparticipants', json => { communities => [ 'SUV', 'nosuch' ] }),
	    400, "${E_UNK}nosuch\n", 'unknown community name');
	err_ok($c1->post('/sys/subparticipants', json => { communities => [ 999999 ] }),
	    400, "${E_UNK}999999\n", 'unknown community id');
	err_ok($c1->post('/sys/subparticipants', json => { communities => [ 'suv' ] }),
	    400, "${E_UNK}suv\n", 'community names are case-sensitive');
	err_ok($c3->post('/sys/subparticipants', json => { communities => [ 'SUV', 'public', 'WUV' ] }),
	    400, "${E_SUBSET}SUV, WUV\n", 'communities not a subset of the parent\'s (P3)');
	err_ok($c3->post('/sys/subparticipants', json => { communities => [ $d->cid('SUV') ] }),
	    400, "${E_SUBSET}SUV\n", 'not a subset, by cid (names in the text)');
	my $x = $A->post('/admin/communities', json => { name => 'EXTRA', description => 'nobody' });
	is($x->{status}, 201, 'community EXTRA (P1 not a member)');
	err_ok($c1->post('/sys/subparticipants', json => { communities => [ 'public', 'EXTRA' ] }),
	    400, "${E_SUBSET}EXTRA\n", 'P1: EXTRA not allowed');
	is($c1->get('/sys/subparticipants')->{body}, $before, 'failed creations created nothing');
	is($c3->get('/sys/subparticipants')->{body}, '', 'P3 has no subparticipants');
}

# ---------------------------------------------------------------- events false (Q-23), selfrouting
{
	my ($sidf, $jf, $af) = create_sub($c1, json => { communities => ['SUV'], events => JSON::PP::false });
	push @p1_sids, $sidf;
	ok(jfalse($jf->{events}), 'events false is honoured (Q-23)');
	my $sf = $d->as($af);
	ok(jfalse($sf->get('/sys/configs')->{json}{participant_events}), 'configs: participant_events false');
	is_deeply(events($sf), [], 'no postrouting event while events are off');
	my $msg = send_msg($c2, '/numlab/results', 'to the silent sub', mids => sub_entry($jf)->{mid});
	is_deeply(list($sf, '/numlab/results'), [ "results/$msg" ], 'the silent subparticipant receives');
	is_deeply(events($sf), [], 'a message to it queues no event');
	my $ctl = send_msg($c2, '/numlab/results', 'to sub 1', mids => $mid1);
	ok(grep({ $_ eq "numlab/results/$ctl created" } @{ events($d->as($S1)) }),
	    'control: events-enabled subparticipant gets the created event');

	my ($s, $j) = create_sub($c1, json => { events => 'false' });
	push @p1_sids, $s;
	ok(jfalse($j->{events}), 'events "false" (string) disables');
	($s, $j) = create_sub($c1, json => { events => JSON::PP::true });
	push @p1_sids, $s;
	ok(jtrue($j->{events}), 'events true');

	my ($sids, $js, $as) = create_sub($c1, json => { communities => ['SUV'], community_selfrouting => JSON::PP::true });
	push @p1_sids, $sids;
	ok(jtrue($js->{community_selfrouting}), 'community_selfrouting true');
	my $ss = $d->as($as);
	ok(jtrue($ss->get('/sys/configs')->{json}{selfrouting}), 'configs: selfrouting true');
	is_deeply(events($ss), [ "numlab/exercises/$pr_suv created" ], 'selfrouting sub: postrouted event');
	$ss->post('/sys/events/fifo');
	my $own = send_msg($ss, '/numlab/results', 'selfrouted', comms => 'SUV');
	is_deeply(list($ss, '/numlab/results'), [ "results/$own" ], 'selfrouting: receives its own community message');
	is_deeply(events($ss), [ "numlab/results/$own created" ], 'selfrouting: created event for it');
	ok(grep({ $_ eq "results/$own" } @{ list($c2, '/numlab/results') }), 'P2 receives it too');

	my $s1 = $d->as($S1);
	$s1->post('/sys/events/fifo?count=-1');
	my $nsr = send_msg($s1, '/numlab/results', 'not selfrouted', comms => 'SUV');
	ok(!grep({ $_ eq "results/$nsr" } @{ list($s1, '/numlab/results') }),
	    'without selfrouting: own community message not received');
	is_deeply(events($s1), [], 'without selfrouting: no event for it');
	ok(grep({ $_ eq "results/$nsr" } @{ list($c2, '/numlab/results') }), 'P2 receives the sub\'s message');
}

# ---------------------------------------------------------------- list
my ($sid2, $j2, $S2) = create_sub($c2, json => { communities => ['WUV'], realm => 'p2' });
{
	my $r = $c1->get('/sys/subparticipants');
	is($r->{status}, 200, 'list: 200');
	std_ok($r, 'list');
	like($r->{headers}{'content-type'} // '', qr{^text/uri-list(?:; ?charset=utf-8)?$}i, 'list: text/uri-list');
	is($r->{body}, join('', map { "subparticipants/$_\n" } sort { $a <=> $b } @p1_sids),
	    'list: subparticipants/<sid> lines of P1\'s children, by sid');
	no_cookie_ok($r, 'list');
	is($c2->get('/sys/subparticipants')->{body}, "subparticipants/$sid2\n", 'P2 lists only its own child');
	$r = $c4->get('/sys/subparticipants');
	is($r->{status}, 200, 'list without children: 200');
	is($r->{body}, '', 'list without children: empty body');
	like($r->{headers}{'content-type'} // '', qr{^text/uri-list}i, 'empty list: text/uri-list');
	$r = $c1->get('/sys/subparticipants', headers => { Accept => 'application/json' });
	is($r->{status}, 406, 'list with Accept: application/json: 406');
	is($r->{body} =~ s/\s+//gr, '', '406: empty body');
	is($c1->get('/sys/subparticipants', headers => { Accept => '*/*' })->{status}, 200, 'Accept */*: 200');
}

# ---------------------------------------------------------------- show
{
	my $r = $c1->get("/sys/subparticipants/$sid1");
	is($r->{status}, 200, 'show by the parent: 200');
	std_ok($r, 'show');
	like($r->{headers}{'content-type'} // '', qr{^application/json}i, 'show: application/json');
	like($r->{body}, qr/\}\r\n\z/, 'show: JSON followed by \r\n');
	is_deeply($r->{json}, $j1, 'show: same representation as the create answer');
	no_cookie_ok($r, 'show');
	is($c1->get("/sys/subparticipants/$sid1", headers => { Accept => 'application/json' })->{status}, 200,
	    'show with Accept: application/json');
	is($c1->get("/sys/subparticipants/$sid1", headers => { Accept => 'text/plain' })->{status}, 406,
	    'show with Accept: text/plain: 406');

	for my $meth (qw(GET PUT DELETE)) {
		err_ok($c2->request($meth, "/sys/subparticipants/$sid1", ($meth eq 'PUT' ? (json => { realm => 'evil' }) : ())),
		    403, $E_403, "$meth by another main participant");
		err_ok($c1->request($meth, "/sys/subparticipants/$sid2", ($meth eq 'PUT' ? (json => {}) : ())),
		    403, $E_403, "$meth of P2's child by P1");
		err_ok($c1->request($meth, '/sys/subparticipants/999999', ($meth eq 'PUT' ? (json => {}) : ())),
		    404, "${E_404}999999", "$meth of an unknown sid");
	}
	is_deeply($c1->get("/sys/subparticipants/$sid1")->{json}, $j1, 'unchanged after the refused requests');
	is($c2->get("/sys/subparticipants/$sid2")->{json}{realm}, 'p2', 'P2\'s child unchanged');
}

# ---------------------------------------------------------------- update (Q-34, Q-56, Q-57)
{
	my ($sid, $j, $auth) = create_sub($c1, json => { communities => ['SUV'], realm => 'r1',
	    community_selfrouting => JSON::PP::true });
	push @p1_sids, $sid;
	my $e = sub_entry($j);
	my $u = $d->as($auth);
	my $pr_wuv = send_msg($c2, '/numlab/exercises', 'P2 postrouted to WUV', comms => 'WUV');
	my $to_u = send_msg($c2, '/numlab/results', 'to U', mids => $e->{mid});
	is_deeply(list($u, '/numlab/results'), [ "results/$to_u" ], 'U receives in SUV');
	$u->post('/sys/events/fifo?count=-1');

	my $r = $c1->put("/sys/subparticipants/$sid", json => { communities => ['WUV'], realm => 'r2' });
	is($r->{status}, 200, 'update: 200') or diag($r->{body});
	std_ok($r, 'update');
	like($r->{headers}{'content-type'} // '', qr{^application/json}i, 'update: application/json');
	is($r->{headers}{location}, "$base/sys/subparticipants/$sid", 'update: Location without repeated id (Q-57)');
	like($r->{body}, qr/\}\r\n\z/, 'update: JSON followed by \r\n');
	no_cookie_ok($r, 'update');
	my $n = $r->{json} || {};
	is($n->{realm}, 'r2', 'update answer shows the new realm (Q-56)');
	ok(jfalse($n->{community_selfrouting}), 'omitted community_selfrouting → false (Q-34)');
	ok(jtrue($n->{events}), 'events true');
	is($n->{name}, "Subparticipant (id:$sid)", 'name unchanged');
	is_deeply($n->{auth_ids}, $j->{auth_ids}, 'auth id unchanged');
	is_deeply([ map { $_->{community}{name} } @{ $n->{memberships} || [] } ], ['WUV'], 'memberships replaced: WUV only');
	my $ne = sub_entry($n);
	is($ne->{pid}, $e->{pid}, 'same participant');
	ok(jtrue($ne->{itsyou}) && ($ne->{type} // '') eq 'sub', 'entry: itsyou, type sub');
	is(scalar @{ ($n->{memberships}[0] || {})->{participants} || [] }, 1, 'community lists only the subparticipant');
	is_deeply($c1->get("/sys/subparticipants/$sid")->{json}, $n, 'GET shows the same new state');
	is(whoami($u), $e->{pid}, 'the auth id still works');
	is_deeply(list($u, '/numlab/results'), [], 'left SUV: links removed');
	is_deeply(events($u), [ "numlab/exercises/$pr_wuv created" ],
	    'joined WUV: postrouted created event; leaving SUV: no destroyed event');
	ok(jfalse($u->get('/sys/configs')->{json}{selfrouting}), 'configs: selfrouting false now');

	$r = $c1->put("/sys/subparticipants/$sid", json => { events => JSON::PP::false, realm => 'r3',
	    communities => ['WUV', 'SUV'], community_selfrouting => JSON::PP::true });
	is($r->{status}, 200, 'update 2: 200');
	ok(jfalse($r->{json}{events}), 'update: events false honoured (Q-23)');
	ok(jtrue($r->{json}{community_selfrouting}), 'update: selfrouting true');
	is_deeply([ sort map { $_->{community}{name} } @{ $r->{json}{memberships} || [] } ], [qw(SUV WUV)],
	    'update: two memberships');
	is_deeply(events($u), [ "numlab/exercises/$pr_wuv created" ], 'events off: rejoining SUV queues nothing');
	ok(grep({ $_ eq "exercises/$pr_suv" } @{ list($u, '/numlab/exercises') }), 'but the SUV message is postrouted');

	$r = $c1->put("/sys/subparticipants/$sid", json => {});
	is($r->{status}, 200, 'update with {}: 200');
	$n = $r->{json} || {};
	is_deeply($n->{memberships}, [], 'omitted communities → no memberships (Q-34)');
	ok(exists $n->{realm} && !defined $n->{realm}, 'omitted realm → null (Q-34)');
	ok(jfalse($n->{community_selfrouting}), 'omitted selfrouting → false');
	ok(jtrue($n->{events}), 'omitted events → true (default)');
	my $g = $u->get('/sys/memberships');
	is($g->{status}, 200, 'U without memberships: 200');
	is($g->{body}, '', 'U has no memberships');
	is_deeply($c1->get("/sys/subparticipants/$sid")->{json}, $n, 'GET after {}: same');

	$r = $c1->put("/sys/subparticipants/$sid", body => '{"realm":"tp","communities":["SUV"]}', ctype => 'text/plain');
	is($r->{status}, 200, 'update: no Content-Type check');
	is($r->{json}{realm}, 'tp', 'update with text/plain body applied');

	err_ok($c1->put("/sys/subparticipants/$sid", body => '{bad', ctype => 'application/json'),
	    400, $E_JSON_U, 'update: unparseable JSON');
	err_ok($c1->put("/sys/subparticipants/$sid", json => { communities => ['nosuch'] }),
	    400, "${E_UNK}nosuch\n", 'update: unknown community');
	err_ok($c1->put("/sys/subparticipants/$sid", json => { communities => ['EXTRA'] }),
	    400, "${E_SUBSET}EXTRA\n", 'update: not a subset');
	my $after = $c1->get("/sys/subparticipants/$sid")->{json} || {};
	is($after->{realm}, 'tp', 'failed updates changed nothing (realm)');
	is_deeply([ map { $_->{community}{name} } @{ $after->{memberships} || [] } ], ['SUV'],
	    'failed updates changed nothing (memberships)');
}

# ---------------------------------------------------------------- delete (2.2, Q-25)
{
	my ($sid, $j, $auth) = create_sub($c1, json => { communities => ['SUV'] });
	my $e = sub_entry($j);
	my $dc = $d->as($auth);
	my $m1 = send_msg($dc, '/numlab/results', 'from D to P2', mids => $d->mid(P2 => 'SUV'));
	my $m2 = send_msg($dc, '/numlab/exercises', 'from D, postrouted, to SUV', comms => 'SUV');
	ok(grep({ $_ eq "numlab/results/$m1 created" } @{ events($c2) }), 'P2 has an event for D\'s message');
	is($c2->get("/numlab/results/$m1")->{status}, 200, 'P2 reads D\'s message');

	my $r = $c1->delete("/sys/subparticipants/$sid");
	is($r->{status}, 200, 'delete: 200');
	std_ok($r, 'delete');
	is($r->{body}, '', 'delete: empty body');
	like($r->{headers}{'content-type'} // '', qr{^application/json(?:; ?charset=utf-8)?$}i,
	    'delete: Content-Type application/json (Q-25)');
	no_cookie_ok($r, 'delete');

	err_ok($c1->get("/sys/subparticipants/$sid"), 404, "${E_404}$sid", 'show after delete');
	err_ok($c1->delete("/sys/subparticipants/$sid"), 404, "${E_404}$sid", 'delete again');
	is($c1->get('/sys/subparticipants')->{body}, join('', map { "subparticipants/$_\n" } sort { $a <=> $b } @p1_sids),
	    'list no longer names it');
	err_ok($dc->get('/sys/events'), 401, qq{No "X-EcsAuthId: $auth" identity found}, 'its auth id is gone');
	err_ok($d->client(Cookie => "ecs_subparticipant=$auth")->get('/sys/events'), 401,
	    "No valid identity found for subparticipant cookie: $auth", 'its cookie is gone');
	is($A->get("/admin/participants/$e->{pid}")->{status}, 404, 'the child participant is deleted');
	err_ok($c2->get("/numlab/results/$m1"), 404, 'Invalid resource id', 'its sent message is gone');
	err_ok($c2->get("/numlab/exercises/$m2"), 404, 'Invalid resource id', 'its postrouted message is gone');
	ok(!grep({ m{/(?:\Q$m1\E|\Q$m2\E) } } @{ events($c2) }), 'events about its messages are gone, no destroyed');
	ok(!grep({ $_ eq "results/$m1" } @{ list($c2, '/numlab/results') }), 'not listed for P2');
	ok(!grep({ $_ == $e->{pid} } @{ members($c2, 'SUV') }), 'its membership is gone');
	my ($sid_n, $jn) = create_sub($c1, json => { communities => ['SUV'] });
	push @p1_sids, $sid_n;
	ok(!grep({ $_ eq "exercises/$m2" } @{ list($d->as($jn->{auth_ids}[0]{auth_id} // 'x'), '/numlab/exercises') }),
	    'its community message is not postrouted any more');
}

# ---------------------------------------------------------------- deleting the parent (Q-24)
{
	my $p = $A->post('/admin/participants', json => { name => 'Parent X',
	    organization_id => $P1->{organization_id}, email => 'px@example.org',
	    auth_ids => ['parentx'], communities => ['SUV'] });
	is($p->{status}, 201, 'participant Parent X in SUV');
	my $px = $d->as('parentx');
	my ($sa, $ja, $aa) = create_sub($px, json => { communities => ['SUV'] });
	my ($sb, $jb, $ab) = create_sub($px, json => { communities => ['SUV'], realm => 'b' });
	is($ja->{email}, 'px@example.org', 'child has the parent\'s email');
	my $pa = sub_entry($ja)->{pid} // 0;
	my $pb = sub_entry($jb)->{pid} // 0;
	ok($pa && $pb, 'pids of both children');
	is($A->get("/admin/participants/$pb")->{json}{type}, 'sub', 'child B is a sub participant');
	my $msg = send_msg($d->as($aa), '/numlab/results', 'from child A', mids => $d->mid(P2 => 'SUV'));
	is($c2->get("/numlab/results/$msg")->{status}, 200, 'P2 receives child A\'s message');

	my $r = $A->delete("/admin/participants/$p->{json}{id}");
	is($r->{status}, 200, 'admin deletes Parent X');
	err_ok($d->as($aa)->get('/sys/events'), 401, qq{No "X-EcsAuthId: $aa" identity found}, 'child A auth id gone (Q-24)');
	err_ok($d->as($ab)->get('/sys/events'), 401, qq{No "X-EcsAuthId: $ab" identity found}, 'child B auth id gone (Q-24)');
	err_ok($d->client(Cookie => "ecs_subparticipant=$aa")->get('/sys/events'), 401,
	    "No valid identity found for subparticipant cookie: $aa", 'child A cookie gone');
	is($A->get("/admin/participants/$pa")->{status}, 404, 'child A participant deleted');
	is($A->get("/admin/participants/" . ($pb // 0))->{status}, 404, 'child B participant deleted');
	err_ok($c2->get("/numlab/results/$msg"), 404, 'Invalid resource id', 'child A\'s sent message is gone');
	ok(!grep({ $_ == $pa } @{ members($c2, 'SUV') }), 'child A no longer a member of SUV');
	is($c1->get('/sys/subparticipants')->{body}, join('', map { "subparticipants/$_\n" } sort { $a <=> $b } @p1_sids),
	    'P1\'s children unaffected');
	is(whoami($d->as($S1)), $pid1, 'P1\'s first child still works');
}

$d->stop_ok;
done_testing;
