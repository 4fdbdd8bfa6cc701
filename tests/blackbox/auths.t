# One-touch tokens: /sys/auths (ecs-protocol.md section 11, 17.3).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start(conf => { auth_gc_interval => 3600 });
$d->fixture_spec;
my ($p1, $p2, $p3) = map { $d->as($_) } qw(P1 P2 P3);
my $A = '/sys/auths';
my %to2 = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'));

sub token {
	my ($c, $body, %o) = @_;
	return $c->post($A, json => $body, ctype => $o{ctype} // 'application/json',
	    headers => $o{headers} // \%to2);
}

my ($tok, $tid);
subtest 'create (11.2, 17.3)' => sub {
	my $t0 = time;
	my $r = token($p1, { realm => 'r1', url => 'https://x.example/a', extra => [1, 2] });
	is($r->{status}, 201, 'status 201') or diag($r->{body});
	std_ok($r, 'token create');
	ctype_is($r, 'application/json; charset=utf-8', 'token create');
	$tid = loc_ok($r, $A, 'token create');
	my $j = $tok = $r->{json};
	is(ref $j, 'HASH', 'JSON object body') or return;
	is($j->{realm}, 'r1', 'realm kept');
	is($j->{url}, 'https://x.example/a', 'url kept');
	is_deeply($j->{extra}, [1, 2], 'other members kept');
	is($j->{abbr}, 'S', 'abbr of the creator organization');
	is($j->{pid}, $d->pid('P1'), 'pid of the creator');
	like($j->{hash} // '', qr/^[0-9a-f]{40}$/, 'hash: 40 lowercase hex digits');
	isnt($tid, $j->{hash}, 'Location carries the numeric id');
	like($j->{sov} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/, 'sov format');
	like($j->{eov} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/, 'eov format');
	my ($sov, $eov) = (parse_iso($j->{sov}), parse_iso($j->{eov}));
	ok(defined $sov && abs($sov - $t0) <= 3, 'sov = now');
	is(defined $eov && defined $sov ? $eov - $sov : undef, 65, 'default window 65 s');
	my $r2 = token($p1, { url => 'u', hash => 'mine', pid => 999, abbr => 'XX' });
	is($r2->{status}, 201, 'url only');
	isnt($r2->{json}{hash}, 'mine', 'client hash overwritten');
	is($r2->{json}{pid}, $d->pid('P1'), 'client pid overwritten');
	is($r2->{json}{abbr}, 'S', 'client abbr overwritten');
	isnt($r2->{json}{hash}, $j->{hash}, 'hashes differ');
	my $r3 = $p1->post($A, body => '{"url":null}', ctype => 'application/json', headers => \%to2);
	is($r3->{status}, 201, 'a present url key with any value suffices') or diag($r3->{body});
	is_deeply(events_of($p2->get('/sys/events')), [], 'tokens produce no events');
};

subtest 'create errors (11.2)' => sub {
	err_ok(token($p1, { foo => 1 }), 400, ERR('no_realm'), 'neither url nor realm');
	err_ok($p1->post($A, body => '{"realm":', ctype => 'application/json', headers => \%to2),
	    400, ERR('bad_json'), 'unparseable JSON');
	err_ok($p1->post($A, body => '["realm"]', ctype => 'application/json', headers => \%to2),
	    400, ERR('bad_json'), 'JSON array (Q-31)');
	err_ok($p1->post($A, body => '"realm"', ctype => 'application/json', headers => \%to2),
	    400, ERR('bad_json'), 'JSON scalar (Q-31)');
	err_ok($p1->post($A, body => '{"realm":"x"}', ctype => 'text/plain', headers => \%to2),
	    415, ERR('not_json415'), 'non-JSON Content-Type');
	err_ok($p1->post($A, body => '{"realm":"x"}', ctype => 'text/plain'),
	    400, ERR('no_addr'), 'addressing errors come before the token checks');
	err_ok($p1->post($A, json => { realm => 'x' }),
	    400, ERR('no_addr'), 'addressing headers are mandatory');
	err_ok($p3->post($A, json => { realm => 'x' }, headers => \%to2),
	    403, ERR('not_joining'), 'unusable receiver');
	for my $ct ('application/json; charset=utf-8', 'Application/JSON', 'text/x-json', 'application/jsonrequest') {
		my $r = token($p1, { realm => 'x' }, ctype => $ct);
		is($r->{status}, 201, "Content-Type $ct accepted (Q-26)") or diag($r->{body});
	}
};

subtest 'validity window rules (11.2)' => sub {
	my $now = time;
	err_ok(token($p1, { realm => 'x', sov => iso_time($now - 120) }), 400, ERR('sov_young'), 'sov only, past');
	my $r = token($p1, { realm => 'x', sov => iso_time($now + 100) });
	is($r->{status}, 201, 'sov only, future');
	is(parse_iso($r->{json}{eov}), int($now) + 100 + 65, 'eov = sov + 65 s');
	my $sovfuture = $r->{json}{hash};
	err_ok(token($p1, { realm => 'x', eov => iso_time($now + 2) }), 400, ERR('eov_young'), 'eov only, < now + 5 s');
	$r = token($p1, { realm => 'x', eov => iso_time($now + 3600) });
	is($r->{status}, 201, 'eov only, far');
	is(parse_iso($r->{json}{eov}), int($now) + 3600, 'eov kept');
	ok(abs(parse_iso($r->{json}{sov}) - $now) <= 3, 'sov = now');
	err_ok(token($p1, { realm => 'x', sov => iso_time($now - 100), eov => iso_time($now - 10) }),
	    400, ERR('bad_times'), 'both, eov in the past');
	err_ok(token($p1, { realm => 'x', sov => iso_time($now + 200), eov => iso_time($now + 100) }),
	    400, ERR('bad_times'), 'both, eov before sov');
	my ($s, $e) = (iso_time($now - 100), iso_time($now + 100));
	$r = token($p1, { realm => 'x', sov => $s, eov => $e });
	is($r->{status}, 201, 'both, sov in the past');
	is_deeply([@{ $r->{json} }{qw(sov eov)}], [$s, $e], 'both kept as sent');
	err_ok(token($p1, { realm => 'x', sov => 'tomorrow' }), 400, ERR('bad_times'), 'unparseable sov');
	err_ok(token($p1, { realm => 'x', eov => 'never' }), 400, ERR('bad_times'), 'unparseable eov');
	my $g = $p2->get("$A/$sovfuture");
	is($g->{status}, 200, 'a token whose sov lies ahead is served (11.3)');
};

subtest 'show does not consume; details by hash (11.4, 11.5)' => sub {
	my $h = $tok->{hash};
	my $g = $p2->get("$A/$h");
	is($g->{status}, 200, 'receiver GET by hash');
	std_ok($g, 'token show');
	ctype_is($g, 'application/json; charset=utf-8', 'token show');
	is($g->{json}{hash}, $h, 'stored JSON');
	is($g->{json}{realm}, 'r1', 'realm');
	is($g->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'X-EcsSender');
	is($p2->get("$A/$h")->{status}, 200, 'GET again: not consumed');
	is($p2->get("$A/$tid")->{json}{hash}, $h, 'GET by numeric id');
	is($p1->get("$A/$h")->{status}, 200, 'the creator can read it');
	err_ok($p3->get("$A/$h"), 403, ERR('not_access'), 'stranger GET');
	my $dt = $p2->get("$A/$h/details");
	is($dt->{status}, 200, 'details by hash');
	is($dt->{json}{url}, "auths/$h", 'details url echoes the hash');
	is_deeply($dt->{json}{senders}, [{ mid => $d->mid(P1 => 'WUV') }], 'sender mid');
	is($dt->{json}{owner}{pid}, $d->pid('P1'), 'owner');
	ctype_is($p2->get($A), 'text/uri-list; charset=utf-8', 'token list');
	like($p2->get($A)->{body}, qr{^auths/$tid$}m, 'token listed for the receiver');
	err_ok($p2->get("$A/00ff00ff"), 404, ERR('bad_hash'), 'unknown hash');
	err_ok($p2->get("$A/999999"), 404, ERR('bad_auth_id'), 'unknown id');
	err_ok($p2->delete("$A/00ff00ff"), 404, ERR('bad_hash'), 'DELETE unknown hash');
};

subtest 'DELETE consumes (11.5, 17.3)' => sub {
	my $h = $tok->{hash};
	my $r = $p3->delete("$A/$h");
	is($r->{status}, 404, 'stranger DELETE 404');
	like($r->{body}, qr{^you are not a receiver of "sys/auths/(?:\Q$h\E|$tid)"\n\z}, 'receiver text');
	$r = $p2->delete("$A/$h");
	is($r->{status}, 200, 'receiver DELETE 200');
	ctype_is($r, 'application/json; charset=utf-8', 'token delete');
	is($r->{json}{hash}, $h, 'answer is the token');
	is($r->{json}{realm}, 'r1', 'realm for the check');
	is($r->{json}{pid}, $d->pid('P1'), 'pid for the check');
	is($r->{json}{abbr}, 'S', 'abbr for the check');
	err_ok($p2->delete("$A/$h"), 404, ERR('bad_hash'), 'second DELETE');
	err_ok($p2->get("$A/$h"), 404, ERR('bad_hash'), 'GET after consumption');
	err_ok($p1->get("$A/$h"), 404, ERR('bad_hash'), 'gone for the creator too');
	err_ok($p1->get("$A/$tid"), 404, ERR('bad_auth_id'), 'numeric id gone');

	my $t = token($p1, { realm => 's' })->{json};
	is($p1->delete("$A/$t->{hash}")->{status}, 200, 'sender DELETE');
	err_ok($p2->get("$A/$t->{hash}"), 404, ERR('bad_hash'), 'gone for the receiver');
};

subtest 'update regenerates the hash (11.6)' => sub {
	my $r = token($p1, { realm => 'old' });
	my ($id, $old) = (Ecsd::loc_id($r), $r->{json}{hash});
	my $u = $p1->put("$A/$id", json => { realm => 'new', pid => 7 }, headers => \%to2);
	is($u->{status}, 200, 'PUT 200') or diag($u->{body});
	is($u->{body}, '', 'empty body');
	err_ok($p2->get("$A/$old"), 404, ERR('bad_hash'), 'old hash dead');
	my $g = $p2->get("$A/$id");
	is($g->{json}{realm}, 'new', 'new body');
	like($g->{json}{hash} // '', qr/^[0-9a-f]{40}$/, 'new hash');
	isnt($g->{json}{hash}, $old, 'hash changed');
	is($g->{json}{pid}, $d->pid('P1'), 'pid refreshed');
	is($p2->get("$A/$g->{json}{hash}")->{status}, 200, 'new hash works');
	err_ok($p1->put("$A/$id", json => { foo => 1 }, headers => \%to2), 400, ERR('no_realm'), 'update re-checks');
	err_ok($p1->put("$A/$id", body => '{"realm":1}', ctype => 'text/plain', headers => \%to2),
	    415, ERR('not_json415'), 'update re-checks the type');
};

subtest 'expired tokens: 409 for receivers (11.5, Q-1)' => sub {
	my $now = time;
	my $r1 = token($p1, { realm => 'short1', eov => iso_time($now + 6) });
	my $r2 = token($p1, { realm => 'short2', eov => iso_time($now + 6) });
	my $r3 = token($p1, { realm => 'short3', eov => iso_time($now + 6) });
	is($_->{status}, 201, 'short token') for ($r1, $r2, $r3);
	my ($h1, $h2, $h3) = map { $_->{json}{hash} } ($r1, $r2, $r3);
	is($p2->get("$A/$h1")->{status}, 200, 'valid before eov');
	sleep 7.2 - (time - $now);
	err_ok($p2->get("$A/$h1"), 409, ERR('outtimed'), 'receiver GET after eov');
	is($p1->get("$A/$h1")->{status}, 200, 'the sender is never refused');
	is($p2->get("$A/$h1/details")->{status}, 200, 'details do not check validity');
	my $f = $p2->get("$A/fifo");
	is($f->{status}, 200, 'queue does not check validity');
	err_ok($p2->delete("$A/$h1"), 409, ERR('outtimed'), 'receiver DELETE after eov');
	err_ok($p2->get("$A/$h1"), 404, ERR('bad_hash'), 'DELETE removed the link, token gone');
	is($p1->delete("$A/$h2")->{status}, 200, 'sender DELETE of an expired token');
	err_ok($p2->get("$A/$h2"), 404, ERR('bad_hash'), 'gone');
	err_ok($p2->get("$A/$h3"), 409, ERR('outtimed'), 'still 409 before GC');
};

$d->stop_ok;

subtest 'garbage collection removes expired tokens (11.7)' => sub {
	my $g = Ecsd->start(conf => { auth_gc_interval => 1 });
	$g->fixture_spec;
	my $now = time;
	my $r = $g->as('P1')->post($A, json => { realm => 'gc', eov => iso_time($now + 6) },
	    headers => { 'X-EcsReceiverMemberships' => $g->mid(P2 => 'WUV') });
	is($r->{status}, 201, 'short token');
	my $keep = $g->as('P1')->post($A, json => { realm => 'keep' },
	    headers => { 'X-EcsReceiverMemberships' => $g->mid(P2 => 'WUV') });
	sleep 9 - (time - $now);
	err_ok($g->as('P1')->get("$A/$r->{json}{hash}"), 404, ERR('bad_hash'), 'collected');
	is($g->as('P2')->get("$A/$keep->{json}{hash}")->{status}, 200, 'valid token kept');
	$g->stop_ok('gc daemon');
};

done_testing();
