#!/usr/bin/perl
# /sys/memberships (spec 12.1, 3.4, 5.1, Q-19, Q-29, Q-30).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Ecsd;

sub jtrue  { my ($v) = @_; return JSON::PP::is_bool($v) && $v ? 1 : 0 }
sub jfalse { my ($v) = @_; return JSON::PP::is_bool($v) && !$v ? 1 : 0 }

my $d = Ecsd->start;
my $A = $d->admin;
my $m = $d->fixture_spec;

my %part = %{ $m->{participants} };
my ($P1, $P2, $P3, $P4) = map { $part{ $Ecsd::SPEC_NAMES{$_} } } qw(P1 P2 P3 P4);
my %org = %{ $m->{organizations} };
my %comm_desc = map { $_->{name} => $_->{description} } @{ $A->get('/admin/communities')->{json} || [] };

# the expected participant entry of $p in community $c for caller $me
sub entry {
	my ($p, $c, $me) = @_;
	my ($oname) = grep { $org{$_}{id} == $p->{organization_id} } keys %org;
	return {
		name => $p->{name}, description => $p->{description}, email => $p->{email},
		dns => $p->{dns}, mid => $p->{mids}{$c},
		org => { name => $oname, abbr => $org{$oname}{abbr} },
		itsyou => ($p->{pid} == $me->{pid} ? JSON::PP::true : JSON::PP::false),
		pid => $p->{pid}, type => 'main',
	};
}

# the expected default answer for $me, given the main participants
sub expected {
	my ($me, @all) = @_;
	my @out;
	for my $c (sort { $me->{mids}{$a} <=> $me->{mids}{$b} } keys %{ $me->{mids} }) {
		push @out, {
			community => { name => $c, description => $comm_desc{$c}, cid => $m->{communities}{$c} },
			participants => [ map { entry($_, $c, $me) }
			    sort { $a->{pid} <=> $b->{pid} } grep { exists $_->{mids}{$c} } @all ],
		};
	}
	return \@out;
}

my @mains = ($P1, $P2, $P3, $P4);

# ---------------------------------------------------------------- shape
{
	my $r = $d->as('ulama')->get('/sys/memberships');
	is($r->{status}, 200, 'GET /sys/memberships as ulama: 200');
	like($r->{headers}{'content-type'} // '', qr{^application/json(;\s*charset=utf-8)?$}i,
	    'Content-Type application/json');
	is_deeply($r->{json}, expected($P2, @mains), 'ulama: exactly the spec example (ids mapped)')
	    or diag($r->{body});
	my @e = @{ $r->{json} || [] };
	is(scalar @e, 2, 'one element per membership');
	is_deeply([ sort keys %{ $e[0]{community} || {} } ], [qw(cid description name)],
	    'community keys');
	is_deeply([ sort keys %{ $e[0]{participants}[0] || {} } ],
	    [qw(description dns email itsyou mid name org pid type)], 'participant entry keys');
	ok(jtrue($_->{itsyou}) || jfalse($_->{itsyou}), 'itsyou is a JSON boolean')
	    for map { @{ $_->{participants} || [] } } @e;
	my @mids = map { my $c = $_->{community}{name}; $P2->{mids}{$c} } @e;
	is_deeply(\@mids, [ sort { $a <=> $b } @mids ], 'ordered by the caller\'s mid');
	like($r->{body}, qr/Universit\xc3\xa4t Stuttgart/, 'non-ASCII as raw UTF-8');
	unlike($r->{body}, qr/\\u00e4/i, 'no \\u escapes');
	unlike($r->{body}, qr/\r\n\z/, 'no trailing CRLF');

	for my $who ([ 'my_secret_identity', $P1 ], [ 'myid', $P1 ], [ 'sunito', $P3 ], [ 'trulane', $P4 ]) {
		my $g = $d->as($who->[0])->get('/sys/memberships');
		is($g->{status}, 200, "$who->[0]: 200");
		is_deeply($g->{json}, expected($who->[1], @mains), "$who->[0]: expected memberships")
		    or diag($g->{body});
	}

	my $l = $d->as('ulama')->get('/memberships');
	is($l->{status}, 200, 'legacy /memberships: 200');
	is_deeply($l->{json}, $r->{json}, 'legacy /memberships: same answer');
	my $s = $d->as('ulama')->get('/sys/memberships/');
	is($s->{status}, 200, 'trailing slash tolerated');
	is_deeply($s->{json}, $r->{json}, 'trailing slash: same answer');
	my $j = $d->as('ulama')->get('/sys/memberships.json');
	is($j->{status}, 200, '.json suffix: 200');
	is_deeply($j->{json}, $r->{json}, '.json suffix: same answer');
	my $h = $d->as('ulama')->head('/sys/memberships');
	is($h->{status}, 200, 'HEAD: 200');
	is($h->{body}, '', 'HEAD: no body');
}

# ---------------------------------------------------------------- negotiation, routes
{
	my $c = $d->as('ulama');
	my $r = $c->get('/sys/memberships', headers => { Accept => 'text/plain' });
	is($r->{status}, 406, 'Accept: text/plain → 406');
	is($r->{body} =~ s/\s+//gr, '', '406 body empty');
	$r = $c->get('/sys/memberships', headers => { Accept => 'application/json' });
	is($r->{status}, 200, 'Accept: application/json → 200');
	ok(ref $r->{json} eq 'ARRAY', 'JSON answer');
	$r = $c->get('/sys/memberships', headers => { Accept => '*/*' });
	is($r->{status}, 200, 'Accept: */* → 200');
	like($r->{headers}{'content-type'} // '', qr{^application/json}, '*/* → JSON (preferred)');
	$r = $c->get('/sys/memberships', headers => { Accept => 'text/plain, application/json' });
	is($r->{status}, 200, 'Accept list with JSON → 200');
	like($r->{headers}{'content-type'} // '', qr{^application/json}, 'list → JSON');

	my $mid = $P2->{mids}{WUV};
	is($c->get("/sys/memberships/$mid")->{status}, 404, 'GET /sys/memberships/<mid> → 404');
	is($c->get('/memberships/1')->{status}, 404, 'GET /memberships/1 → 404');
	$r = $c->post('/sys/memberships', body => '{}', ctype => 'application/json');
	is($r->{status}, 405, 'POST /sys/memberships → 405');
	like($r->{headers}{allow} // '', qr/\bGET\b/, 'Allow lists GET');
	is($c->delete('/sys/memberships')->{status}, 405, 'DELETE /sys/memberships → 405');
	is($d->client->post('/sys/memberships')->{status}, 405, '405 decided before authentication');
	is($d->client->get('/sys/memberships/7')->{status}, 404, '404 decided before authentication');
}

# ---------------------------------------------------------------- selectors
my $sub;
{
	my $r = $d->as('my_secret_identity')->post('/sys/subparticipants',
	    json => { communities => ['SUV'], realm => 'r1' });
	is($r->{status}, 200, 'P1 creates a subparticipant in SUV') or diag($r->{body});
	my $sj = $r->{json} || {};
	my $sub_auth = $sj->{auth_ids}[0]{auth_id};
	ok($sub_auth, 'subparticipant auth id');
	my $sm = $sj->{memberships}[0]{participants}[0] || {};
	$sub = { pid => $sm->{pid} // -1, mid => $sm->{mid} // -1, auth => $sub_auth // "no-subparticipant", name => $sj->{name} };
	ok($sub->{pid} > 0 && $sub->{mid} > 0, 'subparticipant pid and mid');

	my $c = $d->as('ulama');
	my $sel = sub {
		my ($q, %h) = @_;
		my $g = $c->get("/sys/memberships$q", headers => \%h);
		return { status => $g->{status}, body => $g->{body}, map {
		    ($_->{community}{name} => [ map { $_->{pid} } @{ $_->{participants} || [] } ]) }
		    @{ ref $g->{json} eq 'ARRAY' ? $g->{json} : [] } };
	};
	my @mainsuv = sort { $a <=> $b } $P1->{pid}, $P2->{pid};
	my $mw = [ sort { $a <=> $b } $P1->{pid}, $P2->{pid} ];

	my $x = $sel->('');
	is_deeply($x->{SUV}, \@mainsuv, 'default: only main participants in SUV');
	$x = $sel->('?all=true');
	is_deeply($x->{SUV}, [ @mainsuv, $sub->{pid} ], 'all=true: subparticipant listed (pid order)');
	is_deeply($x->{WUV}, $mw, 'all=true: WUV unchanged');
	$x = $sel->('?all=false');
	is_deeply($x->{SUV}, [ @mainsuv, $sub->{pid} ], 'all=false also activates all (Q-29)');
	$x = $sel->('?subparticipants=true');
	is_deeply($x->{SUV}, [ $sub->{pid} ], 'subparticipants: only the subparticipant');
	is_deeply($x->{WUV}, [], 'subparticipants: WUV has none (entry kept, empty list)');
	$x = $sel->('?subparticipants=no');
	is_deeply($x->{SUV}, [ $sub->{pid} ], 'subparticipants=no activates too');
	$x = $sel->('?mainparticipants=0');
	is_deeply($x->{SUV}, \@mainsuv, 'mainparticipants=0: main participants');
	$x = $sel->('?anonymous=true');
	is_deeply([ $x->{SUV}, $x->{WUV} ], [ [], [] ], 'anonymous: nobody');
	$x = $sel->('?subparticipants=1&all=1');
	is_deeply($x->{SUV}, [ @mainsuv, $sub->{pid} ], 'all beats subparticipants');
	$x = $sel->('?subparticipants=1&mainparticipants=1');
	is_deeply($x->{SUV}, \@mainsuv, 'mainparticipants beats subparticipants');
	$x = $sel->('', 'X-EcsQueryStrings' => 'all=true');
	is_deeply($x->{SUV}, [ @mainsuv, $sub->{pid} ], 'X-EcsQueryStrings: all=true');
	$x = $sel->('', 'X-EcsQueryStrings' => ' subparticipants = false ');
	is_deeply($x->{SUV}, [ $sub->{pid} ], 'X-EcsQueryStrings: subparticipants=false (any value, spaces)');
	$x = $sel->('', 'X-EcsQueryStrings' => 'foo=bar, anonymous=x');
	is_deeply($x->{SUV}, [], 'X-EcsQueryStrings: second pair anonymous=x');
	$x = $sel->('?foo=bar');
	is_deeply($x->{SUV}, \@mainsuv, 'unknown query key: default');

	# the sub entry under all=true
	my $g = $c->get('/sys/memberships?all=true');
	my ($suv) = grep { $_->{community}{name} eq 'SUV' } @{ $g->{json} || [] };
	my ($se) = grep { $_->{pid} == $sub->{pid} } @{ $suv ? $suv->{participants} : [] };
	is($se && $se->{type}, 'sub', 'subparticipant entry type sub');
	is($se && $se->{mid}, $sub->{mid}, 'subparticipant entry mid');
	ok($se && jfalse($se->{itsyou}), 'itsyou false for others');

	# the subparticipant itself (Q-30)
	my $sc = $d->as($sub->{auth});
	$g = $sc->get('/sys/memberships');
	is($g->{status}, 200, 'subparticipant: 200');
	my @it = grep { jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @{ $g->{json} || [] };
	is(scalar @it, 0, 'subparticipant does not see itself by default (Q-30)');
	is_deeply([ map { $_->{community}{name} } @{ $g->{json} || [] } ], ['SUV'],
	    'subparticipant: one membership');
	$g = $sc->get('/sys/memberships', headers => { 'X-EcsQueryStrings' => 'all=true' });
	@it = grep { jtrue($_->{itsyou}) } map { @{ $_->{participants} || [] } } @{ $g->{json} || [] };
	is(scalar @it, 1, 'subparticipant sees itself with all');
	is($it[0] && $it[0]{pid}, $sub->{pid}, 'itsyou entry is the subparticipant');
}

# ---------------------------------------------------------------- no memberships
{
	my $o = $org{"Universit\x{e4}t Ulm"}{id};
	my $r = $A->post('/admin/participants',
	    json => { name => 'lonely', organization_id => $o, auth_ids => ['lonely'] });
	is($r->{status}, 201, 'participant without memberships');
	my $g = $d->as('lonely')->get('/sys/memberships');
	is($g->{status}, 200, 'no memberships: 200');
	is($g->{body}, '', 'no memberships: empty body (Q-19)');
	like($g->{headers}{'content-type'} // '', qr{^application/json}, 'no memberships: application/json');
	is($g->{headers}{'content-length'}, 0, 'Content-Length 0');

	# membership changes by the admin are visible at once
	my $pid = $r->{json}{id};
	my $ms = $A->post('/admin/memberships',
	    json => { participant_id => $pid, community_id => $m->{communities}{WUV} });
	is($ms->{status}, 201, 'admin adds lonely to WUV');
	$g = $d->as('lonely')->get('/sys/memberships');
	is_deeply([ map { $_->{community}{name} } @{ $g->{json} || [] } ], ['WUV'], 'lonely sees WUV');
	$g = $d->as('ulama')->get('/sys/memberships');
	my ($wuv) = grep { $_->{community}{name} eq 'WUV' } @{ $g->{json} || [] };
	is_deeply([ map { $_->{pid} } @{ $wuv ? $wuv->{participants} : [] } ],
	    [ sort { $a <=> $b } $P1->{pid}, $P2->{pid}, $pid ], 'ulama sees lonely in WUV');
	is($A->delete("/admin/memberships/$ms->{json}{id}")->{status}, 200, 'admin removes it');
	$g = $d->as('lonely')->get('/sys/memberships');
	is($g->{body}, '', 'empty again');
}

# ---------------------------------------------------------------- authentication
{
	my $r = $d->client->get('/sys/memberships');
	is($r->{status}, 401, 'no X-EcsAuthId: 401');
	is($r->{body}, qq{No "X-EcsAuthId" http header\n}, '401 text');
	$r = $d->as('nobody')->get('/sys/memberships');
	is($r->{status}, 401, 'unknown identity: 401');
	is($r->{body}, qq{No "X-EcsAuthId: nobody" identity found\n}, '401 text (unknown)');
}

$d->stop_ok;
done_testing;
