#!/usr/bin/perl
# ecsctl(1) against a real ecsd: every command, exit codes (0 ok, 1 refused
# or unreachable, 2 usage), the tables, the key/value output and -j JSON.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Ecsd;

my $ECSCTL = $ENV{ECSCTL} // "$FindBin::Bin/../../tools/ecsctl";
plan skip_all => "ecsctl not built ($ECSCTL)" unless -x $ECSCTL;
plan skip_all => 'ecsd not built' unless Ecsd::external() || -x Ecsd::_binary();

my $JSON = JSON::PP->new->utf8->canonical;
my $tmp = tempdir('ecsctl-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $d = Ecsd->start;
my %ENVBASE = (ECSD_URL => $d->base, ECSD_ADMIN_PASSWORD => $d->password);

# ctl([args], env => {K => V or undef}, stdin => text)
# Returns {rc, out, err}.
sub ctl {
	my ($args, %o) = @_;
	my ($in, $out, $err) = map { "$tmp/$_" } qw(in out err);
	open(my $fh, '>', $in) or die "$in: $!";
	print $fh $o{stdin} // '';
	close $fh;
	my %env = (%ENVBASE, %{ $o{env} || {} });
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', $in) or POSIX::_exit(126);
		open(STDOUT, '>', $out) or POSIX::_exit(126);
		open(STDERR, '>', $err) or POSIX::_exit(126);
		delete @ENV{qw(ECSD_URL ECSD_ADMIN_PASSWORD ECSD_DATADIR)};
		for my $k (keys %env) {
			$ENV{$k} = $env{$k} if defined $env{$k};
		}
		chdir($o{cwd} // $tmp);
		exec($ECSCTL, @$args) or POSIX::_exit(127);
	}
	my $deadline = time + 60;
	my $w = 0;
	while (time < $deadline) {
		$w = waitpid($pid, WNOHANG);
		last if $w == $pid;
		sleep 0.02;
	}
	if ($w != $pid) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	my $st = $?;
	my %r = (rc => ($st & 127) ? 128 + ($st & 127) : $st >> 8);
	for my $k (qw(out err)) {
		open(my $rf, '<', "$tmp/$k") or die "$tmp/$k: $!";
		local $/;
		$r{$k} = <$rf> // '';
		close $rf;
	}
	$r{rc} = 124 if $w != $pid;
	return \%r;
}

my @sanitizer;	# sanitizer reports of ecsctl itself (ASan builds)

# Run, check the exit status; diag the output on failure.
sub ok_ctl {
	my ($args, $rc, $name, %o) = @_;
	my $r = ctl($args, %o);
	push @sanitizer, "ecsctl @$args: $1"
	    if $r->{err} =~ /((?:AddressSanitizer|LeakSanitizer|runtime error).*)/;
	is($r->{rc}, $rc, "$name: exit $rc") or
	    diag("ecsctl @$args\nstdout: $r->{out}\nstderr: $r->{err}");
	return $r;
}

sub json_of {
	my ($r) = @_;
	my $v = eval { $JSON->decode($r->{out}) };
	return $v;
}

# "key  value" lines into a hash.
sub kv {
	my ($text) = @_;
	my %h;
	for my $l (split /\n/, $text) {
		$h{$1} = $2 if $l =~ /^(\S+)\s+(.*)$/;
	}
	return \%h;
}

# A table: header names and rows of cells; checks the alignment too.
sub table {
	my ($text, $name) = @_;
	my @lines = split /\n/, $text;
	my $head = shift @lines // '';
	my @cols = split /\s{2,}/, $head;
	my @pos;
	my $at = 0;
	for my $c (@cols) {
		$at = index($head, $c, $at);
		push @pos, $at;
		$at += length $c;
	}
	my @rows;
	my $aligned = 1;
	for my $l (@lines) {
		my @cells = split /\s{2,}/, $l;
		for my $i (1 .. $#cells) {
			$aligned = 0 if $i <= $#pos &&
			    substr($l, $pos[$i], length $cells[$i]) ne $cells[$i];
		}
		push @rows, { map { ($cols[$_] => $cells[$_]) } 0 .. $#cols };
	}
	ok($aligned, "$name: columns are aligned") or diag($text);
	return (\@cols, \@rows);
}

sub row_by {
	my ($rows, $col, $val) = @_;
	my @m = grep { defined $_->{$col} && $_->{$col} eq $val } @$rows;
	return $m[0];
}

my $admin = $d->admin;
my ($r, $j, $cols, $rows);

# ---- usage errors: exit 2, the valid words are listed ---------------------

$r = ok_ctl([], 2, 'no command');
like($r->{err}, qr/^usage: ecsctl \[-j\] \[-u url\] \[-p password-file\] command \[argument \.\.\.\]$/m,
    'no command: usage line');
like($r->{err}, qr/^\s+organization$/m, 'no command: lists organization');
like($r->{err}, qr/^\s+participant$/m, 'no command: lists participant');

$r = ok_ctl(['-x'], 2, 'unknown option');
like($r->{err}, qr/^usage: ecsctl/m, 'unknown option: usage');

$r = ok_ctl(['frobnicate'], 2, 'unknown command');
like($r->{err}, qr/unknown argument: frobnicate/, 'unknown command: named');
like($r->{err}, qr/^\s+export$/m, 'unknown command: lists export');

$r = ok_ctl(['organization'], 2, 'missing word');
like($r->{err}, qr/missing argument/, 'missing word: said');
for my $w (qw(add delete list set show)) {
	like($r->{err}, qr/^\s+$w$/m, "missing word: lists $w");
}

$r = ok_ctl(['organization', 's', '1'], 2, 'ambiguous prefix');
like($r->{err}, qr/ambiguous argument: s/, 'ambiguous prefix: said');

$r = ok_ctl(['organization', 'show'], 2, 'missing id');
like($r->{err}, qr/<id>/, 'missing id: <id> listed');
ok_ctl(['organization', 'show', 'abc'], 2, 'id not a number');
ok_ctl(['organization', 'show', '0'], 2, 'id zero');
ok_ctl(['organization', 'list', 'extra'], 2, 'superfluous argument');
ok_ctl(['export', 'extra'], 2, 'export takes no argument');
ok_ctl(['apply'], 2, 'apply needs a file');
$r = ok_ctl(['organization', 'add', '--name', 'X'], 2, 'organization add without --abbr');
like($r->{err}, qr/--abbr is required/, '--abbr is required');
ok_ctl(['community', 'add'], 2, 'community add without --name');
ok_ctl(['participant', 'add', '--name', 'p'], 2, 'participant add without --organization');
$r = ok_ctl(['organization', 'add', '--name', 'X', '--abbr', 'X', '--colour', 'red'], 2,
    'unknown option of add');
like($r->{err}, qr/^\s+--description value$/m, 'unknown option: options listed');
ok_ctl(['organization', 'add', '--name'], 2, 'option without value');
ok_ctl(['organization', 'add', 'X'], 2, 'positional word after add');
ok_ctl(['resource', 'add', 'noslash'], 2, 'resource name without namespace');
ok_ctl(['resource', 'add', 'a/b/c'], 2, 'resource name with two slashes');
ok_ctl(['organization', 'set', '1'], 2, 'set without changes');
ok_ctl(['resource', 'set', '1'], 2, 'resources cannot be set');
ok_ctl(['membership', 'add', '1'], 2, 'membership add needs two ids');
ok_ctl(['participant', 'add', '--name', 'p', '--organization', '1', '--no'], 2,
    'ambiguous option prefix');

# ---- credentials and transport: exit 1 ---------------------------------------

$r = ok_ctl(['organization', 'list'], 1, 'wrong password',
    env => { ECSD_ADMIN_PASSWORD => 'wrong' });
like($r->{err}, qr/^ecsctl: 401: /, 'wrong password: ecsctl: 401: text');
is($r->{out}, '', 'wrong password: nothing on stdout');

$r = ok_ctl(['organization', 'list'], 1, 'unreachable server',
    env => { ECSD_URL => 'http://127.0.0.1:1' });
like($r->{err}, qr/^ecsctl: .*refused/mi, 'unreachable server: said');

ok_ctl(['-u', 'http://127.0.0.1:1', 'organization', 'list'], 1, '-u beats ECSD_URL');
ok_ctl(['-u', $d->base, 'organization', 'list'], 0, '-u with the right URL',
    env => { ECSD_URL => 'http://127.0.0.1:1' });
ok_ctl(['-u', $d->base . '/', 'organization', 'list'], 0, '-u with a trailing slash');

{
	my $pwfile = "$tmp/pw";
	open(my $fh, '>', $pwfile) or die;
	print $fh $d->password, "\n";
	close $fh;
	ok_ctl(['-p', $pwfile, 'organization', 'list'], 0, 'password from -p file',
	    env => { ECSD_ADMIN_PASSWORD => undef });
	ok_ctl(['-p', "$tmp/nonexistent", 'organization', 'list'], 1,
	    'unreadable -p file', env => { ECSD_ADMIN_PASSWORD => undef });
	mkdir "$tmp/dd";
	open($fh, '>', "$tmp/dd/admin.secret") or die;
	print $fh $d->password, "\n";
	close $fh;
	ok_ctl(['organization', 'list'], 0, 'password from $ECSD_DATADIR/admin.secret',
	    env => { ECSD_ADMIN_PASSWORD => undef, ECSD_DATADIR => "$tmp/dd" });
	mkdir "$tmp/cwd";
	mkdir "$tmp/cwd/ecsd-data";
	open($fh, '>', "$tmp/cwd/ecsd-data/admin.secret") or die;
	print $fh $d->password;
	close $fh;
	ok_ctl(['organization', 'list'], 0, 'password from ./ecsd-data/admin.secret',
	    env => { ECSD_ADMIN_PASSWORD => undef }, cwd => "$tmp/cwd");
	$r = ok_ctl(['organization', 'list'], 1, 'no password at all',
	    env => { ECSD_ADMIN_PASSWORD => undef });
	like($r->{err}, qr/^ecsctl: 401: /, 'no password: 401');
}

# ---- organizations ------------------------------------------------------------

$r = ok_ctl(['organization', 'add', '--name', 'Test Org', '--abbr', 'TO',
    '--description', 'first'], 0, 'organization add');
my $o = kv($r->{out});
like($o->{id} // '', qr/^\d+$/, 'organization add: prints the id');
is($o->{name}, 'Test Org', 'organization add: prints the name');
is($o->{abbr}, 'TO', 'organization add: prints the abbr');
my $oid = $o->{id};

$r = ok_ctl(['-j', 'organization', 'add', '--name=Other Org', '--abbr=OO'], 0,
    'organization add -j, --opt=value');
$j = json_of($r);
is($j->{name}, 'Other Org', 'organization add -j: JSON name');
is($j->{description}, '', 'organization add -j: empty description');
my $oid2 = $j->{id};

$r = ok_ctl(['organization', 'add', '--name', 'Test Org', '--abbr', 'XX'], 1,
    'duplicate organization');
like($r->{err}, qr/^ecsctl: 409: \S/, 'duplicate organization: ecsctl: 409: text');
unlike($r->{err}, qr/\n./, 'duplicate organization: one line');

$r = ok_ctl(['organization', 'list'], 0, 'organization list');
($cols, $rows) = table($r->{out}, 'organization list');
is_deeply($cols, [qw(ID NAME ABBR DESCRIPTION)], 'organization list: header');
my $row = row_by($rows, 'NAME', 'Test Org');
ok($row, 'organization list: Test Org listed');
is($row->{ID}, $oid, 'organization list: its id');
is($row->{DESCRIPTION}, 'first', 'organization list: its description');
is(row_by($rows, 'NAME', 'Other Org')->{DESCRIPTION}, '-',
    'organization list: empty description shown as -');

$r = ok_ctl(['--json', 'organization', 'list'], 0, 'organization list --json');
$j = json_of($r);
is(ref $j, 'ARRAY', 'organization list --json: an array');
ok((grep { $_->{name} eq 'Test Org' && $_->{id} == $oid } @{ $j || [] }),
    'organization list --json: Test Org in it');

$r = ok_ctl(['org', 'sh', $oid], 0, 'organization show by prefixes');
is(kv($r->{out})->{name}, 'Test Org', 'organization show: name');
$r = ok_ctl(['-j', 'organization', 'show', $oid], 0, 'organization show -j');
is(json_of($r)->{abbr}, 'TO', 'organization show -j: abbr');

$r = ok_ctl(['organization', 'show', '999999'], 1, 'organization show unknown id');
like($r->{err}, qr/^ecsctl: 404: /, 'unknown id: ecsctl: 404: text');

$r = ok_ctl(['organization', 'set', $oid, '--description', 'changed', '--abbr', 'TX'],
    0, 'organization set');
is(kv($r->{out})->{description}, 'changed', 'organization set: prints the object');
$j = $admin->get("/admin/organizations/$oid")->{json};
is($j->{description}, 'changed', 'organization set: description changed');
is($j->{abbr}, 'TX', 'organization set: abbr changed');
is($j->{name}, 'Test Org', 'organization set: name kept');

# ---- communities --------------------------------------------------------------

$r = ok_ctl(['community', 'add', '--name', 'c1', '--description', 'Community one'], 0,
    'community add');
my $cid = kv($r->{out})->{id};
like($cid // '', qr/^\d+$/, 'community add: id');
$r = ok_ctl(['-j', 'community', 'add', '--name', 'c2'], 0, 'community add -j');
my $cid2 = json_of($r)->{id};
ok($cid2, 'community add -j: id');
ok_ctl(['community', 'add', '--name', 'c1'], 1, 'duplicate community');

$r = ok_ctl(['community', 'list'], 0, 'community list');
($cols, $rows) = table($r->{out}, 'community list');
is_deeply($cols, [qw(ID NAME DESCRIPTION)], 'community list: header');
is(row_by($rows, 'NAME', 'c1')->{DESCRIPTION}, 'Community one',
    'community list: c1 and its description');
ok(row_by($rows, 'NAME', 'public'), 'community list: the seed community public');

$r = ok_ctl(['community', 'show', $cid], 0, 'community show');
is(kv($r->{out})->{name}, 'c1', 'community show: name');
ok_ctl(['community', 'set', $cid, '--description', 'One'], 0, 'community set');
is($admin->get("/admin/communities/$cid")->{json}{description}, 'One',
    'community set: changed');

# ---- resources ----------------------------------------------------------------

$r = ok_ctl(['-j', 'resource', 'add', 'ns1/res1', '--postroute'], 0, 'resource add --postroute');
$j = json_of($r);
is($j->{namespace}, 'ns1', 'resource add: namespace');
is($j->{name}, 'res1', 'resource add: name');
ok($j->{postroute}, 'resource add: postroute true');
ok($j->{events}, 'resource add: events true by default');
my $rid = $j->{id};
$r = ok_ctl(['-j', 'resource', 'add', 'ns1/res2', '--no-events'], 0, 'resource add --no-events');
$j = json_of($r);
ok(!$j->{postroute}, 'resource add --no-events: postroute false by default');
ok(!$j->{events}, 'resource add --no-events: events false');
my $rid2 = $j->{id};
ok_ctl(['resource', 'add', 'ns1/res1'], 1, 'duplicate resource');

$r = ok_ctl(['resource', 'list'], 0, 'resource list');
($cols, $rows) = table($r->{out}, 'resource list');
is_deeply($cols, [qw(ID NAMESPACE NAME POSTROUTE EVENTS)], 'resource list: header');
$row = (grep { $_->{NAMESPACE} eq 'ns1' && $_->{NAME} eq 'res1' } @$rows)[0];
ok($row, 'resource list: ns1/res1 listed');
is($row->{POSTROUTE}, 'yes', 'resource list: postroute yes');
is($row->{EVENTS}, 'yes', 'resource list: events yes');
$row = (grep { $_->{NAMESPACE} eq 'ns1' && $_->{NAME} eq 'res2' } @$rows)[0];
is($row->{EVENTS}, 'no', 'resource list: events no');

$r = ok_ctl(['resource', 'show', $rid], 0, 'resource show');
is(kv($r->{out})->{postroute}, 'yes', 'resource show: postroute yes');
$r = ok_ctl(['resource', 'delete', $rid2], 0, 'resource delete');
is($admin->get("/admin/resources/$rid2")->{status}, 404, 'resource delete: gone');
ok_ctl(['resource', 'delete', $rid2], 1, 'resource delete twice');

# ---- participants ---------------------------------------------------------------

$r = ok_ctl(['-j', 'participant', 'add', '--name', 'p1', '--organization', 'Test Org',
    '--auth-id', 'p1a', '--auth-id', 'p1b', '--community', 'c1',
    '--description', 'LMS one', '--dns', 'lms1.example.org',
    '--email', 'admin@example.org', '--selfrouting'], 0, 'participant add');
$j = json_of($r);
my $pid = $j->{id};
ok($pid, 'participant add: id');
is($j->{organization_id}, $oid, 'participant add: organization by name');
is_deeply([sort @{ $j->{auth_ids} || [] }], [qw(p1a p1b)], 'participant add: auth ids');
is_deeply([map { $_->{community_id} } @{ $j->{memberships} || [] }], [$cid],
    'participant add: community by name');
ok($j->{community_selfrouting}, 'participant add: --selfrouting');
ok($j->{events}, 'participant add: events by default');
is($j->{dns}, 'lms1.example.org', 'participant add: dns');
is($j->{email}, 'admin@example.org', 'participant add: email');
is($j->{description}, 'LMS one', 'participant add: description');

$r = ok_ctl(['participant', 'add', '--name', 'p2', '--org', $oid2, '--auth-id', 'p2a',
    '--community', $cid, '--community', $cid2, '--no-events'], 0,
    'participant add with ids and prefixes');
my $p2 = kv($r->{out});
my $pid2 = $p2->{id};
is($p2->{organization_id}, $oid2, 'participant add: organization by id');
is($p2->{events}, 'no', 'participant add: --no-events');
is($p2->{auth_ids}, 'p2a', 'participant add: auth ids shown');
like($p2->{memberships} // '', qr/community_id=$cid\b.*community_id=$cid2\b/,
    'participant add: memberships shown');

$r = ok_ctl(['participant', 'add', '--name', 'p3', '--organization', 'No Such Org'], 1,
    'participant add, unknown organization name');
like($r->{err}, qr/^ecsctl: .*No Such Org/m, 'unknown organization: named');
ok_ctl(['participant', 'add', '--name', 'p3', '--organization', $oid,
    '--community', 'nosuchcommunity'], 1, 'participant add, unknown community');

$r = ok_ctl(['participant', 'list'], 0, 'participant list');
($cols, $rows) = table($r->{out}, 'participant list');
is_deeply($cols, [qw(ID NAME ORG TYPE EVENTS AUTH_IDS COMMUNITIES)],
    'participant list: header');
$row = row_by($rows, 'NAME', 'p1');
ok($row, 'participant list: p1 listed');
is($row->{ID}, $pid, 'participant list: p1 id');
is($row->{ORG}, $oid, 'participant list: p1 organization');
is($row->{AUTH_IDS}, 'p1a,p1b', 'participant list: p1 auth ids');
is($row->{COMMUNITIES}, $cid, 'participant list: p1 communities');
is($row->{EVENTS}, 'yes', 'participant list: p1 events');
$row = row_by($rows, 'NAME', 'p2');
is($row->{COMMUNITIES}, "$cid,$cid2", 'participant list: p2 communities');

$r = ok_ctl(['participant', 'show', $pid], 0, 'participant show');
$p2 = kv($r->{out});
is($p2->{name}, 'p1', 'participant show: name');
is($p2->{community_selfrouting}, 'yes', 'participant show: selfrouting');
is($p2->{type}, 'main', 'participant show: type');

$r = ok_ctl(['participant', 'set', $pid, '--auth-id', 'p1c', '--no-events',
    '--no-selfrouting', '--email', 'new@example.org'], 0, 'participant set');
$j = $admin->get("/admin/participants/$pid")->{json};
is_deeply($j->{auth_ids}, ['p1c'], 'participant set: auth ids replaced');
ok(!$j->{events}, 'participant set: --no-events');
ok(!$j->{community_selfrouting}, 'participant set: --no-selfrouting');
is($j->{email}, 'new@example.org', 'participant set: email');
is($j->{name}, 'p1', 'participant set: name kept');
ok_ctl(['participant', 'set', $pid, '--events', '--community', 'c2'], 0,
    'participant set communities');
$j = $admin->get("/admin/participants/$pid")->{json};
ok($j->{events}, 'participant set: --events');
is_deeply([map { $_->{community_id} } @{ $j->{memberships} || [] }], [$cid2],
    'participant set: communities replaced');

$r = ok_ctl(['participant', 'reset', $pid], 0, 'participant reset');
is(kv($r->{out})->{name}, 'p1', 'participant reset: prints the participant');
ok_ctl(['participant', 'reset', '999999'], 1, 'participant reset unknown id');

# ---- memberships ----------------------------------------------------------------

$r = ok_ctl(['-j', 'membership', 'add', $pid, $cid], 0, 'membership add');
$j = json_of($r);
my $mid = $j->{id};
ok($mid, 'membership add: id');
is($j->{participant_id}, $pid, 'membership add: participant');
is($j->{community_id}, $cid, 'membership add: community');
ok((grep { $_->{mid} == $mid } @{ $admin->get("/admin/participants/$pid")->{json}{memberships} }),
    'membership add: visible in the participant');
ok_ctl(['membership', 'add', $pid, '999999'], 1, 'membership add, unknown community');
$r = ok_ctl(['membership', 'delete', $mid], 0, 'membership delete');
is(kv($r->{out})->{id}, $mid, 'membership delete: prints the membership');
ok(!(grep { $_->{mid} == $mid } @{ $admin->get("/admin/participants/$pid")->{json}{memberships} }),
    'membership delete: gone');
$r = ok_ctl(['membership', 'delete', $mid], 1, 'membership delete twice');
like($r->{err}, qr/^ecsctl: 404: /, 'membership delete twice: 404');

# ---- participant password -------------------------------------------------------

{
	my $basic = sub {
		my ($u, $pw) = @_;
		return $d->client(Authorization => 'Basic ' .
		    MIME::Base64::encode_base64("$u:$pw", ''))->get('/sys/events')->{status};
	};
	$r = ok_ctl(['participant', 'password'], 2, 'password without id');
	like($r->{err}, qr/<id>/, 'password without id: <id> listed');
	$r = ok_ctl(['participant', 'password', $pid2], 2, 'password without auth id');
	like($r->{err}, qr/<auth-id>/, 'password without auth id: <auth-id> listed');
	ok_ctl(['participant', 'password', 'abc', 'p2a'], 2, 'password with a bad id');
	$r = ok_ctl(['participant', 'password', $pid2, 'p2a', '--colour'], 2,
	    'password with an unknown option');
	like($r->{err}, qr/^\s+--password-file value$/m, 'unknown option: --password-file listed');
	like($r->{err}, qr/^\s+--remove$/m, 'unknown option: --remove listed');
	ok_ctl(['participant', 'password', $pid2, 'p2a', 'extra'], 2,
	    'password with a positional word after the auth id');
	ok_ctl(['participant', 'password', $pid2, 'p2a', '--remove', '--password-file', "$tmp/x"],
	    2, '--remove and --password-file together');
	ok_ctl(['participant', 'password', $pid2, 'p2a', '--password-file'], 2,
	    '--password-file without a value');

	$r = ok_ctl(['participant', 'password', $pid2, 'p2a'], 0, 'password from stdin',
	    stdin => "stdin-secret-1\n");
	my $kv = kv($r->{out});
	is($kv->{id}, $pid2, 'password: prints the participant id');
	is($kv->{auth_id}, 'p2a', 'password: prints the auth id');
	is($kv->{password}, 'yes', 'password: password yes');
	unlike($r->{out} . $r->{err}, qr/stdin-secret-1/, 'password: the password is not printed');
	is($basic->('p2a', 'stdin-secret-1'), 200, 'password from stdin: Basic works');

	open(my $fh, '>', "$tmp/newpw") or die;
	print $fh "file-secret-2\nsecond line ignored\n";
	close $fh;
	$r = ok_ctl(['-j', 'participant', 'password', $pid2, 'p2a', '--password-file', "$tmp/newpw"],
	    0, 'password from --password-file, -j');
	is_deeply(json_of($r), { id => $pid2, auth_id => 'p2a', password => JSON::PP::true },
	    'password -j: the JSON answer');
	is($basic->('p2a', 'file-secret-2'), 200, 'password from a file: its first line');
	is($basic->('p2a', 'stdin-secret-1'), 401, 'password from a file: the old one is refused');
	ok_ctl(['participant', 'password', $pid2, 'p2a', '--password-file=-'], 0,
	    'password --password-file=- reads stdin', stdin => "dash-secret-3\r\n");
	is($basic->('p2a', 'dash-secret-3'), 200, 'password from --password-file -');

	$r = ok_ctl(['participant', 'password', $pid2, 'p2a'], 1, 'a short password',
	    stdin => "short\n");
	like($r->{err}, qr/^ecsctl: 400: \S/, 'a short password: ecsctl: 400: text');
	$r = ok_ctl(['participant', 'password', $pid2, 'p2a'], 1, 'an empty stdin', stdin => '');
	like($r->{err}, qr/empty password/, 'an empty stdin: said');
	ok_ctl(['participant', 'password', $pid2, 'p2a', '--password-file', "$tmp/nonexistent"], 1,
	    'an unreadable password file');
	$r = ok_ctl(['participant', 'password', $pid2, 'p1c'], 1, 'an auth id of another participant',
	    stdin => "long-enough-4\n");
	like($r->{err}, qr/^ecsctl: 404: /, 'another participant\'s auth id: 404');
	ok_ctl(['participant', 'password', '999999', 'p2a'], 1, 'an unknown participant',
	    stdin => "long-enough-4\n");
	is($basic->('p2a', 'dash-secret-3'), 200, 'the refused changes left the password alone');

	$r = ok_ctl(['part', 'pass', $pid2, 'p2a', '--rem'], 0, 'password --remove (prefixes)');
	is(kv($r->{out})->{password}, 'no', 'password --remove: password no');
	is($basic->('p2a', 'dash-secret-3'), 401, 'password --remove: Basic refused');
}

# ---- gc -------------------------------------------------------------------------

{
	$r = ok_ctl(['gc'], 0, 'gc');
	is_deeply(kv($r->{out}), { tokens => 0, participants => 0, messages => 0 },
	    'gc: the three counts') or diag($r->{out});
	ok_ctl(['gc', 'extra'], 2, 'gc takes no argument');

	# a deleted message whose events went with their participant
	my $pr = $admin->post('/admin/participants', json => { name => 'gc-receiver',
	    organization_id => $oid + 0, auth_ids => ['gc-recv'], communities => [$cid + 0] });
	is($pr->{status}, 201, 'gc: a receiver') or diag($pr->{body});
	$j = $pr->{json} || {};
	my $sender = $d->client('X-EcsAuthId' => 'p2a');
	my $m = $sender->post('/ns1/res1', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $j->{memberships}[0]{mid} });
	is($m->{status}, 201, 'gc: a message to gc-receiver') or diag($m->{body});
	my ($mid) = ($m->{headers}{location} // '') =~ m{/(\d+)$};
	is($sender->delete("/ns1/res1/$mid")->{status}, 200, 'gc: its sender deletes it');
	is($admin->delete("/admin/participants/$j->{id}")->{status}, 200,
	    'gc: the receiver with its events is deleted');
	$r = ok_ctl(['-j', 'gc'], 0, 'gc -j');
	is_deeply(json_of($r), { tokens => 0, participants => 0, messages => 1 },
	    'gc -j: the tombstone counted') or diag($r->{out});
	$r = ok_ctl(['gc'], 0, 'gc again');
	is(kv($r->{out})->{messages}, 0, 'gc again: nothing left');
}

# ---- export and apply -----------------------------------------------------------

$r = ok_ctl(['export'], 0, 'export');
like($r->{out}, qr/^\{\n  "/, 'export: indented JSON');
my $doc = json_of($r);
ok((grep { $_->{name} eq 'Test Org' } @{ $doc->{organizations} || [] }),
    'export: Test Org');
ok((grep { $_->{name} eq 'p2' && $_->{organization} eq 'Other Org' }
    @{ $doc->{participants} || [] }), 'export: p2 with its organization by name');
ok(!(grep { $_->{name} eq 'system' } @{ $doc->{organizations} || [] }),
    'export: no seed organizations');
$r = ok_ctl(['-j', 'export'], 0, 'export -j');
is_deeply(json_of($r), $doc, 'export -j: the same document');

open(my $fh, '>', "$tmp/export.json") or die;
print $fh $JSON->encode($doc);
close $fh;
$r = ok_ctl(['apply', "$tmp/export.json"], 0, 'apply the export');
my $counts = kv($r->{out});
is_deeply($counts, { organizations => 0, communities => 0, resources => 0,
    participants => 0 }, 'apply the export: nothing created') or diag($r->{out});

my $new = {
	organizations => [{ name => 'Applied Org', abbr => 'AO', description => '' }],
	communities => [{ name => 'applied', description => 'from a file' }],
	resources => [{ namespace => 'ns2', name => 'things', postroute => JSON::PP::false,
	    events => JSON::PP::true }],
	participants => [{ name => 'applied-lms', description => '', dns => '', email => '',
	    organization => 'Applied Org', community_selfrouting => JSON::PP::false,
	    events => JSON::PP::true, auth_ids => ['applied-lms'],
	    communities => ['applied'] }],
};
$r = ok_ctl(['-j', 'apply', '-'], 0, 'apply from stdin',
    stdin => $JSON->encode($new));
is_deeply(json_of($r), { organizations => 1, communities => 1, resources => 1,
    participants => 1 }, 'apply from stdin: one of each created');
$r = ok_ctl(['apply', '-'], 0, 'apply again', stdin => $JSON->encode($new));
is(kv($r->{out})->{participants}, 0, 'apply again: idempotent');
$r = ok_ctl(['participant', 'list'], 0, 'participant list after apply');
($cols, $rows) = table($r->{out}, 'participant list after apply');
ok(row_by($rows, 'NAME', 'applied-lms'), 'apply: participant created');

ok_ctl(['apply', "$tmp/does-not-exist.json"], 1, 'apply a missing file');
$r = ok_ctl(['apply', '-'], 1, 'apply bad JSON', stdin => '{"organizations": [');
like($r->{err}, qr/^ecsctl: 400: /, 'apply bad JSON: 400');

# ---- deletes --------------------------------------------------------------------

$r = ok_ctl(['participant', 'delete', $pid], 0, 'participant delete');
is(kv($r->{out})->{name}, 'p1', 'participant delete: prints the deleted object');
ok_ctl(['participant', 'show', $pid], 1, 'participant show after delete');
ok_ctl(['community', 'delete', $cid2], 0, 'community delete');
ok_ctl(['community', 'show', $cid2], 1, 'community show after delete');
ok_ctl(['organization', 'delete', $oid2], 0, 'organization delete');
is($admin->get("/admin/participants/$pid2")->{status}, 404,
    'organization delete: its participants are gone');
ok_ctl(['organization', 'delete', $oid2], 1, 'organization delete twice');

ok(!@sanitizer, 'no sanitizer reports from ecsctl') or diag(join("\n", @sanitizer));

$d->stop_ok;
done_testing();
