# ecsctl migrate: a populated installation copied to a new database keeps
# every object with its id, every message body byte for byte, the queues in
# their order, pending events, tokens and passwords; a non-empty target is
# refused. SQLite -> SQLite always; SQLite -> PostgreSQL -> SQLite when the
# harness has a PostgreSQL server (ECSD_TEST_PGHOST).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use File::Temp ();
use MIME::Base64 qw(encode_base64);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $ECSCTL = $ENV{ECSCTL} // "$FindBin::Bin/../../tools/ecsctl";
plan skip_all => "ecsctl not built ($ECSCTL)" unless -x $ECSCTL;

# Run ecsctl; returns (exit status, stdout, stderr).
sub ecsctl {
	my (@args) = @_;
	my ($out, $err) = (File::Temp->new, File::Temp->new);
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		open(STDOUT, '>', $out->filename) or POSIX::_exit(126);
		open(STDERR, '>', $err->filename) or POSIX::_exit(126);
		exec($ECSCTL, @args) or POSIX::_exit(127);
	}
	waitpid($pid, 0);
	my $st = $? >> 8;
	local $/;
	open(my $o, '<', $out->filename) or die;
	open(my $e, '<', $err->filename) or die;
	return ($st, scalar(<$o>) // '', scalar(<$e>) // '');
}

my $X = '/numlab/exercises';
my $BIN = join('', map { chr } 0 .. 255) x 3;	# every byte value, NULs too

# --- a populated source -------------------------------------------------------

my $src = Ecsd->start(conf => { store => 'sqlite' });
$src->fixture_spec;
my $wuv = $src->mid(P2 => 'WUV');
my (@msgs, %body);
for my $i (1 .. 20) {
	my $b = $i % 5 == 0 ? $BIN : "{\"n\":$i,\"t\":\"m\x{e4}ssage $i\"}";
	utf8::encode($b) if $i % 5;
	my $id = create_ok($src->as('P1'), $X, mids => [$wuv], body => $b,
	    ctype => $i % 5 == 0 ? 'application/octet-stream' : 'application/json',
	    name => "message $i");
	push @msgs, $id;
	$body{$id} = $b;
}
# Pop two, delete one, update one: the copy must show exactly that.
my $p2 = $src->as('P2');
is($p2->post("$X/fifo")->{status}, 200, 'pop 1');
is($p2->post("$X/fifo")->{status}, 200, 'pop 2');
is($src->as('P1')->delete("$X/$msgs[5]")->{status}, 200, 'delete one');
is($src->as('P1')->put("$X/$msgs[6]", body => '{"updated":true}',
    ctype => 'application/json', headers => { 'X-EcsReceiverMemberships' => $wuv })->{status},
    200, 'update one');
$body{ $msgs[6] } = '{"updated":true}';
my $tok = $src->as('P1')->post('/sys/auths', json => { realm => 'migrated' },
    headers => { 'X-EcsReceiverMemberships' => $wuv });
is($tok->{status}, 201, 'token');
my $pw = $src->admin->put('/admin/participants/' . $src->pid('P3') . '/password',
    json => { auth_id => 'sunito', password => 'correct horse battery' });
is($pw->{status}, 200, 'password set') or diag($pw->{body});
is($src->as('P2')->get("$X/$msgs[4]")->{body}, $BIN, 'a binary body reads back from the source');

# What the copy must reproduce.
sub snapshot {
	my ($d) = @_;
	my %s;
	my $ex = $d->admin->get('/admin/export');
	$s{export} = $ex->{json};
	for my $w (qw(P1 P2 P3 P4)) {
		my $l = $d->as($w)->get($X);
		$s{"list $w"} = $l->{body};
		$s{"events $w"} = $d->as($w)->get('/sys/events')->{body};
		$s{"memberships $w"} = $d->as($w)->get('/sys/memberships')->{body};
	}
	for my $id (@msgs) {
		my $g = $d->as('P2')->get("$X/$id");
		my $h = $g->{headers};
		$s{"msg $id"} = join("\0", $g->{status}, $h->{'content-type'} // '',
		    $h->{etag} // '', $g->{body} // '');
	}
	my $t = $d->as('P2')->get("/sys/auths/$tok->{json}{hash}");
	$s{token} = "$t->{status} " . ($t->{json}{realm} // '');
	return \%s;
}

my $before = snapshot($src);
my $srcdb = $src->datadir . '/ecsd.db';
ok(-f $srcdb, "source database $srcdb");
$src->stop_ok;

# Check an ecsd started on a migrated copy.
sub check_copy {
	my ($name, %conf) = @_;
	my $d = Ecsd->start(conf => \%conf);
	$d->refresh_map;
	$d->{alias}{$_} = $Ecsd::SPEC_NAMES{$_} for keys %Ecsd::SPEC_NAMES;
	my $after = snapshot($d);
	for my $k (sort keys %$before) {
		is_deeply($after->{$k}, $before->{$k}, "$name: $k");
	}
	# The queue continues where it stopped, and ids continue past the copy.
	my $pop = $d->as('P2')->post("$X/fifo");
	is($pop->{status}, 200, "$name: pop");
	is($pop->{body}, $body{ $msgs[2] }, "$name: the next pop is the third message");
	my $n = create_ok($d->as('P1'), $X, mids => [$d->mid(P2 => 'WUV')], body => 'new');
	ok($n > $msgs[-1], "$name: a new message gets a new id ($n > $msgs[-1])");
	my $b = Ecsd::Client->new($d, { Authorization => 'Basic ' .
	    encode_base64('sunito:correct horse battery', '') })->get('/sys/memberships');
	is($b->{status}, 200, "$name: the migrated password authenticates");
	$d->stop_ok;
}

# --- SQLite to SQLite -----------------------------------------------------------

my $tmp = File::Temp::tempdir('ecsd-migrate-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $copy = "$tmp/copy.db";
my ($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$srcdb", '--to', "sqlite:$copy");
is($st, 0, 'migrate sqlite -> sqlite') or diag($err);
like($out, qr/^participants\s+5 rows$/m, 'it reports the rows per table');
like($out, qr/^links\s+18 rows$/m, 'links: 20 - 2 popped - 1 deleted + 1 token');
check_copy('sqlite copy', database => $copy, store => 'sqlite');

($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$srcdb", '--to', "sqlite:$copy");
is($st, 1, 'a second migration into the same target fails');
like($err, qr/^ecsctl: migrate: the target is not empty/, 'and says why');

($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$srcdb");
is($st, 2, 'no --to: usage');
like($err, qr/--to/, 'usage names --to');
($st, $out, $err) = ecsctl('migrate', '--from', "mysql:x", '--to', "sqlite:$tmp/x.db");
is($st, 1, 'unknown scheme refused');
like($err, qr/not sqlite:PATH or postgresql:DSN/, 'and says which are known');
($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$tmp/absent/none.db",
    '--to', "sqlite:$tmp/y.db");
is($st, 1, 'a source that cannot be opened is refused');
ok(!-e "$tmp/y.db" || -s "$tmp/y.db" > 0, 'no half-made target left behind');

# --- SQLite to PostgreSQL and back ---------------------------------------------

# The SQLite run of the suite checks the SQLite parts; the PostgreSQL run
# (tests/pg/suite.t) the whole file.
if (!Ecsd::pg()) {
	note('the PostgreSQL part runs in the PostgreSQL suite (tests/pg/suite.t)');
} else {
	my $db = Ecsd::pg_createdb();
	my $dsn = Ecsd::pg_dsn($db);
	($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$srcdb", '--to', "postgresql:$dsn");
	is($st, 0, 'migrate sqlite -> postgresql') or diag($err);
	like($out, qr/^links\s+18 rows$/m, 'rows reported');
	($st, $out, $err) = ecsctl('migrate', '--from', "sqlite:$srcdb", '--to', "postgresql:$dsn");
	is($st, 1, 'a populated PostgreSQL target is refused');
	like($err, qr/not empty/, 'and says why');

	# Back to SQLite before any ecsd touched it: the round trip.
	($st, $out, $err) = ecsctl('migrate', '--from', "postgresql:$dsn", '--to', "sqlite:$tmp/back.db");
	is($st, 0, 'migrate postgresql -> sqlite') or diag($err);
	check_copy('postgresql copy', store => 'postgresql', postgresql_dsn => $dsn);
	check_copy('round trip', store => 'sqlite', database => "$tmp/back.db");
	Ecsd::pg_dropdb($db);
}

done_testing;
