# Durability: state survives a SIGTERM restart, and a kill -9 right after a
# 201 loses nothing (design decision 3, HACKING.md sync = full).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();

my $d = Ecsd->start;
$d->fixture_spec;
my $X = '/numlab/exercises';

my $m = create_ok($d->as('P1'), $X, mids => [$d->mid(P2 => 'WUV')], body => 'survive me',
    ctype => 'application/json');
my $tok = $d->as('P1')->post('/sys/auths', json => { realm => 'persist' },
    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
is($tok->{status}, 201, 'token');
my $etag = $d->as('P2')->get("$X/$m")->{headers}{etag};
my $mids = { map { $_ => $d->mid(P2 => $_) } qw(SUV WUV) };

subtest 'SIGTERM restart' => sub {
	my $st = $d->restart;
	is($st, 0, 'exit status 0 after SIGTERM');
	ok($d->running, 'running again');
	$d->refresh_map;
	is_deeply({ map { $_ => $d->mid(P2 => $_) } qw(SUV WUV) }, $mids, 'memberships unchanged');
	my $g = $d->as('P2')->get("$X/$m");
	is($g->{status}, 200, 'message survives');
	is($g->{body}, 'survive me', 'body');
	ctype_is($g, 'application/json; charset=utf-8', 'type');
	is($g->{headers}{etag}, $etag, 'same version');
	is_deeply(events_of($d->as('P2')->get('/sys/events')), ["numlab/exercises/$m created"], 'event survives');
	my $t = $d->as('P2')->get("/sys/auths/$tok->{json}{hash}");
	is($t->{status}, 200, 'token survives');
	is($t->{json}{realm}, 'persist', 'token body');
	my $n = create_ok($d->as('P1'), $X, mids => [$d->mid(P2 => 'WUV')], body => 'after restart');
	ok($n > $m, 'ids keep increasing');
};

subtest 'kill -9 right after 201' => sub {
	my $c = $d->as('P1');
	my @ids = map { create_ok($c, $X, mids => [$d->mid(P2 => 'WUV')], body => "k$_", name => "create k$_") } 1 .. 10;
	my $tk = $c->post('/sys/auths', json => { url => 'u' }, headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($tk->{status}, 201, 'token 201');
	my $pop = $d->as('P2')->post('/sys/events/fifo');
	is_deeply(events_of($pop), ["numlab/exercises/$m created"], 'event popped');
	$d->kill9;
	$d->restart;
	my $p2 = $d->as('P2');
	for my $i (0 .. $#ids) {
		is($p2->get("$X/$ids[$i]")->{body}, 'k' . ($i + 1), "message k" . ($i + 1) . ' survived kill -9');
	}
	is($p2->get("/sys/auths/$tk->{json}{hash}")->{status}, 200, 'token survived kill -9');
	my $ev = events_of($p2->get('/sys/events'));
	ok(!(grep { $_ eq "numlab/exercises/$m created" } @$ev), 'the popped event stays popped');
	is(scalar(grep { /created$/ } @$ev), 11, 'the other events survived');
};

$d->stop_ok;
done_testing();
