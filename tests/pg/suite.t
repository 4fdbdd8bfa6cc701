#!/usr/bin/perl
# The black-box suite once more, on PostgreSQL: starts a private server
# (tests/pg/pgserver) in a temporary directory, runs every
# tests/blackbox/*.t, tests/soak.sh and tests/crash/kill9.sh (8 kills of the
# daemon under load) against it with ECSD_TEST_PGHOST set
# (so that every ecsd they start gets a fresh database there, see
# tests/blackbox/lib/Ecsd.pm), stops the server, and prints the results of
# all of them as one TAP stream, each test named "FILE: description", so
# that make check counts every one of them.
#
#   perl tests/pg/suite.t [FILE...]          the given files only
#
# Environment: top_srcdir, ECSD, ECSCTL (as in make check); ECSD_PG_JOBS
# (files run at once, default 2); ECSD_PG_TIMEOUT (seconds per file,
# default 900); ECSD_PG_TESTS (file names, space-separated: only these);
# ECSD_TEST_KEEP (keep the server's directory and the databases).
# Without PostgreSQL server binaries the whole file is skipped.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use TAP::Parser;
use Time::HiRes qw(time sleep);

$| = 1;
my $SRC = $ENV{top_srcdir} || abs_path(dirname(__FILE__) . '/../..');
my $PGSERVER = "$SRC/tests/pg/pgserver";
my $JOBS = $ENV{ECSD_PG_JOBS} || 2;
my $TIMEOUT = $ENV{ECSD_PG_TIMEOUT} || 900;

my $bindir = `bash '$PGSERVER' bindir 2>/dev/null`;
chomp $bindir;
if ($? != 0 || $bindir eq '') {
	print "1..0 # SKIP no PostgreSQL server binaries (Debian: apt-get install postgresql)\n";
	exit 0;
}

my @files = @ARGV;
if (!@files) {
	@files = (sort(glob("$SRC/tests/blackbox/*.t")), "$SRC/tests/soak.sh",
	    "$SRC/tests/crash/kill9.sh");
	if ($ENV{ECSD_PG_TESTS}) {
		my %want = map { $_ => 1 } split ' ', $ENV{ECSD_PG_TESTS};
		@files = grep { $want{ basename($_) } } @files;
	}
}

# As root the server runs as postgres, which must reach the directory: /tmp
# does, whatever TMPDIR says.
my $dir = $> == 0 ? tempdir('/tmp/ecsd-pg-XXXXXX', CLEANUP => 0) :
    tempdir('ecsd-pg-XXXXXX', TMPDIR => 1, CLEANUP => 0);
my $server_up = 0;
my %running;		# pid => job

sub stop_server {
	return unless $server_up;
	$server_up = 0;
	system('bash', $PGSERVER, 'stop', $dir) == 0
	    or print "# pgserver stop failed\n";
}

sub cleanup {
	for my $pid (keys %running) {
		kill 'TERM', -$pid;
		waitpid($pid, 0);
	}
	%running = ();
	stop_server();
	remove_tree($dir) if !$ENV{ECSD_TEST_KEEP} && -d $dir;
}
$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 1 };
END { local $?; cleanup() }

sub comment {
	my ($prefix, $text) = @_;
	print map { "# $prefix$_\n" } split /\n/, $text;
}

sub slurp {
	my ($f) = @_;
	open(my $fh, '<', $f) or return '';
	local $/;
	my $t = <$fh> // '';
	close $fh;
	return $t;
}

if (system('bash', $PGSERVER, 'start', $dir) != 0) {
	print "1..1\nnot ok 1 - a PostgreSQL server starts (tests/pg/pgserver start $dir)\n";
	comment('', slurp("$dir/server.log"));
	exit 1;
}
$server_up = 1;
print "# PostgreSQL from $bindir on $dir; ", scalar(@files), " files, $JOBS at a time\n";

$ENV{ECSD_TEST_PGHOST} = $dir;
$ENV{top_srcdir} //= $SRC;
$ENV{ECSD_TEST_PGUSER} = 'postgres';
$ENV{ECSD_TEST_PGBIN} = $bindir;
delete $ENV{ECSD_TEST_URL};

my $n = 0;
my $failed = 0;

sub emit {
	my ($ok, $desc, $directive) = @_;
	$n++;
	$desc =~ s/#/\\#/g;
	$failed++ unless $ok || ($directive // '') =~ /^TODO/;
	print(($ok ? 'ok' : 'not ok') . " $n - $desc" .
	    (defined $directive ? " # $directive" : '') . "\n");
}

sub start_job {
	my ($i, $file) = @_;
	my $out = "$dir/job$i.out";
	my $err = "$dir/job$i.err";
	my @cmd = $file =~ /\.sh$/ ? ($ENV{SHELL} && $ENV{SHELL} =~ m{/} ? $ENV{SHELL} : '/bin/sh', $file)
	    : ($^X, "-I$SRC/tests/blackbox/lib", $file);
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		setpgrp(0, 0);
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $out) or POSIX::_exit(127);
		open(STDERR, '>', $err) or POSIX::_exit(127);
		exec(@cmd) or POSIX::_exit(127);
	}
	$running{$pid} = { file => $file, out => $out, err => $err, t0 => time };
}

# Turn one file's output into test lines of this stream.
sub report {
	my ($job, $status) = @_;
	my $name = basename($job->{file});
	my $secs = sprintf('%.0f', time - $job->{t0});
	my $exit = $job->{timed_out} ? "timed out after $TIMEOUT s" :
	    ($status & 127) ? 'signal ' . ($status & 127) : 'exit ' . ($status >> 8);
	my $out = slurp($job->{out});
	my $err = slurp($job->{err});
	my $before = $failed;
	print "# ---- $name ($exit, $secs s)\n";

	if ($name =~ /\.sh$/) {
		# A plain program: its exit status is its one result.
		comment('', $out);
		emit($status == 0 && !$job->{timed_out}, $name) unless ($status >> 8) == 77;
		emit(1, $name, 'SKIP exit status 77') if ($status >> 8) == 77;
		comment('stderr: ', $err) if $failed > $before;
		return;
	}

	my $p = TAP::Parser->new({ tap => $out });
	my $tests = 0;
	while (my $r = $p->next) {
		if ($r->is_test) {
			$tests++;
			my $d = $r->description // '';
			$d =~ s/^-\s*//;
			my $dir;
			$dir = 'SKIP ' . ($r->explanation // '') if $r->has_skip;
			$dir = 'TODO ' . ($r->explanation // '') if $r->has_todo;
			emit($r->is_actual_ok, "$name: $d", $dir);
		} elsif ($r->is_plan) {
			if (($r->directive // '') eq 'SKIP') {
				emit(1, $name, 'SKIP ' . ($r->explanation // ''));
			}
		} elsif ($r->is_bailout) {
			emit(0, "$name: Bail out! " . ($r->explanation // ''));
		} elsif ($r->is_comment) {
			print $r->as_string, "\n";
		} elsif ($r->raw =~ /\S/) {
			print "#   ", $r->raw, "\n";
		}
	}
	emit(0, "$name: $_") for $p->parse_errors;
	if ($job->{timed_out} || (($status != 0) && $failed == $before)) {
		emit(0, "$name: $exit");
	}
	if (!$tests && !$p->skip_all && $failed == $before) {
		emit(0, "$name: no test ran");
	}
	comment('stderr: ', $err) if $failed > $before || $ENV{ECSD_PG_VERBOSE};
}

my @queue = @files;
my $i = 0;
while (@queue || %running) {
	while (@queue && keys(%running) < $JOBS) {
		start_job($i++, shift @queue);
	}
	my $pid = waitpid(-1, WNOHANG);
	if ($pid > 0 && $running{$pid}) {
		my $job = delete $running{$pid};
		kill 'TERM', -$pid;	# daemons a test left behind
		report($job, $?);
		next;
	}
	for my $p (keys %running) {
		my $job = $running{$p};
		next if $job->{timed_out} || time - $job->{t0} < $TIMEOUT;
		$job->{timed_out} = 1;
		kill 'TERM', -$p;
		$job->{kill_at} = time + 10;
	}
	for my $p (keys %running) {
		my $job = $running{$p};
		kill 'KILL', -$p if $job->{kill_at} && time > $job->{kill_at};
	}
	sleep 0.1;
}

if ($failed) {
	my $log = slurp("$dir/server.log");
	my @l = split /\n/, $log;
	@l = @l[-100 .. -1] if @l > 100;
	comment('server.log: ', join("\n", @l));
}
stop_server();
print "1..$n\n";
exit 0;
