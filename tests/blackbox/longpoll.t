# Long-poll of the event queue: GET|POST /sys/events/fifo?wait=N holds the
# request until an event for the caller commits (an extension unchanged
# clients cannot notice: without wait nothing changes).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();

my $d = Ecsd->start(conf => { max_waiters => 3, max_wait => 4 });
$d->fixture_spec;
my $X = '/numlab/exercises';
my $send = sub {
	my ($to) = @_;
	return create_ok($d->as('P1'), $X, mids => [$d->mid($to => 'WUV')],
	    body => 'wake', ctype => 'text/plain');
};

subtest 'a waiter is woken by a commit for it' => sub {
	my $w = $d->as('P2')->fresh;
	my $t0 = time;
	$w->start_request(POST => '/sys/events/fifo?wait=4');
	sleep 0.3;
	my $id = $send->('P2');
	my $r = $w->finish_request;
	my $dt = time - $t0;
	is($r->{status}, 200, 'answered 200');
	is_deeply([map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] }],
	    ["numlab/exercises/$id created"], 'with the new event, popped');
	ok($dt < 3, "woken before the wait of 4 s ran out (${dt}s)");
	is_deeply($d->as('P2')->get('/sys/events')->{json}, [], 'the POST popped it');
};

subtest 'a waiter is not woken for somebody else' => sub {
	my $w = $d->as('P3')->fresh;
	my $t0 = time;
	$w->start_request(GET => '/sys/events/fifo?wait=1');
	sleep 0.2;
	$send->('P2');
	my $r = $w->finish_request;
	my $dt = time - $t0;
	is($r->{status}, 200, 'answered 200 after the wait');
	is_deeply($r->{json}, [], 'empty: nothing for P3');
	ok($dt >= 0.9, "held for the whole second (${dt}s)");
	$d->as('P2')->post('/sys/events/fifo?count=-1');
};

subtest 'events present: no wait at all' => sub {
	$send->('P2');
	my $t0 = time;
	my $r = $d->as('P2')->get('/sys/events/fifo?wait=4');
	ok(time - $t0 < 2.5, 'immediate, not after the wait of 4 s');
	is(scalar @{ $r->{json} }, 1, 'one event');
	$d->as('P2')->post('/sys/events/fifo');
};

subtest 'wait is capped by max_wait' => sub {
	my $t0 = time;
	my $r = $d->as('P3')->get('/sys/events/fifo?wait=600', timeout => 20);
	my $dt = time - $t0;
	is($r->{status}, 200, 'answered 200');
	ok($dt >= 3.5 && $dt < 8, "held about max_wait = 4 s (${dt}s)");
};

subtest 'waiters beyond max_waiters get an immediate answer' => sub {
	my @w = map { $d->as('P3')->fresh } 1 .. 3;
	$_->start_request(GET => '/sys/events/fifo?wait=4') for @w;
	sleep 0.3;
	my $t0 = time;
	my $r = $d->as('P4')->get('/sys/events/fifo?wait=4');
	ok(time - $t0 < 2.5, 'the fourth waiter is answered at once, not after its wait of 4 s');
	is_deeply($r->{json}, [], 'with the normal (empty) answer');
	$_->finish_request for @w;
};

subtest 'a client that goes away frees its slot' => sub {
	my @w = map { $d->as('P3')->fresh } 1 .. 3;
	$_->start_request(GET => '/sys/events/fifo?wait=4') for @w;
	sleep 0.3;
	$_->close for @w;
	sleep 0.3;
	my $t0 = time;
	my $x = $d->as('P4')->fresh;
	$x->start_request(GET => '/sys/events/fifo?wait=1');
	my $r = $x->finish_request;
	my $dt = time - $t0;
	ok($dt >= 0.9, "a new waiter is held again (${dt}s): the slots were freed");
	is($r->{status}, 200, 'answered 200');
};

subtest 'text and XML representations while waiting' => sub {
	my $w = $d->as('P2')->fresh;
	$w->start_request(GET => '/sys/events/fifo.txt?wait=3');
	sleep 0.2;
	my $id = $send->('P2');
	my $r = $w->finish_request;
	is($r->{body}, "numlab/exercises/$id   created\r\n", 'text line');
	$d->as('P2')->post('/sys/events/fifo');
};

$d->stop_ok;
done_testing();
