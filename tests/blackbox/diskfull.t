# Disk full: with the database on a small tmpfs that fills up, writes get
# 503 with a clear text, reads keep working, ecsd recovers by itself when
# space returns, and nothing acknowledged is lost.
#
# SQLite: the data directory is on the tmpfs. PostgreSQL (ECSD_TEST_PGHOST):
# ecsd's tables are, in a tablespace on the tmpfs that is the database's
# default_tablespace; the server's WAL stays on its own disk (a server
# whose WAL disk fills stops, which no client can do anything about).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();
plan skip_all => 'mounting a tmpfs needs root' if $> != 0;
my $PG = Ecsd::pg();
my $mnt = tempdir('ecsd-full-XXXXXX', TMPDIR => 1, CLEANUP => 1);
if (system('mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', $mnt) != 0) {
	plan skip_all => 'cannot mount a tmpfs here';
}
my $mounted = 1;
my ($d, $ts, $db);
END {
	$d->stop if $d;
	if ($ts) {
		Ecsd::pg_dropdb($db) if $db;
		eval { Ecsd::pg_psql('postgres', qq{DROP TABLESPACE IF EXISTS "$ts"}) };
	}
	system('umount', $mnt) if $mounted && $mnt;
}

if ($PG) {
	# The tablespace directory belongs to the user running the server,
	# the owner of its socket.
	my $uid = (stat("$ENV{ECSD_TEST_PGHOST}/.s.PGSQL." . ($ENV{ECSD_TEST_PGPORT} || 5432)))[4];
	mkdir "$mnt/ts" or die "$mnt/ts: $!";
	chown $uid, -1, "$mnt/ts" or die "chown $mnt/ts: $!";
	chmod 0700, "$mnt/ts";
	$ts = sprintf('ecsd_full_%d', $$);
	Ecsd::pg_psql('postgres', qq{CREATE TABLESPACE "$ts" LOCATION '$mnt/ts'});
	$db = Ecsd::pg_createdb();
	Ecsd::pg_psql('postgres', qq{ALTER DATABASE "$db" SET default_tablespace = "$ts"});
	$d = Ecsd->start(pg_db => $db);
} else {
	$d = Ecsd->start(conf => { datadir => "$mnt/data" });
}
$d->fixture_spec;
note('backend ' . Ecsd::backend());
my $X = '/numlab/exercises';
my %to = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'));
my $p1 = $d->as('P1');

# Leave little room: a filler file takes most of what is free.
my $free = `df -k --output=avail $mnt | tail -1` * 1024;
my $filler = "$mnt/filler";
system('dd', 'if=/dev/zero', "of=$filler", 'bs=4096', 'count=' . int(($free - 256 * 1024) / 4096), 'status=none');
ok(-s $filler, 'filler written');

# Bodies nothing can compress (PostgreSQL compresses large values).
my @ALNUM = ('a' .. 'z', 'A' .. 'Z', '0' .. '9', '+', '/');
sub noise { my ($n) = @_; return join('', map { $ALNUM[rand @ALNUM] } 1 .. $n) }

my (%acked, $full, %other);
for my $i (1 .. 200) {
	my $body = sprintf("%05d", $i) . noise(20000);
	my $r = $p1->post($X, body => $body, ctype => 'text/plain', headers => \%to);
	if ($r->{status} == 201) {
		$acked{ Ecsd::loc_id($r) } = $body;
	} elsif ($r->{status} == 503) {
		$full = $r;
		last;
	} else {
		$other{ $r->{status} }++;
	}
}
ok(scalar(keys %acked) > 0, scalar(keys %acked) . ' messages acknowledged before the disk filled');
ok($full, 'a write on a full disk gets 503');
is_deeply(\%other, {}, 'and no other failure status');
like($full->{body} // '', qr/^Storage unavailable[^\n]*\n\z/, 'with one line of text') if $full;
std_ok($full, '503') if $full;

my ($some) = sort keys %acked;
my $g = $d->as('P2')->get("$X/$some");
is($g->{status}, 200, 'reads keep working on a full disk');
is($g->{body}, $acked{$some}, 'with the stored body');
is($d->as('P2')->get('/sys/memberships')->{status}, 200, 'memberships too');
# Still full: take what is left. A write may still fit (SQLite reuses the
# WAL file's space once a checkpoint restarts it), but it never gets
# anything but 201 or 503, and a 201 is kept like the others.
system("dd if=/dev/zero of=$mnt/filler2 bs=4096 status=none 2>/dev/null");
my $body2 = 'again' . noise(20000);
my $again = $p1->post($X, body => $body2, ctype => 'text/plain', headers => \%to);
like($again->{status}, qr/^(?:201|503)$/, "while the disk is full: 201 or 503 ($again->{status})");
$acked{ Ecsd::loc_id($again) } = $body2 if $again->{status} == 201;
unlink "$mnt/filler2";

unlink $filler;
my $back = $p1->post($X, body => 'after', ctype => 'text/plain', headers => \%to);
is($back->{status}, 201, 'writes work again once space returns, without a restart');
$acked{ Ecsd::loc_id($back) } = 'after' if $back->{status} == 201;

$d->restart;
my $lost = 0;
for my $id (sort keys %acked) {
	my $r = $d->as('P2')->get("$X/$id");
	$lost++ unless $r->{status} == 200 && $r->{body} eq $acked{$id};
}
is($lost, 0, 'every acknowledged message is there after a restart (' . scalar(keys %acked) . ')');
$d->stop_ok;
undef $d;
done_testing();
