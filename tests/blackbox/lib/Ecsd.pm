package Ecsd;

# Black-box test harness for ecsd: starts a private daemon per test file on
# 127.0.0.1:0 in a temporary directory, and talks HTTP/1.1 to it with a small
# hand-written client (keep-alive, Content-Length and chunked responses, HEAD,
# Expect: 100-continue, raw header names as sent by the server).
#
# Environment:
#   ECSD            the daemon binary (default: ecsd/ecsd of the build tree)
#   top_builddir    used to find ecsd/ecsd when ECSD is unset
#   ECSD_WRAPPER    command prefix, e.g. "valgrind --error-exitcode=99"
#   ECSD_TEST_KEEP  1: keep the temporary directory
#   ECSD_TEST_URL   test an external daemon; nothing is started
#   ECSD_TEST_DEBUG 1: print every request and response to STDERR
#   ECSD_TEST_PGHOST  the socket directory of a PostgreSQL server (see
#                   tests/pg/pgserver): every daemon started here gets a
#                   fresh database of its own there (store = postgresql),
#                   dropped at the end unless ECSD_TEST_KEEP is set
#   ECSD_TEST_PGUSER  its superuser (default postgres)
#   ECSD_TEST_PGBIN   the directory of psql (default: the newest
#                   /usr/lib/postgresql/*/bin, else PATH)
#
# Only Perl core modules are used.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our $ADMIN_PASSWORD = 'test-admin-pw';
our $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

my @BAD_LOG = (qr/AddressSanitizer/, qr/LeakSanitizer/, qr/runtime error/,
    qr/ERROR SUMMARY: [1-9]/, qr/fatal/i,
    qr/^==\d+== (?:Invalid (?:read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free)/);

# Find the daemon binary.
sub _binary {
	return $ENV{ECSD} if defined $ENV{ECSD} && $ENV{ECSD} ne '';
	my @cand;
	push @cand, File::Spec->catfile($ENV{top_builddir}, 'ecsd', 'ecsd')
	    if defined $ENV{top_builddir} && $ENV{top_builddir} ne '';
	my $here = dirname(abs_path(__FILE__));	# tests/blackbox/lib
	push @cand, File::Spec->catfile($here, '..', '..', '..', 'ecsd', 'ecsd');
	push @cand, File::Spec->catfile('ecsd', 'ecsd');
	push @cand, File::Spec->catfile('..', '..', 'ecsd', 'ecsd');
	for my $c (@cand) {
		return abs_path($c) if -x $c;
	}
	return $cand[0];
}

sub json_encode { return $JSON->encode($_[0]) }
sub json_decode {
	my ($s) = @_;
	return undef unless defined $s && $s =~ /\S/;
	my $v = eval { $JSON->decode($s) };
	return $v;
}

# True when the suite runs against an external daemon.
sub external { return defined $ENV{ECSD_TEST_URL} && $ENV{ECSD_TEST_URL} ne '' }

# ---- PostgreSQL --------------------------------------------------------------

# True when the daemons run on the PostgreSQL server of ECSD_TEST_PGHOST.
sub pg { return defined $ENV{ECSD_TEST_PGHOST} && $ENV{ECSD_TEST_PGHOST} ne '' }

# The backend the daemons started here use.
sub backend { return pg() ? 'postgresql' : 'sqlite' }

sub pg_user { return $ENV{ECSD_TEST_PGUSER} // 'postgres' }

my $PSQL;
sub _psql_bin {
	return $PSQL if defined $PSQL;
	my @dirs;
	push @dirs, $ENV{ECSD_TEST_PGBIN} if $ENV{ECSD_TEST_PGBIN};
	my %v;
	for my $d (glob('/usr/lib/postgresql/*/bin')) {
		$v{$d} = $1 if $d =~ m{/postgresql/(\d+)};
	}
	push @dirs, sort { $v{$b} <=> $v{$a} } keys %v;
	for my $d (@dirs) {
		return $PSQL = "$d/psql" if -x "$d/psql";
	}
	return $PSQL = 'psql';
}

# Run SQL in database $db as the superuser; returns psql's output (rows as
# unaligned text). Dies with psql's message on failure.
sub pg_psql {
	my ($db, $sql) = @_;
	croak 'pg_psql: ECSD_TEST_PGHOST is not set' unless pg();
	my @cmd = (_psql_bin(), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	    '-h', $ENV{ECSD_TEST_PGHOST}, '-U', pg_user(), '-d', $db, '-c', $sql);
	my $pid = open(my $fh, '-|');
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT);
		open(STDIN, '<', '/dev/null');
		exec(@cmd) or POSIX::_exit(127);
	}
	local $/;
	my $out = <$fh> // '';
	close $fh;
	croak "psql -d $db -c '$sql': " . ($? >> 8) . ": $out" if $?;
	return $out;
}

# A libpq connection string for database $db.
sub pg_dsn {
	my ($db) = @_;
	my $dsn = "host=$ENV{ECSD_TEST_PGHOST} dbname=$db user=" . pg_user();
	$dsn .= " port=$ENV{ECSD_TEST_PGPORT}" if $ENV{ECSD_TEST_PGPORT};
	return $dsn;
}

my %PG_DBS;	# database name => pid of the process that made it
my %PG_REFS;	# database name => daemon objects using it
my $PG_SEQ = 0;

# Create an empty database; it is dropped when this process ends (unless
# ECSD_TEST_KEEP). Returns its name.
sub pg_createdb {
	my $name = sprintf('ecsd_t%d_%d_%04x', $$, ++$PG_SEQ, int(rand(65536)));
	pg_psql('postgres', qq{CREATE DATABASE "$name"});
	$PG_DBS{$name} = $$;
	return $name;
}

# Drop a database made by pg_createdb (connections to it are ended).
sub pg_dropdb {
	my ($name) = @_;
	return unless defined $name && ($PG_DBS{$name} // 0) == $$;
	delete $PG_DBS{$name};
	return if $ENV{ECSD_TEST_KEEP};
	eval { pg_psql('postgres', qq{DROP DATABASE IF EXISTS "$name" WITH (FORCE)}) };
	print STDERR "# $@" if $@;
}

# Command-line options (-o ...) that put a daemon started by hand on database
# $db, or on a fresh one; none on SQLite.
sub store_options {
	my ($db) = @_;
	return () unless pg();
	$db //= pg_createdb();
	return ('-o', 'store=postgresql', '-o', 'postgresql_dsn=' . pg_dsn($db));
}

END {
	local ($?, $!, $@);
	pg_dropdb($_) for grep { $PG_DBS{$_} == $$ } keys %PG_DBS;
}

# Ecsd->start(conf => {k => v}, env => {K => V}, args => [...], pg_db => NAME)
# With ECSD_TEST_PGHOST and no store in conf, the daemon gets store =
# postgresql on a fresh database, or on the database pg_db (another
# daemon's $d->pg_db: nodes sharing one database).
sub start {
	my ($class, %opt) = @_;
	my $self = bless {
		conf => { %{ $opt{conf} || {} } },
		env => { %{ $opt{env} || {} } },
		args => [ @{ $opt{args} || [] } ],
		pid => undef,
		gen => 0,
		map => { participants => {}, communities => {}, resources => {},
		    organizations => {} },
		alias => {},
	}, $class;

	if (external()) {
		if (%{ $self->{conf} } || %{ $self->{env} } || @{ $self->{args} }) {
			require Test::More;
			Test::More::plan(skip_all =>
			    'needs config overrides; ECSD_TEST_URL is set');
			exit 0;
		}
		my $u = $ENV{ECSD_TEST_URL};
		$u =~ s{/+$}{};
		$u =~ m{^http://(\[[^\]]+\]|[^/:]+)(?::(\d+))?(/.*)?$}
		    or croak "ECSD_TEST_URL: cannot parse $u";
		my ($h, $p, $prefix) = ($1, $2 || 80, $3 || '');
		$h =~ s/^\[(.*)\]$/$1/;
		@$self{qw(host port prefix external)} = ($h, $p, $prefix, 1);
		$self->{password} = $ENV{ECSD_ADMIN_PASSWORD} // $ADMIN_PASSWORD;
		return $self;
	}

	my $keep = $ENV{ECSD_TEST_KEEP} ? 1 : 0;
	$self->{dir} = tempdir('ecsd-test-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
	$self->{datadir} = "$self->{dir}/data";
	$self->{conffile} = "$self->{dir}/ecsd.conf";
	$self->{logfile} = "$self->{dir}/ecsd.log";
	$self->{prefix} = '';
	$self->{password} = exists $self->{env}{ECSD_ADMIN_PASSWORD}
	    ? $self->{env}{ECSD_ADMIN_PASSWORD} : $ADMIN_PASSWORD;
	print STDERR "# ecsd test dir: $self->{dir}\n" if $keep;

	if (pg() && !exists $self->{conf}{store}) {
		my $db = $opt{pg_db};
		$db = pg_createdb() unless defined $db;
		$self->{pg_db} = $db;
		$PG_REFS{$db}++;
		$self->{conf}{store} = 'postgresql';
		$self->{conf}{postgresql_dsn} = pg_dsn($db);
		print STDERR "# ecsd test database: $db\n" if $keep;
	}
	my %c = (listen => '127.0.0.1:0', datadir => $self->{datadir},
	    %{ $self->{conf} });
	open(my $fh, '>', $self->{conffile}) or croak "$self->{conffile}: $!";
	print $fh "# written by tests/blackbox/lib/Ecsd.pm\n";
	for my $k (sort keys %c) {
		next unless defined $c{$k};
		print $fh "$k = $c{$k}\n";
	}
	close $fh;

	$self->_spawn;
	return $self;
}

sub _spawn {
	my ($self) = @_;
	my @cmd = (_binary(), '-c', $self->{conffile}, @{ $self->{args} });
	if (defined $ENV{ECSD_WRAPPER} && $ENV{ECSD_WRAPPER} =~ /\S/) {
		unshift @cmd, split(' ', $ENV{ECSD_WRAPPER});
	}
	croak "ecsd binary not found or not executable: $cmd[-3 - @{ $self->{args} }]"
	    unless -x _binary();

	my $logoff = -s $self->{logfile} || 0;
	my $pid = fork();
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $self->{logfile}) or POSIX::_exit(127);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
		$ENV{ECSD_ADMIN_PASSWORD} = $ADMIN_PASSWORD;
		for my $k (keys %{ $self->{env} }) {
			if (defined $self->{env}{$k}) {
				$ENV{$k} = $self->{env}{$k};
			} else {
				CORE::delete $ENV{$k};
			}
		}
		exec(@cmd) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	$self->{gen}++;

	my $deadline = time + 15;
	while (time < $deadline) {
		if (open(my $lf, '<', $self->{logfile})) {
			seek($lf, $logoff, 0);
			local $/;
			my $text = <$lf> // '';
			close $lf;
			if ($text =~ /ready http=(\S+)/) {
				my $hp = $1;
				if ($hp =~ /^\[([^\]]+)\]:(\d+)$/ || $hp =~ /^([^:]+):(\d+)$/) {
					($self->{host}, $self->{port}) = ($1, $2);
					return $self;
				}
				croak "cannot parse ready line: $hp";
			}
		}
		my $w = waitpid($pid, WNOHANG);
		if ($w == $pid) {
			$self->{pid} = undef;
			$self->{status} = $?;
			croak "ecsd exited before ready (status " . ($? >> 8) .
			    "):\n" . $self->log;
		}
		sleep 0.05;
	}
	kill 'KILL', $pid;
	waitpid($pid, 0);
	$self->{pid} = undef;
	croak "ecsd not ready within 15 s:\n" . $self->log;
}

sub host { $_[0]{host} }
sub port { $_[0]{port} }
# The PostgreSQL database of this daemon (undef on SQLite).
sub pg_db { $_[0]{pg_db} }
sub dir { $_[0]{dir} }

# Run SQL on the daemon's database (psql or sqlite3); its output.
sub sql {
	my ($self, $sql) = @_;
	return pg_psql($self->{pg_db}, $sql) if $self->{pg_db};
	my $db = $self->datadir . '/ecsd.db';
	my $pid = open(my $fh, '-|');
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		exec('sqlite3', '-cmd', '.timeout 10000', $db, $sql) or POSIX::_exit(127);
	}
	local $/;
	my $out = <$fh> // '';
	close $fh or croak "sqlite3 $db: $?";
	return $out;
}
sub datadir { $_[0]{datadir} }
sub password { $_[0]{password} }
sub running { defined $_[0]{pid} }

# The URL prefix, e.g. http://127.0.0.1:40931
sub base {
	my ($self) = @_;
	my $h = $self->{host};
	$h = "[$h]" if $h =~ /:/;
	return "http://$h:$self->{port}$self->{prefix}";
}

# The whole log (since the temp dir was made).
sub log {
	my ($self) = @_;
	return '' unless defined $self->{logfile};
	open(my $lf, '<', $self->{logfile}) or return '';
	local $/;
	my $t = <$lf> // '';
	close $lf;
	return $t;
}

# Lines of the log matching the pattern (count in scalar context).
sub loggrep {
	my ($self, $re, $timeout) = @_;
	my $deadline = time + ($timeout // 0);
	while (1) {
		my @l = grep { $_ =~ $re } split /\n/, $self->log;
		return wantarray ? @l : scalar(@l) if @l || time >= $deadline;
		sleep 0.05;
	}
}

# Log lines that indicate sanitizer/valgrind complaints or fatal errors.
sub bad_log_lines {
	my ($self) = @_;
	my @bad;
	for my $l (split /\n/, $self->log) {
		push @bad, $l if grep { $l =~ $_ } @BAD_LOG;
	}
	return @bad;
}

# SIGTERM, wait up to 10 s (then SIGKILL). Returns the exit status
# ($? >> 8; 128+signal if killed by a signal), undef if not running.
sub stop {
	my ($self, $sig) = @_;
	return undef if $self->{external};
	my $pid = $self->{pid};
	return $self->{exit} unless defined $pid;
	$self->_drop_clients;
	kill($sig // 'TERM', $pid);
	my $deadline = time + 10;
	my $w = 0;
	while (time < $deadline) {
		$w = waitpid($pid, WNOHANG);
		last if $w == $pid;
		sleep 0.05;
	}
	if ($w != $pid) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
		$self->{timed_out} = 1;
	}
	my $st = $?;
	$self->{pid} = undef;
	$self->{exit} = ($st & 127) ? 128 + ($st & 127) : $st >> 8;
	$self->{exit} = 124 if $self->{timed_out};
	return $self->{exit};
}

# stop() plus the standard assertions: exit status 0, clean log.
sub stop_ok {
	my ($self, $name) = @_;
	require Test::More;
	if ($self->{external}) {
		Test::More::pass('external daemon: not stopped');
		return 1;
	}
	my $st = $self->stop;
	my $ok = Test::More::is($st, 0, ($name // 'ecsd') . ' exits 0 after SIGTERM');
	my @bad = $self->bad_log_lines;
	$ok &= Test::More::ok(!@bad, ($name // 'ecsd') . ' log is clean')
	    or Test::More::diag(join("\n", @bad[0 .. ($#bad < 20 ? $#bad : 20)]));
	return $ok;
}

sub kill9 {
	my ($self) = @_;
	return if $self->{external} || !defined $self->{pid};
	$self->_drop_clients;
	kill 'KILL', $self->{pid};
	waitpid($self->{pid}, 0);
	$self->{pid} = undef;
	$self->{exit} = 137;
}

# Stop (if running) and start again with the same directory and config.
# The port may change; clients made earlier follow the daemon.
sub restart {
	my ($self) = @_;
	croak 'restart needs a local daemon' if $self->{external};
	my $st;
	$st = $self->stop if defined $self->{pid};
	$self->_spawn;
	return $st;
}

sub _drop_clients { $_[0]{gen}++ }

sub DESTROY {
	my ($self) = @_;
	local ($?, $!, $@);
	if (defined $self->{pid} && !$self->{external}) {
		kill 'TERM', $self->{pid};
		my $deadline = time + 10;
		while (time < $deadline) {
			last if waitpid($self->{pid}, WNOHANG) == $self->{pid};
			sleep 0.05;
		}
		kill 'KILL', $self->{pid};
		waitpid($self->{pid}, WNOHANG);
		$self->{pid} = undef;
	}
	# The last daemon object of a database made here drops it.
	my $db = $self->{pg_db};
	if (defined $db && --$PG_REFS{$db} <= 0) {
		delete $PG_REFS{$db};
		pg_dropdb($db);
	}
}

# ---- clients ---------------------------------------------------------------

# A client without credentials.
sub client {
	my ($self, %hdr) = @_;
	return Ecsd::Client->new($self, {%hdr});
}

# A client that sends X-EcsAuthId: $authid (or, for a fixture alias such as
# "P1", that participant's first auth id).
sub as {
	my ($self, $who) = @_;
	my $id = $who;
	if (exists $self->{alias}{$who}) {
		my $p = $self->{map}{participants}{ $self->{alias}{$who} };
		$id = $p->{auth_ids}[0] if $p && @{ $p->{auth_ids} || [] };
	}
	return Ecsd::Client->new($self, { 'X-EcsAuthId' => $id });
}

# A client with HTTP Basic admin:<password>.
sub admin {
	my ($self, $pw) = @_;
	$pw //= $self->{password};
	return Ecsd::Client->new($self,
	    { Authorization => 'Basic ' . encode_base64("admin:$pw", '') });
}

# Shortcuts through a credential-less client on its own connection.
for my $m (qw(get post put delete head request raw)) {
	no strict 'refs';
	*{"Ecsd::$m"} = sub {
		my $self = shift;
		$self->{anon} ||= $self->client;
		return $self->{anon}->$m(@_);
	};
}

# ---- provisioning ------------------------------------------------------------

# POST /admin/apply, then refresh the name maps. Dies on failure.
sub setup {
	my ($self, $doc) = @_;
	my $a = $self->admin;
	my $r = $a->post('/admin/apply', json => $doc);
	croak "POST /admin/apply: $r->{status} $r->{body}" unless $r->{status} == 200;
	$self->refresh_map;
	return $self->{map};
}

# Rebuild {participants => {name => {pid, mids => {community => mid},
# auth_ids, organization_id, ...}}, communities => {name => cid},
# resources => {"ns/name" => id}, organizations => {name => {id, abbr}}}.
sub refresh_map {
	my ($self) = @_;
	my $a = $self->admin;
	my %m;
	for my $what (qw(organizations communities resources participants)) {
		my $r = $a->get("/admin/$what");
		croak "GET /admin/$what: $r->{status} $r->{body}"
		    unless $r->{status} == 200 && ref $r->{json} eq 'ARRAY';
		$m{$what} = $r->{json};
	}
	my %cname = map {; $_->{id} => $_->{name} } @{ $m{communities} };
	my $map = {
		organizations => { map {; $_->{name} => { id => $_->{id}, abbr => $_->{abbr} } }
		    @{ $m{organizations} } },
		communities => { map {; $_->{name} => $_->{id} } @{ $m{communities} } },
		resources => { map {; "$_->{namespace}/$_->{name}" => $_->{id} }
		    @{ $m{resources} } },
		participants => {},
	};
	for my $p (@{ $m{participants} }) {
		my %mids;
		for my $ms (@{ $p->{memberships} || [] }) {
			my $cn = $cname{ $ms->{community_id} } // $ms->{community_id};
			$mids{$cn} = $ms->{mid};
		}
		$map->{participants}{ $p->{name} } = { %$p, pid => $p->{id},
		    mids => \%mids };
	}
	$self->{map} = $map;
	return $map;
}

sub names { $_[0]{map} }

sub _pname {
	my ($self, $who) = @_;
	my $n = exists $self->{alias}{$who} ? $self->{alias}{$who} : $who;
	croak "unknown participant $who" unless $self->{map}{participants}{$n};
	return $n;
}

# pid of a participant (name or fixture alias)
sub pid { my ($s, $w) = @_; return $s->{map}{participants}{ $s->_pname($w) }{pid} }

# mid of participant $who in community $c (name); undef if not a member
sub mid {
	my ($s, $w, $c) = @_;
	return $s->{map}{participants}{ $s->_pname($w) }{mids}{$c};
}

# cid of a community name
sub cid {
	my ($s, $c) = @_;
	croak "unknown community $c" unless exists $s->{map}{communities}{$c};
	return $s->{map}{communities}{$c};
}

# First auth id of a participant.
sub authid { my ($s, $w) = @_; return $s->{map}{participants}{ $s->_pname($w) }{auth_ids}[0] }

our %SPEC_NAMES = (
	P1 => 'Ilias Uni Stuttgart',
	P2 => 'Ilias Uni Ulm',
	P3 => 'Computation client',
	P4 => 'Teacher client',
);

# The example fixture of ecs-protocol.md.
sub spec_doc {
	my $S = "Universit\x{e4}t Stuttgart";
	my $U = "Universit\x{e4}t Ulm";
	return {
		organizations => [
			{ name => $S, abbr => 'S', description => 'Stuttgart' },
			{ name => $U, abbr => 'U', description => 'Ulm' },
		],
		communities => [
			{ name => 'SUV', description => "S\x{fc}ddeutscher Uni-Verbund" },
			{ name => 'WUV', description => 'Westdeutscher Uni-Verbund' },
		],
		resources => [
			{ namespace => 'numlab', name => 'exercises', postroute => JSON::PP::true, events => JSON::PP::true },
			{ namespace => 'numlab', name => 'results', postroute => JSON::PP::false, events => JSON::PP::true },
			{ namespace => 'numlab', name => 'solutions', postroute => JSON::PP::false, events => JSON::PP::true },
			{ namespace => 'cc', name => 'course', postroute => JSON::PP::false, events => JSON::PP::true },
		],
		participants => [
			{ name => $SPEC_NAMES{P1}, description => 'Zentrale Lernplattform',
			  dns => 'ilias3.uni-stuttgart.de', email => 'klaus.vorkauf@uni-stuttgart.de',
			  organization => $S, community_selfrouting => JSON::PP::false,
			  events => JSON::PP::true, auth_ids => ['my_secret_identity', 'myid'],
			  communities => ['SUV', 'WUV', 'public'] },
			{ name => $SPEC_NAMES{P2}, description => 'Zentrale Lernplattform',
			  dns => 'ilias3.uni-ulm.de', email => 'matthias.schneiderhahn@uni-ulm.de.de',
			  organization => $U, community_selfrouting => JSON::PP::false,
			  events => JSON::PP::true, auth_ids => ['ulama'],
			  communities => ['WUV', 'SUV'] },
			{ name => $SPEC_NAMES{P3}, description => 'Numlab computation',
			  dns => 'numlab.uni-stuttgart.de', email => 'numlab@uni-stuttgart.de',
			  organization => $S, community_selfrouting => JSON::PP::false,
			  events => JSON::PP::true, auth_ids => ['sunito'],
			  communities => ['public'] },
			{ name => $SPEC_NAMES{P4}, description => 'Numlab teacher',
			  dns => 'teacher.uni-stuttgart.de', email => 'teacher@uni-stuttgart.de',
			  organization => $S, community_selfrouting => JSON::PP::false,
			  events => JSON::PP::true, auth_ids => ['trulane'],
			  communities => ['public'] },
		],
	};
}

# Provision the spec fixture; aliases P1..P4 work with pid/mid/as/authid.
sub fixture_spec {
	my ($self) = @_;
	$self->setup(spec_doc());
	$self->{alias}{$_} = $SPEC_NAMES{$_} for keys %SPEC_NAMES;
	return $self->{map};
}

# ---- small helpers for tests -------------------------------------------------

# A raw TCP connection to the daemon, autoflushed; dies if it cannot connect.
sub raw_socket {
	my ($s) = @_;
	my $c = IO::Socket::IP->new(PeerHost => $s->host, PeerPort => $s->port,
	    Type => SOCK_STREAM) or die "connect: $!";
	$c->autoflush(1);
	return $c;
}

# Id at the end of a Location header (undef if none).
sub loc_id {
	my ($r) = @_;
	my $l = ref $r ? $r->{headers}{location} : $r;
	return undef unless defined $l && $l =~ m{/(\d+)$};
	return $1;
}

# ---- the HTTP client ---------------------------------------------------------

package Ecsd::Client;

use strict;
use warnings;
use Carp qw(croak);
use IO::Socket::IP;
use IO::Select;
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Time::HiRes qw(time);

our $TIMEOUT = 30;

sub new {
	my ($class, $d, $hdr) = @_;
	return bless { d => $d, hdr => $hdr, sock => undef, gen => -1 }, $class;
}

# A copy of this client with extra default headers (own connection).
sub with_headers {
	my ($self, %h) = @_;
	return Ecsd::Client->new($self->{d}, { %{ $self->{hdr} }, %h });
}

# A copy of this client on a new connection.
sub fresh { my ($self) = @_; return Ecsd::Client->new($self->{d}, { %{ $self->{hdr} } }) }

sub close {
	my ($self) = @_;
	if ($self->{sock}) {
		$self->{sock}->close;
		$self->{sock} = undef;
	}
}

# Number of TCP connections this client opened so far.
sub connections { $_[0]{nconn} // 0 }

sub _connect {
	my ($self) = @_;
	my $d = $self->{d};
	my $s = IO::Socket::IP->new(PeerHost => $d->{host}, PeerPort => $d->{port},
	    Proto => 'tcp', Timeout => 10)
	    or croak "connect $d->{host}:$d->{port}: $@";
	$s->autoflush(1);
	binmode $s;
	$self->{sock} = $s;
	$self->{gen} = $d->{gen};
	$self->{rbuf} = '';
	$self->{nconn}++;
	return $s;
}

sub get { my $s = shift; return $s->request('GET', @_) }
sub post { my $s = shift; return $s->request('POST', @_) }
sub put { my $s = shift; return $s->request('PUT', @_) }
sub delete { my $s = shift; return $s->request('DELETE', @_) }
sub head { my $s = shift; return $s->request('HEAD', @_) }

# request(METHOD, PATH, %opt)
#   headers => {...} or [name => value, ...]  extra request headers (undef value: omit
#              a default header such as X-EcsAuthId)
#   body    => bytes            json => ref (encoded, Content-Type application/json)
#   ctype   => Content-Type     chunked => 1 (send the body chunked; or [sizes])
#   expect  => 1 (Expect: 100-continue; wait for the interim answer first)
#   fresh   => 1 (new connection)   close => 1 (Connection: close)
#   no_length => 1 (no Content-Length for an empty body)
#   timeout => seconds
# Returns {status, reason, version, headers => {lc name => value},
#   raw_headers => [[name, value], ...], body, json, chunked, interim => [...],
#   continue_s (seconds until the 100 Continue), elapsed}
sub request {
	my ($self, $method, $path, %o) = @_;
	my $d = $self->{d};
	my ($head, $payload) = $self->_build($method, $path, %o);

	$self->close if $o{fresh} || ($self->{sock} && $self->{gen} != $d->{gen});
	my $reused = $self->{sock} ? 1 : 0;
	my $res;
	for my $attempt (1, 2) {
		$self->_connect unless $self->{sock};
		$res = eval { $self->_exchange($method, $head, $payload, %o) };
		last if $res;
		my $err = $@;
		$self->close;
		# A keep-alive connection the server closed meanwhile: retry once.
		if ($reused && $attempt == 1 && $err =~ /^(EOF before response|write)/) {
			$reused = 0;
			next;
		}
		croak "$method $path: $err";
	}
	$self->_finish($res, $head, $payload, %o);
	return $res;
}

# Write a request on a new connection of this client without reading the
# answer (for concurrency tests); collect it with finish_request.
sub start_request {
	my ($self, $method, $path, %o) = @_;
	my ($head, $payload) = $self->_build($method, $path, %o);
	$self->close;
	$self->_connect;
	$self->_write($head . $payload);
	$self->{pending} = [$method, $head, $payload, %o];
	return $self;
}

sub finish_request {
	my ($self) = @_;
	my ($method, $head, $payload, %o) = @{ delete $self->{pending} or croak 'no pending request' };
	my $res = eval { $self->_exchange($method, '', '', %o, read_only => 1) };
	croak "$method: $@" unless $res;
	$self->_finish($res, $head, $payload, %o);
	return $res;
}

sub _finish {
	my ($self, $res, $head, $payload, %o) = @_;
	if (($res->{headers}{connection} // '') =~ /close/i || $res->{until_close} || $o{close}) {
		$self->close;
	}
	if ($ENV{ECSD_TEST_DEBUG}) {
		print STDERR "# >> $head" . (length $payload < 2000 ? $payload : '[...]') . "\n";
		print STDERR "# << $res->{status}\n" .
		    join('', map { "#    $_->[0]: $_->[1]\n" } @{ $res->{raw_headers} }) .
		    "#    " . ($res->{body} // '') . "\n";
	}
}

sub _build {
	my ($self, $method, $path, %o) = @_;
	my $d = $self->{d};
	$path = $d->{prefix} . $path if $d->{prefix};

	my @h;
	my %seen;
	my $extra = $o{headers} || {};
	my @extra = ref $extra eq 'ARRAY' ? @$extra : map { ($_ => $extra->{$_}) } sort keys %$extra;
	for (my $i = 0; $i < @extra; $i += 2) {
		$seen{ lc $extra[$i] } = 1;
	}
	my $hostport = $d->{host} =~ /:/ ? "[$d->{host}]:$d->{port}" : "$d->{host}:$d->{port}";
	push @h, ['Host', $hostport] unless $seen{host};
	for my $k (sort keys %{ $self->{hdr} }) {
		push @h, [$k, $self->{hdr}{$k}] unless $seen{ lc $k };
	}
	my $body = $o{body};
	if (exists $o{json}) {
		$body = Ecsd::json_encode($o{json});
		push @h, ['Content-Type', $o{ctype} // 'application/json'] unless $seen{'content-type'};
	} elsif (defined $o{ctype} && !$seen{'content-type'}) {
		push @h, ['Content-Type', $o{ctype}];
	}
	for (my $i = 0; $i < @extra; $i += 2) {
		push @h, [$extra[$i], $extra[$i + 1]] if defined $extra[$i + 1];
	}
	my $chunked = $o{chunked};
	if ($chunked) {
		push @h, ['Transfer-Encoding', 'chunked'] unless $seen{'transfer-encoding'};
	} elsif (!$seen{'content-length'}) {
		if (defined $body) {
			push @h, ['Content-Length', length $body];
		} elsif (($method eq 'POST' || $method eq 'PUT') && !$o{no_length}) {
			push @h, ['Content-Length', 0];
		}
	}
	push @h, ['Expect', '100-continue'] if $o{expect} && !$seen{expect};
	push @h, ['Connection', 'close'] if $o{close} && !$seen{connection};

	my $head = "$method $path HTTP/1.1\r\n" .
	    join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
	my $payload = '';
	if (defined $body) {
		if ($chunked) {
			my @sizes = ref $chunked eq 'ARRAY' ? @$chunked : (7);
			my $rest = $body;
			my $i = 0;
			while (length $rest) {
				my $n = $sizes[$i++ % @sizes] || 1;
				my $c = substr($rest, 0, $n, '');
				$payload .= sprintf("%x\r\n%s\r\n", length $c, $c);
			}
		} else {
			$payload = $body;
		}
	}
	$payload .= "0\r\n\r\n" if $chunked;
	return ($head, $payload);
}

# Send raw bytes on a new connection and read one response.
# raw($bytes, method => 'GET' (for body rules), timeout => s)
sub raw {
	my ($self, $bytes, %o) = @_;
	$self->close;
	$self->_connect;
	my $res = eval { $self->_exchange($o{method} // 'GET', $bytes, '', %o) };
	my $err = $@;
	$self->close;
	croak "raw: $err" unless $res;
	return $res;
}

sub _write {
	my ($self, $data) = @_;
	my $s = $self->{sock};
	local $SIG{PIPE} = 'IGNORE';
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($s, $data, length($data) - $off, $off);
		if (!defined $n) {
			next if $! == EINTR || $! == EAGAIN;
			# The server may answer (413, ...) and close before it
			# read everything: keep going and read its answer.
			die "write: $!\n" if $off == 0 && !$self->{in_body};
			$self->{write_failed} = "$!";
			return 0;
		}
		$off += $n;
	}
}

# Read more bytes into rbuf; returns bytes read, 0 on EOF, dies on timeout.
sub _fill {
	my ($self, $deadline, $nodie) = @_;
	my $sel = IO::Select->new($self->{sock});
	while (1) {
		my $left = $deadline - time;
		if ($left <= 0) {
			return -1 if $nodie;
			die "timeout\n";
		}
		my @r = $sel->can_read($left);
		next unless @r;
		my $n = sysread($self->{sock}, my $buf, 65536);
		if (!defined $n) {
			next if $! == EINTR || $! == EAGAIN;
			return 0;	# ECONNRESET and friends count as EOF
		}
		$self->{rbuf} .= $buf;
		return $n;
	}
}

sub _read_head {
	my ($self, $deadline) = @_;
	while ($self->{rbuf} !~ /\r?\n\r?\n/) {
		my $n = $self->_fill($deadline);
		if ($n == 0) {
			die(length $self->{rbuf} ? "EOF in response header\n" :
			    "EOF before response\n");
		}
	}
	$self->{rbuf} =~ s/^(.*?)\r?\n\r?\n//s;
	my @lines = split /\r?\n/, $1;
	my $sl = shift @lines;
	$sl =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$} or die "bad status line: $sl\n";
	my %res = (version => $1, status => $2 + 0, reason => $3 // '',
	    status_line => $sl, raw_headers => [], headers => {});
	for my $l (@lines) {
		if ($l =~ /^[ \t]/ && @{ $res{raw_headers} }) {
			$res{raw_headers}[-1][1] .= " $l";
			next;
		}
		my ($n, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or die "bad header: $l\n";
		push @{ $res{raw_headers} }, [$n, $v];
	}
	for my $h (@{ $res{raw_headers} }) {
		my $k = lc $h->[0];
		$res{headers}{$k} = exists $res{headers}{$k} ? "$res{headers}{$k}, $h->[1]" : $h->[1];
		$res{count}{$k}++;
	}
	return \%res;
}

sub _read_n {
	my ($self, $n, $deadline) = @_;
	while (length $self->{rbuf} < $n) {
		$self->_fill($deadline) or die "EOF in body\n";
	}
	return substr($self->{rbuf}, 0, $n, '');
}

sub _read_line {
	my ($self, $deadline) = @_;
	while ($self->{rbuf} !~ /\n/) {
		$self->_fill($deadline) or die "EOF in chunked body\n";
	}
	$self->{rbuf} =~ s/^(.*?)\r?\n//;
	return $1;
}

sub _exchange {
	my ($self, $method, $head, $payload, %o) = @_;
	my $t0 = time;
	my $deadline = $t0 + ($o{timeout} // $TIMEOUT);
	my @interim;
	my $cont_s;
	my $res;
	$self->{write_failed} = undef;
	$self->{in_body} = 0;

	$self->_write($head) if length $head;
	if ($o{read_only}) {
		# request already written by start_request
	} elsif ($o{expect} && length $payload) {
		# Wait (like libcurl, 1 s) for 100 Continue or an early final answer.
		my $wait = $o{expect_wait} // 1;
		my $wend = $t0 + $wait;
		while ($self->{rbuf} !~ /\r?\n\r?\n/) {
			my $n = $self->_fill($wend, 1);
			last if $n <= 0;
		}
		if ($self->{rbuf} =~ /\r?\n\r?\n/) {
			my $r = $self->_read_head($deadline);
			if ($r->{status} == 100) {
				$cont_s = time - $t0;
				push @interim, $r;
				$self->{in_body} = 1;
				$self->_write($payload);
			} else {
				$res = $r;	# early final answer; body not sent
				$res->{body_not_sent} = 1;
			}
		} else {
			$self->{in_body} = 1;
			$self->_write($payload);
		}
	} elsif (length $payload) {
		$self->{in_body} = 1;
		$self->_write($payload);
	}

	until ($res) {
		my $r = $self->_read_head($deadline);
		if ($r->{status} >= 100 && $r->{status} < 200 && $r->{status} != 101) {
			push @interim, $r;
			$cont_s //= time - $t0 if $r->{status} == 100;
			next;
		}
		$res = $r;
	}

	my $h = $res->{headers};
	my $body = '';
	if ($method eq 'HEAD' || $res->{status} == 204 || $res->{status} == 304) {
		$body = '';
	} elsif (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
		$res->{chunked} = 1;
		while (1) {
			my $l = $self->_read_line($deadline);
			my ($sz) = $l =~ /^([0-9a-fA-F]+)/ or die "bad chunk size: $l\n";
			$sz = hex $sz;
			if ($sz == 0) {
				while (length(my $t = $self->_read_line($deadline))) { }
				last;
			}
			$body .= $self->_read_n($sz, $deadline);
			$self->_read_n(2, $deadline);
		}
	} elsif (defined $h->{'content-length'}) {
		my $n = $h->{'content-length'};
		$n =~ s/,.*//;
		$body = $self->_read_n($n + 0, $deadline) if $n > 0;
	} else {
		while ($self->_fill($deadline)) { }
		$body = $self->{rbuf};
		$self->{rbuf} = '';
		$res->{until_close} = 1;
	}
	$res->{method} = $method;
	$res->{write_failed} = $self->{write_failed} if $self->{write_failed};
	$res->{body} = $body;
	$res->{json} = Ecsd::json_decode($body);
	$res->{interim} = \@interim;
	$res->{continue_s} = $cont_s;
	$res->{elapsed} = time - $t0;
	return $res;
}

1;
