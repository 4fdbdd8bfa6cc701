#!/usr/bin/perl
# Anonymous participants (spec 4.1, 4.2, 4.4, 9, 12.5, 13.1; HACKING.md
# allow_anonymous, anonymous_ttl) and the quirks Q-7, Q-8, Q-9, Q-30, Q-45.
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

# Exactly one Set-Cookie: ecs_anonymous=<value>; path=/; expires=<date>.
# $value undef: any 40 lowercase hex digits. $ttl: expected lifetime (undef:
# only "in the future"). Returns the cookie value.
sub anon_cookie_ok {
	my ($r, $value, $name, $ttl) = @_;
	my @sc = set_cookies($r);
	is(scalar @sc, 1, "$name: one Set-Cookie") or diag("status $r->{status}; Set-Cookie: @sc");
	my $c = $sc[0] // '';
	my $vre = defined $value ? qr/\Q$value\E/ : qr/[0-9a-f]{40}/;
	like($c, qr/^ecs_anonymous=$vre; path=\/; expires=[^;]+$/,
	    "$name: Set-Cookie ecs_anonymous=<value>; path=/; expires=...");
	my ($v) = $c =~ /^ecs_anonymous=([^;]*)/;
	my ($exp) = $c =~ /expires=([^;]+)$/;
	my $t = cookie_date($exp);
	if (defined $ttl) {
		ok(defined $t && abs($t - (time + $ttl)) <= 120, "$name: expires is an HTTP date about now + $ttl s")
		    or diag('expires=' . ($exp // '(none)'));
	} else {
		ok(defined $t && $t > time, "$name: expires is an HTTP date in the future")
		    or diag('expires=' . ($exp // '(none)'));
	}
	return $v;
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
# the caller's own entry under all=true (undef if none)
sub me {
	my ($c) = @_;
	my $r = $c->get('/sys/memberships', headers => { 'X-EcsQueryStrings' => 'all=true' });
	my @me = grep { jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] };
	return $me[0];
}

# every participant row the admin API can reach: the main participants
# (GET /admin/participants) and any id up to a bound (anonymous ones are
# found by id); returns {id => participant}
my $MAXPID = 60;
sub all_participants {
	my ($d) = @_;
	my %p;
	for my $id (1 .. $MAXPID) {
		my $r = $d->admin->get("/admin/participants/$id");
		$p{$id} = $r->{json} if $r->{status} == 200;
	}
	return \%p;
}
sub anon_pids {
	my ($d) = @_;
	my $p = all_participants($d);
	return [ sort { $a <=> $b } grep { ($p->{$_}{type} // '') eq 'anonym' } keys %$p ];
}

my $E_NOHDR = 'No "X-EcsAuthId" http header';

my $d = Ecsd->start(conf => { allow_anonymous => 1 });
my $A = $d->admin;
my $m = $d->fixture_spec;
my ($c1, $c2, $c3, $c4) = map { $d->as($_) } qw(my_secret_identity ulama sunito trulane);
my $public = $d->cid('public');

# messages existing before any anonymous participant
my $pr_pub = send_msg($c3, '/numlab/exercises', 'postrouted to public', comms => 'public');
my $np_pub = send_msg($c3, '/numlab/results', 'not postrouted to public', comms => 'public');
my $pr_mid = send_msg($c3, '/numlab/exercises', 'postrouted, by mid', mids => $d->mid(P4 => 'public'));
my $pr_suv = send_msg($c1, '/numlab/exercises', 'postrouted to SUV', comms => 'SUV');
ok($pr_pub && $np_pub && $pr_mid && $pr_suv, 'four messages sent before');
is_deeply(anon_pids($d), [], 'no anonymous participant yet');

# ---------------------------------------------------------------- creation (4.1 step 2.1, 4.4)
my ($V, $apid);
{
	my $r = $d->client->get('/sys/events');
	is($r->{status}, 200, 'no X-EcsAuthId and no Cookie: 200 (anonymous participant)') or diag($r->{body});
	std_ok($r, 'anonymous GET /sys/events');
	$V = anon_cookie_ok($r, undef, 'creation', 3600) // 'no-cookie';
	like($V, qr/^[0-9a-f]{40}$/, 'cookie value: 40 lowercase hex digits');
	is_deeply(events_of($r), [ "numlab/exercises/$pr_pub created" ],
	    'postrouting on creation: created event for the postrouted public community message only');

	my $ids = anon_pids($d);
	is(scalar @$ids, 1, 'one anonymous participant created');
	$apid = $ids->[0] // 0;
	my $p = $A->get("/admin/participants/$apid")->{json} || {};
	is($p->{name}, $V, 'name = cookie value');
	is($p->{description}, 'Anonymous Participant', 'description');
	is($p->{dns}, 'N/A', 'dns N/A');
	is($p->{email}, 'N/A', 'email N/A');
	is($p->{organization_id}, $m->{organizations}{'not available'}{id}, 'organization "not available"');
	ok(jfalse($p->{community_selfrouting}), 'selfrouting false');
	ok(jtrue($p->{events}), 'events true');
	is_deeply($p->{auth_ids}, [$V], 'one identity named like the cookie');
	is_deeply([ map { $_->{community_id} } @{ $p->{memberships} || [] } ], [$public],
	    'member of public only');
}

my $ac = $d->client(Cookie => "ecs_anonymous=$V");
# ---------------------------------------------------------------- cookie reuse
{
	my $r = $ac->get('/sys/memberships');
	is($r->{status}, 200, 'cookie reuse: 200');
	anon_cookie_ok($r, $V, 'cookie reuse /sys/memberships', 3600);
	my $j = ref $r->{json} eq 'ARRAY' ? $r->{json} : [];
	is_deeply([ map { $_->{community}{name} } @$j ], ['public'], 'memberships: public only');
	ok(!grep({ jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @$j),
	    'default view: does not see itself (Q-30)');
	is_deeply([ map { $_->{pid} } @{ ($j->[0] || {})->{participants} || [] } ],
	    [ sort { $a <=> $b } map { $d->pid($_) } qw(P1 P3 P4) ], 'default view: main members of public');

	my $me = me($ac) || {};
	is($me->{pid}, $apid, 'all=true: itsyou entry is the anonymous participant (same participant)');
	is($me->{type}, 'anonym', 'type anonym');
	is($me->{name}, $V, 'entry name');
	is($me->{description}, 'Anonymous Participant', 'entry description');
	is_deeply([ $me->{dns}, $me->{email} ], [ 'N/A', 'N/A' ], 'entry dns, email');
	is_deeply($me->{org}, { name => 'not available', abbr => 'n/a' }, 'entry org');
	is(me($d->client(Cookie => "a=b; ecs_anonymous=$V; c=d")) && me($d->client(Cookie => "a=b; ecs_anonymous=$V; c=d"))->{pid},
	    $apid, 'cookie among other cookies');
	is_deeply(anon_pids($d), [$apid], 'cookie requests create no participant');

	my $o = $c2->get('/sys/memberships?anonymous=true');
	is_deeply([ map { [ map { $_->{pid} } @{ $_->{participants} } ] } @{ $o->{json} || [] } ], [ [], [] ],
	    'P2 (not in public) sees no anonymous participant');
	my ($pub) = grep { $_->{community}{name} eq 'public' } @{ $c3->get('/sys/memberships?anonymous=1')->{json} || [] };
	is_deeply([ map { $_->{pid} } @{ $pub ? $pub->{participants} : [] } ], [$apid], 'P3 sees it in public');
}

# ---------------------------------------------------------------- using the protocol
{
	my $r = $ac->get('/numlab/exercises');
	is($r->{status}, 200, 'list: 200');
	anon_cookie_ok($r, $V, 'list', 3600);
	is_deeply(list($ac, '/numlab/exercises'), [ "exercises/$pr_pub" ], 'receives the postrouted public message');
	$r = $ac->get("/numlab/exercises/$pr_pub");
	is($r->{status}, 200, 'show: 200');
	is($r->{body}, 'postrouted to public', 'show: body');
	is($r->{headers}{'x-ecsreceivercommunities'}, $public, 'show: received through public');
	anon_cookie_ok($r, $V, 'show', 3600);
	is_deeply(list($ac, '/numlab/results'), [], 'non-postrouted public message not delivered');
	is($ac->get("/numlab/exercises/$pr_mid")->{status}, 403, 'mid-addressed message not delivered');
	is($ac->get("/numlab/exercises/$pr_suv")->{status}, 403, 'SUV message not delivered');

	$r = $ac->post('/numlab/results', body => 'from anon', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => 'public' });
	is($r->{status}, 201, 'anonymous sends to public: 201') or diag($r->{body});
	anon_cookie_ok($r, $V, 'create', 3600);
	my $sent = Ecsd::loc_id($r) // 0;
	for my $c ($c1, $c3, $c4) {
		ok(grep({ $_ eq "results/$sent" } @{ list($c, '/numlab/results') }), 'a public main member receives it');
		ok(grep({ $_ eq "numlab/results/$sent created" } @{ events($c) }), 'with a created event');
	}
	ok(!grep({ $_ eq "results/$sent" } @{ list($c2, '/numlab/results') }), 'P2 (not in public) does not');
	my $x = $c3->get("/numlab/results/$sent");
	is($x->{body}, 'from anon', 'P3 reads it');
	my $amid = (grep { $_->{community_id} == $public } @{ $A->get("/admin/participants/$apid")->{json}{memberships} || [] })[0];
	is($x->{headers}{'x-ecssender'}, $amid && $amid->{mid}, 'X-EcsSender: the anonymous participant\'s mid');

	$r = $ac->post('/numlab/results', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverCommunities' => 'SUV' });
	err_ok($r, 403, ERR('not_joining'), 'anonymous addressing SUV');
	anon_cookie_ok($r, $V, 'error after authentication', 3600);

	my $in = send_msg($c3, '/numlab/results', 'to anon', mids => $amid && $amid->{mid});
	ok(grep({ $_ eq "numlab/results/$in created" } @{ events($ac) }), 'P3 addresses it by mid: created event');

	$r = $ac->get('/sys/configs');
	is($r->{status}, 200, 'GET /sys/configs: 200');
	anon_cookie_ok($r, $V, '/sys/configs', 3600);
	$r = $ac->post('/sys/configs', json => {});
	is($r->{status}, 200, 'POST /sys/configs: 200');
	anon_cookie_ok($r, $V, 'POST /sys/configs', 3600);
	for my $path (qw(/events /memberships /sys/events/fifo)) {
		$r = $ac->get($path);
		is($r->{status}, 200, "GET $path: 200");
		anon_cookie_ok($r, $V, $path, 3600);
	}

	# /sys/subparticipants (4.4, 12.5)
	for my $case ([ GET => '/sys/subparticipants' ], [ POST => '/sys/subparticipants' ],
	    [ GET => '/sys/subparticipants/1' ], [ PUT => '/sys/subparticipants/1' ],
	    [ DELETE => '/sys/subparticipants/1' ]) {
		my ($meth, $path) = @$case;
		my $r = $ac->request($meth, $path, ($meth =~ /^P/ ? (json => {}) : ()));
		err_ok($r, 401, 'Anonymous participants not allowed.', "anonymous $meth $path");
		no_cookie_ok($r, "anonymous $meth $path");
	}
	my $r2 = $d->client->get('/sys/subparticipants');
	err_ok($r2, 401, 'Anonymous participants not allowed.', 'cookie-less GET /sys/subparticipants');
	no_cookie_ok($r2, 'cookie-less GET /sys/subparticipants');
	my $r3 = $d->client(Cookie => "ecs_anonymous=$V", 'X-EcsAuthId' => 'my_secret_identity')->get('/sys/subparticipants');
	err_ok($r3, 401, 'Anonymous participants not allowed.', 'anonymous cookie beats X-EcsAuthId on /sys/subparticipants');
}

# ---------------------------------------------------------------- more requests, more participants (Q-9)
{
	my $before = anon_pids($d);
	my $r = $d->client->get('/sys/configs');
	is($r->{status}, 200, 'second cookie-less request: 200');
	my $v2 = anon_cookie_ok($r, undef, 'second creation', 3600) // 'x';
	isnt($v2, $V, 'a new cookie value');
	my $after = anon_pids($d);
	is(scalar @$after, @$before + 1, 'a new anonymous participant per cookie-less request (Q-9)');
	my $me2 = me($d->client(Cookie => "ecs_anonymous=$v2")) || {};
	ok(($me2->{pid} // $apid) != $apid, 'the new cookie names the new participant');

	$r = $d->client->get('/sys/events', headers => { 'X-EcsAuthId' => '' });
	is($r->{status}, 200, 'blank X-EcsAuthId and no Cookie: anonymous');
	anon_cookie_ok($r, undef, 'blank X-EcsAuthId', 3600);

	$r = $d->client->get('/numlab/exercises', headers => { 'X-EcsAuthId' => 'ulama' });
	is($r->{status}, 200, 'X-EcsAuthId without Cookie: the main participant');
	no_cookie_ok($r, 'main participant');
	is((me($c2) || {})->{pid}, $d->pid('P2'), 'still ulama');
}

# ---------------------------------------------------------------- cookie errors and precedence
{
	my $n = scalar @{ anon_pids($d) };
	err_ok($d->client(Cookie => 'ecs_anonymous=deadbeef')->get('/sys/events'), 401,
	    'No valid identity found for cookie: deadbeef', 'unknown anonymous cookie');
	err_ok($d->client(Cookie => 'ecs_anonymous=deadbeef', 'X-EcsAuthId' => 'ulama')->get('/sys/events'), 401,
	    'No valid identity found for cookie: deadbeef', 'unknown anonymous cookie, valid X-EcsAuthId');
	err_ok($d->client(Cookie => 'ecs_anonymous=ulama')->get('/sys/events'), 401,
	    'Cookie: ulama" is not assigned any anonymous participant', 'cookie naming a main participant');
	my $s = $c1->post('/sys/subparticipants', json => { communities => ['public'] });
	is($s->{status}, 200, 'P1 creates a subparticipant');
	my $sa = $s->{json} ? $s->{json}{auth_ids}[0]{auth_id} : 'x';
	err_ok($d->client(Cookie => "ecs_anonymous=$sa")->get('/sys/events'), 401,
	    qq{Cookie: $sa" is not assigned any anonymous participant}, 'anonymous cookie naming a subparticipant');
	my $both = $d->client(Cookie => "ecs_subparticipant=$sa; ecs_anonymous=$V");
	is((me($both) || {})->{pid}, $s->{json}{memberships}[0]{participants}[0]{pid},
	    'subparticipant cookie beats anonymous cookie');

	my $r = $d->client(Cookie => 'session=abc')->get('/sys/events');
	err_ok($r, 401, $E_NOHDR, 'some other Cookie, no credentials');
	no_cookie_ok($r, 'some other Cookie');
	err_ok($d->client(Cookie => 'session=abc; ecs_anonymous=')->get('/sys/events'), 401, $E_NOHDR,
	    'blank ecs_anonymous cookie');
	is(scalar @{ anon_pids($d) }, $n, 'none of these created a participant');

	is((me($d->client(Cookie => 'session=abc', 'X-EcsAuthId' => 'ulama')) || {})->{pid}, $d->pid('P2'),
	    'other Cookie plus X-EcsAuthId: the main participant');
	my $w = $d->client(Cookie => "ecs_anonymous=$V", 'X-EcsAuthId' => 'ulama');
	is((me($w) || {})->{pid}, $apid, 'anonymous cookie beats X-EcsAuthId');
	anon_cookie_ok($w->get('/sys/events'), $V, 'anonymous cookie + X-EcsAuthId', 3600);

	# Q-45, Q-7
	my $h = $d->as($V);
	is((me($h) || {})->{pid}, $apid, 'X-EcsAuthId: <cookie value> authenticates it (Q-45)');
	$r = $h->get('/sys/events');
	is($r->{status}, 200, 'Q-45: GET /sys/events');
	anon_cookie_ok($r, $V, 'Q-45: cookie carries the auth id used (Q-7)', 3600);
	err_ok($h->get('/sys/subparticipants'), 401, 'Anonymous participants not allowed.',
	    'Q-45: still anonymous on /sys/subparticipants');
	is(scalar @{ anon_pids($d) }, $n, 'no participant created');
}

# ---------------------------------------------------------------- allow_anonymous = 0 (default)
{
	my $n = scalar @{ anon_pids($d) };
	$d->stop;
	my $conf = $d->dir . '/ecsd.conf';
	my $text = do { open(my $fh, '<', $conf) or die "$conf: $!"; local $/; <$fh> };
	$text =~ s/^allow_anonymous\s*=.*\n//m;
	open(my $fh, '>', $conf) or die "$conf: $!";
	print $fh $text;
	close $fh;
	$d->restart;

	my $r = $d->client->get('/sys/events');
	err_ok($r, 401, $E_NOHDR, 'default allow_anonymous = 0: no header → 401');
	no_cookie_ok($r, 'disabled');
	err_ok($d->client->get('/numlab/exercises'), 401, $E_NOHDR, 'disabled: message route');
	err_ok($d->client(Cookie => "ecs_anonymous=$V")->get('/sys/events'), 401, $E_NOHDR,
	    'disabled: ecs_anonymous cookie ignored');
	err_ok($d->client(Cookie => 'ecs_anonymous=deadbeef')->get('/sys/events'), 401, $E_NOHDR,
	    'disabled: unknown ecs_anonymous cookie ignored');
	is(scalar @{ anon_pids($d) }, $n, 'disabled: no participant created');

	my $h = $d->as($V);
	is((me($h) || {})->{pid}, $apid, 'disabled: X-EcsAuthId: <cookie value> still works (Q-45)');
	is_deeply(list($h, '/numlab/exercises'), [ "exercises/$pr_pub" ], 'disabled: it still receives');
	err_ok($h->get('/sys/subparticipants'), 401, 'Anonymous participants not allowed.',
	    'disabled: anonymous on /sys/subparticipants');
	$d->stop_ok('ecsd (anonymous)');
}

# ---------------------------------------------------------------- anonymous_ttl = 60
{
	my $t = Ecsd->start(conf => { allow_anonymous => 1, anonymous_ttl => 60, gc_interval => 1 });
	$t->fixture_spec;
	my $r = $t->client->get('/numlab/exercises');
	is($r->{status}, 200, 'anonymous_ttl = 60: cookie-less request: 200');
	my $v = anon_cookie_ok($r, undef, 'anonymous_ttl = 60') // 'x';
	my $ids = anon_pids($t);
	is(scalar @$ids, 1, 'anonymous_ttl = 60: the participant exists');
	sleep 2;	# a few GC rounds; the ttl is far away
	my $me = me($t->client(Cookie => "ecs_anonymous=$v")) || {};
	is($me->{pid}, $ids->[0], 'anonymous_ttl = 60: the cookie works after some GC rounds');
	is_deeply(anon_pids($t), $ids, 'anonymous_ttl = 60: still exactly one anonymous participant');
	$t->stop_ok('ecsd (anonymous_ttl = 60)');
}

done_testing;
