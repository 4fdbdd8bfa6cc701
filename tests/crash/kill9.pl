#!/usr/bin/perl
# kill9.pl: crash safety under load. Producers and consumers (forked
# processes, one keep-alive connection each) run against ecsd while it is
# killed with SIGKILL at random moments and restarted, KILL9_N times. After
# every kill the database must pass PRAGMA integrity_check, and at the end
# the clients' own records must show that every message answered with 201
# was delivered exactly once:
#
#   received = every body a pop returned in full, plus what is left in the
#              queues after the last restart (drained at the end);
#   - no body is received twice;
#   - no body is received that was never sent, or that was answered with
#     an error status (those were rolled back);
#   - an acknowledged body missing from received can only be explained by
#     a pop whose response the kill cut off (committed, answer lost): per
#     queue, missing <= cut pops;
#   - per consumer, each producer's bodies arrive in the order sent (FIFO).
#
# Usage: perl -Itests/blackbox/lib tests/crash/kill9.pl
# Environment: KILL9_N (kills, default 50), KILL9_SEED (random seed),
# KILL9_MIN/KILL9_MAX (seconds between kills, default 0.2/1.0),
# KILL9_PRODUCERS (default 3), plus the harness's ECSD, ECSD_TEST_KEEP, ...
# With ECSD_TEST_PGHOST (a server of tests/pg/pgserver) the daemon runs on
# PostgreSQL, and the check after every kill is that no link, event,
# community record or token names a message that is not there (there are no
# foreign keys to messages, schema version 6).
# On SQLite it needs the sqlite3 command-line tool (Debian package sqlite3); exits 77
# (skip) without it. Perl core modules only.
use strict;
use warnings;

use File::Copy qw(copy);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use Ecsd;

$| = 1;

my $PG = Ecsd::pg();
if (!$PG && system('sqlite3 -version >/dev/null 2>&1') != 0) {
	print "SKIP: the sqlite3 command-line tool is missing " .
	    "(apt-get install sqlite3)\n";
	exit 77;
}
if (Ecsd::external()) {
	print "SKIP: needs a local daemon (ECSD_TEST_URL is set)\n";
	exit 77;
}

my $KILLS = $ENV{KILL9_N} // 50;
my $SEED = $ENV{KILL9_SEED} // (time * 1000 ^ $$) % 1000000;
my $MIN = $ENV{KILL9_MIN} // 0.2;
my $MAX = $ENV{KILL9_MAX} // 1.0;
my $NPROD = $ENV{KILL9_PRODUCERS} // 3;
my $RES = '/numlab/results';
srand($SEED);
print "kill9: $KILLS kills, seed $SEED, $NPROD producers\n";

my $t0 = time;
my $d = Ecsd->start;
$d->fixture_spec;
my $dir = $d->dir;
my $db = $d->datadir . '/ecsd.db';

# Two queues: P2's (through WUV) and P3's (through public); P1 sends.
my @queues = (
	{ name => 'q0', mid => $d->mid(P2 => 'WUV'), recv => $d->authid('P2') },
	{ name => 'q1', mid => $d->mid(P3 => 'public'), recv => $d->authid('P3') },
);
my $sender = $d->authid('P1');
# Two consumers on q0, one on q1.
my @consumers = (0, 0, 1);

sub write_port {
	open(my $fh, '>', "$dir/port.tmp") or die "port file: $!";
	print $fh $d->host, ' ', $d->port, "\n";
	close $fh;
	rename("$dir/port.tmp", "$dir/port") or die "port file: $!";
}
write_port();

# ---- the clients' HTTP (keep-alive, no retries) ----------------------------

sub cl_new { return { sock => undef, rbuf => '' } }

sub cl_close {
	my ($c) = @_;
	close($c->{sock}) if $c->{sock};
	$c->{sock} = undef;
	$c->{rbuf} = '';
}

sub cl_connect {
	my ($c) = @_;
	open(my $fh, '<', "$dir/port") or return 0;
	my $l = <$fh>;
	close $fh;
	return 0 unless defined $l && $l =~ /^(\S+) (\d+)$/;
	my $s = IO::Socket::IP->new(PeerHost => $1, PeerPort => $2,
	    Proto => 'tcp', Timeout => 2) or return 0;
	binmode $s;
	$c->{sock} = $s;
	$c->{rbuf} = '';
	return 1;
}

sub cl_fill {
	my ($c, $deadline) = @_;
	my $sel = IO::Select->new($c->{sock});
	my $left = $deadline - time;
	return 0 if $left <= 0 || !$sel->can_read($left);
	my $n = sysread($c->{sock}, my $buf, 65536);
	return 0 unless $n;
	$c->{rbuf} .= $buf;
	return $n;
}

# One exchange: (status, body, head); (undef, 'unsent') when no connection
# could be made (nothing was sent); (undef, 'cut') when the request was
# written, or partly written, but no complete answer came back.
sub cl_request {
	my ($c, $method, $path, $hdr, $body) = @_;
	$body //= '';
	return (undef, 'unsent') unless $c->{sock} || cl_connect($c);
	my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n" .
	    join('', map { "$_: $hdr->{$_}\r\n" } sort keys %$hdr) .
	    'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
	my $off = 0;
	while ($off < length $req) {
		my $n = syswrite($c->{sock}, $req, length($req) - $off, $off);
		if (!$n) {
			cl_close($c);
			return (undef, 'cut');
		}
		$off += $n;
	}
	my $deadline = time + 10;
	while ($c->{rbuf} !~ /\r\n\r\n/) {
		if (!cl_fill($c, $deadline)) {
			cl_close($c);
			return (undef, 'cut');
		}
	}
	$c->{rbuf} =~ s/^(.*?)\r\n\r\n//s;
	my $head = $1;
	my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
	if (!defined $status || !defined $len) {
		cl_close($c);
		return (undef, 'cut');
	}
	while (length $c->{rbuf} < $len) {
		if (!cl_fill($c, $deadline)) {
			cl_close($c);
			return (undef, 'cut');
		}
	}
	my $rbody = substr($c->{rbuf}, 0, $len, '');
	cl_close($c) if $head =~ /^Connection:\s*close/mi;
	return ($status, $rbody, $head);
}

# ---- producers and consumers -------------------------------------------------

sub stopping { return -e "$dir/stop" }

sub child_log {
	my ($name) = @_;
	open(my $fh, '>', "$dir/$name.rec") or die "$name.rec: $!";
	$fh->autoflush(1);
	return $fh;
}

# Records: A body id (201), R body status (refused), X body (sent, no
# answer), N body (never sent: no connection).
sub producer {
	my ($id) = @_;
	my $log = child_log("producer$id");
	my $c = cl_new();
	my $seq = 0;
	until (stopping()) {
		$seq++;
		my $q = ($seq + $id) % @queues;
		my $body = "m:$queues[$q]{name}:p$id:$seq";
		my ($st, $why, $head) = cl_request($c, 'POST', $RES, {
		    'X-EcsAuthId' => $sender,
		    'X-EcsReceiverMemberships' => $queues[$q]{mid},
		    'Content-Type' => 'text/plain' }, $body);
		if (!defined $st) {
			print $log ($why eq 'cut' ? 'X' : 'N'), " $body\n";
			sleep 0.02;
		} elsif ($st == 201) {
			my ($id) = $head =~ m{^Location:.*/(\d+)\r?$}mi;
			print $log "A $body ", $id // '?', "\n";
		} else {
			print $log "R $body $st\n";
			sleep 0.02;
		}
	}
}

# Records: P body (a pop answered in full), X (a pop sent without an
# answer), N (no connection, nothing sent), E status (an error answer).
sub consumer {
	my ($id, $q) = @_;
	my $log = child_log("consumer$id");
	my $c = cl_new();
	until (stopping()) {
		my ($st, $body) = cl_request($c, 'POST', "$RES/fifo",
		    { 'X-EcsAuthId' => $queues[$q]{recv} });
		if (!defined $st) {
			print $log $body eq 'cut' ? "X\n" : "N\n";
			sleep 0.02;
		} elsif ($st == 200 && length $body) {
			print $log "P $body\n";
		} elsif ($st == 200) {
			sleep 0.01;	# empty queue
		} else {
			print $log "E $st\n";
			sleep 0.02;
		}
	}
}

my @kids;
sub spawn {
	my ($code, @args) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		$SIG{PIPE} = 'IGNORE';
		eval { $code->(@args) };
		print STDERR "kill9: child: $@" if $@;
		POSIX::_exit($@ ? 1 : 0);	# no destructors: the daemon is the parent's
	}
	push @kids, $pid;
}
spawn(\&producer, $_) for 1 .. $NPROD;
spawn(\&consumer, $_, $consumers[$_]) for 0 .. $#consumers;

# ---- kill, check, restart ----------------------------------------------------

my @fail;
my ($kills, $checks) = (0, 0);

sub integrity {
	my ($what) = @_;
	if ($PG) {
		my $n = $d->sql(join(' + ', 'SELECT 0', map {
			"(SELECT count(*) FROM $_ x WHERE NOT EXISTS " .
			"(SELECT 1 FROM messages m WHERE m.id = x.message_id))"
		} qw(links events community_messages auths)));
		$n =~ s/\s+//g;
		$checks++;
		push @fail, "$what: $n rows name a message that is not there"
		    unless $n eq '0';
		return;
	}
	my $copy = "$dir/check.db";
	unlink($copy, "$copy-wal", "$copy-shm");
	copy($db, $copy) or die "copy $db: $!";
	copy("$db-wal", "$copy-wal") or die "copy $db-wal: $!" if -e "$db-wal";
	my $out = `sqlite3 -bail '$copy' 'PRAGMA integrity_check;' 2>&1`;
	chomp $out;
	$checks++;
	push @fail, "integrity_check $what: $out" unless $out eq 'ok';
	unlink($copy, "$copy-wal", "$copy-shm");
}

for my $k (1 .. $KILLS) {
	sleep($MIN + rand($MAX - $MIN));
	$d->kill9;
	$kills++;
	integrity("after kill $k");
	$d->restart;
	write_port();
	print "kill9: kill $k: ok\n" if $k % 10 == 0 || $k == $KILLS;
}
sleep 0.5;

# Stop the clients (they finish their current request), then drain.
open(my $stop, '>', "$dir/stop") or die "stop file: $!";
close $stop;
my $deadline = time + 30;
while (@kids && time < $deadline) {
	@kids = grep { waitpid($_, WNOHANG) == 0 } @kids;
	sleep 0.05;
}
if (@kids) {
	push @fail, "clients did not stop: @kids";
	kill 'KILL', @kids;
	waitpid($_, 0) for @kids;
}

my (%recv, %acked, %sent, %unsent, %refused, %missing, %cut, %popped,
    %drained, %drainseq, %id, @cev);
my ($order_bad, $errors) = (0, 0);
sub receive {
	my ($body, $who) = @_;
	push @fail, "received twice: $body ($recv{$body} and $who)"
	    if exists $recv{$body};
	$recv{$body} = $who;
}

for my $q (0 .. $#queues) {
	my $c = cl_new();
	my $n = 0;
	while (1) {
		my ($st, $body) = cl_request($c, 'POST', "$RES/fifo",
		    { 'X-EcsAuthId' => $queues[$q]{recv} });
		if (!defined $st || $st != 200) {
			push @fail, "drain $queues[$q]{name}: " . ($st // 'no answer');
			last;
		}
		last unless length $body;
		receive($body, 'drain');
		push @{ $drainseq{ $queues[$q]{name} } }, [P => $body];
		$drained{ $queues[$q]{name} }++;
		die "drain does not end" if ++$n > 1_000_000;
	}
	cl_close($c);
}

for my $i (1 .. $NPROD) {
	open(my $fh, '<', "$dir/producer$i.rec") or die "producer$i.rec: $!";
	while (<$fh>) {
		chomp;
		my ($kind, $body, $st) = split / /;
		$unsent{$body} = 1, next if $kind eq 'N';
		$sent{$body} = 1;
		if ($kind eq 'A') {
			$acked{$body} = 1;
			push @fail, "201 without an id in Location: $body"
			    unless $st =~ /^\d+$/;
			$id{$body} = $st;
		}
		$refused{$body} = $st if $kind eq 'R';
	}
	close $fh;
}
for my $i (0 .. $#consumers) {
	my $qn = $queues[ $consumers[$i] ]{name};
	my %last;
	open(my $fh, '<', "$dir/consumer$i.rec") or die "consumer$i.rec: $!";
	while (<$fh>) {
		chomp;
		push @{ $cev[$i] }, [X => undef] if /^X$/;
		push @{ $cev[$i] }, [P => $1] if /^P (\S+)$/;
		if (/^X$/) {
			$cut{$qn}++;
		} elsif (/^N$/) {
			;
		} elsif (/^E (\d+)$/) {
			$errors++;
		} elsif (/^P (m:(q\d):(p\d+):(\d+))$/) {
			my ($body, $bq, $p, $seq) = ($1, $2, $3, $4);
			receive($body, "consumer$i");
			$popped{$qn}++;
			push @fail, "consumer$i ($qn) got $body of queue $bq"
			    if $bq ne $qn;
			$order_bad++, push @fail, "consumer$i: $body after " .
			    "$p:$last{$p}" if defined $last{$p} && $seq <= $last{$p};
			$last{$p} = $seq;
		} else {
			push @fail, "consumer$i: unexpected record: $_";
		}
	}
	close $fh;
}

for my $body (keys %recv) {
	push @fail, "received but never sent: $body" unless $sent{$body};
	push @fail, "received but refused ($refused{$body}): $body"
	    if exists $refused{$body};
}
for my $body (keys %acked) {
	next if exists $recv{$body};
	my ($qn) = $body =~ /^m:(q\d):/;
	$missing{$qn}++;
}
for my $q (@queues) {
	my $qn = $q->{name};
	my ($m, $x) = ($missing{$qn} // 0, $cut{$qn} // 0);
	push @fail, "$qn: $m acknowledged messages lost, only $x pops cut"
	    if $m > $x;
}

# Pops return ascending ids (FIFO). With one consumer on a queue, a cut pop
# that was committed took the oldest message after the previous pop, so an
# acknowledged message missing between two received ids needs a cut pop
# between those two pops.
for my $i (0 .. $#consumers) {
	my $last = 0;
	for my $ev (@{ $cev[$i] || [] }) {
		next unless $ev->[0] eq 'P' && defined $id{ $ev->[1] };
		push @fail, "consumer$i: id $id{ $ev->[1] } popped after $last"
		    if $id{ $ev->[1] } <= $last;
		$last = $id{ $ev->[1] };
	}
}
my $gapchecked = 0;
for my $qi (0 .. $#queues) {
	my @mine = grep { $consumers[$_] == $qi } 0 .. $#consumers;
	next unless @mine == 1;
	my $qn = $queues[$qi]{name};
	my @gaps;	# [low id, high id, cut pops between]
	my ($low, $xs) = (0, 0);
	for my $ev (@{ $cev[ $mine[0] ] || [] }, @{ $drainseq{$qn} || [] }) {
		if ($ev->[0] eq 'X') {
			$xs++;
			next;
		}
		my $id = $id{ $ev->[1] };
		next unless defined $id;	# unacknowledged: id unknown
		push @gaps, [$low, $id, $xs];
		($low, $xs) = ($id, 0);
	}
	push @gaps, [$low, 9**20, $xs];
	my %lost;
	for my $body (grep { !exists $recv{$_} && /^m:$qn:/ } keys %acked) {
		my ($g) = grep { $_->[0] < $id{$body} && $id{$body} < $_->[1] }
		    @gaps;
		$lost{"$g->[0]-$g->[1]"}++;
		push @fail, "$qn: message $body (id $id{$body}) lost between " .
		    "pops of ids $g->[0] and $g->[1] with $g->[2] cut pops " .
		    "between them" if $lost{"$g->[0]-$g->[1]"} > $g->[2];
		$gapchecked++;
	}
}

my $st = $d->stop;
push @fail, "ecsd exit status $st after SIGTERM" unless defined $st && $st == 0;
integrity('after the final stop');
my @bad = $d->bad_log_lines;
push @fail, "log: $_" for @bad[0 .. ($#bad < 9 ? $#bad : 9)];

my $nacked = keys %acked;
printf "kill9: %d kills survived, %d integrity checks, %.1f s\n", $kills,
    $checks, time - $t0;
printf "kill9: %d messages sent, %d acknowledged (201), %d refused, " .
    "%d unanswered; %d not sent (no connection)\n", scalar(keys %sent),
    $nacked, scalar(keys %refused),
    scalar(keys %sent) - $nacked - scalar(keys %refused),
    scalar(keys %unsent);
for my $q (@queues) {
	my $qn = $q->{name};
	printf "kill9: %s: %d popped, %d drained, %d pops cut, %d " .
	    "acknowledged not received\n", $qn, $popped{$qn} // 0,
	    $drained{$qn} // 0, $cut{$qn} // 0, $missing{$qn} // 0;
}
print "kill9: $errors error answers to pops\n" if $errors;
print "kill9: $gapchecked missing messages matched to cut pops one by one\n";
if (@fail) {
	print "FAIL: $_\n" for @fail[0 .. ($#fail < 49 ? $#fail : 49)];
	print "kill9: seed $SEED; ECSD_TEST_KEEP=1 keeps $dir\n";
	exit 1;
}
print "PASS: every acknowledged message delivered exactly once " .
    "($nacked checked)\n";
exit 0;
