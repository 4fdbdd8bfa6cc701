# postgresql_vacuum: a node on PostgreSQL vacuums the queue tables that its
# pops churn, once 10,000 rows have been popped; postgresql_vacuum = 0
# leaves them to autovacuum. Both are seen from the server's statistics
# (vacuum_count of links, which counts VACUUM commands, not autovacuums).
# On SQLite only the option's range is checked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();

my $tmp = tempdir('ecsd-vacuum-XXXXXX', TMPDIR => 1, CLEANUP => 1);

subtest 'postgresql_vacuum is 0 or 1' => sub {
	my $bin = Ecsd::_binary();
	my $out = `'$bin' -n -o postgresql_vacuum=2 -D $tmp/d 2>&1`;
	is($? >> 8, 1, 'postgresql_vacuum = 2: ecsd -n exits 1');
	like($out, qr/postgresql_vacuum/, 'and names the option') or diag($out);
	$out = `'$bin' -n -o postgresql_vacuum=0 -D $tmp/d 2>&1`;
	is($? >> 8, 0, 'postgresql_vacuum = 0 is accepted') or diag($out);
};

unless (Ecsd::pg()) {
	note('the vacuums need PostgreSQL (ECSD_TEST_PGHOST, see tests/pg/pgserver)');
	done_testing;
	exit 0;
}

my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $bench = "$top/tools/ecs-bench";
my $POPS = 12_000;

sub vacuums {
	my ($d) = @_;
	my $n = Ecsd::pg_psql($d->pg_db, 'SELECT vacuum_count FROM ' .
	    "pg_stat_user_tables WHERE relname = 'links'");
	$n =~ s/\s+//g;
	return $n eq '' ? -1 : $n;
}

# Produce and pop $POPS messages through the node; the wait (at most
# $secs) ends as soon as the node has vacuumed links.
sub churn_and_wait {
	my ($d, $secs) = @_;
	local $ENV{ECSD_ADMIN_PASSWORD} = $d->password;
	my $url = 'http://' . $d->host . ':' . $d->port;
	my $out = `'$bench' -S -u $url -R vr -s vr-sender -c 8 -n $POPS -p produce,consume 2>&1`;
	is($? >> 8, 0, "ecs-bench produced and popped $POPS messages") or diag($out);
	like($out, qr/^RESULT phase=consume .* ok=$POPS /m, 'every pop got a message');
	my $end = time + $secs;
	my $n = vacuums($d);
	while ($n < 1 && time < $end) {
		sleep 0.25;
		$n = vacuums($d);
	}
	return $n;
}

sub node {
	my ($on) = @_;
	my $d = Ecsd->start(conf => { postgresql_vacuum => $on });
	# An autovacuum under way would make the node's VACUUM skip links
	# (SKIP_LOCKED), and autovacuums are not what is counted here.
	Ecsd::pg_psql($d->pg_db,
	    'ALTER TABLE links SET (autovacuum_enabled = false)');
	is(vacuums($d), 0, 'links has not been vacuumed yet');
	return $d;
}

subtest 'postgresql_vacuum = 1 (the default): the node vacuums links' => sub {
	ok(-x $bench, 'ecs-bench is built') or return;
	my $d = node(1);
	cmp_ok(churn_and_wait($d, 30), '>=', 1,
	    "links vacuumed after $POPS pops");
	$d->stop_ok('vacuuming node');
};

subtest 'postgresql_vacuum = 0: the node leaves links alone' => sub {
	ok(-x $bench, 'ecs-bench is built') or return;
	my $d = node(0);
	is(churn_and_wait($d, 5), 0, "links not vacuumed after $POPS pops");
	$d->stop_ok('node without vacuums');
};

done_testing();
