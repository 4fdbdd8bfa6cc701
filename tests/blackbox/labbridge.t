#!/usr/bin/perl
# labbridge: the lms4labs LabManager plugin hosted by ecsd ([plugin
# labbridge]) against the reference RLMS (tests/rlms/rlms-ref.pl).
# Reservations over ECS messages and over the classic HTTP endpoint, the
# one-touch token of a grant, the classic error texts, limit merging,
# configuration by message, the course list and the audit log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use JSON::PP ();
use Ecsd;

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $src = $ENV{top_srcdir} // "$FindBin::Bin/../..";
my $HOST = "$top/tools/ecc-host";
my $SO = "$top/plugins/labbridge/labbridge.so";
my $RLMS = "$src/tests/rlms/rlms-ref.pl";
plan skip_all => "$HOST not built" unless -x $HOST;
plan skip_all => "$SO not built" unless -f $SO;

my $J = JSON::PP->new->utf8->canonical;
my $TMP = tempdir('labbridge-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my %ERR = (
	permission => 'error:Your LMS does not have permission to use that ' .
	    'laboratory or that identifier does not exist',
	enrolled => 'error:Your LMS has permission to use that laboratory; ' .
	    'but you are not enrolled in any course with permissions to use it',
	payload => 'error: the request payload is not a valid JSON request',
	unsupported => 'Unsupported operation',
	invalid => 'Invalid response',
	json => 'Could not process JSON data',
	rlms => 'error:The remote laboratory could not be reserved',
);

# ---- the reference RLMS ------------------------------------------------------

my $rlms_log = "$TMP/rlms.log";
my $rlms_pid = fork();
die "fork: $!" unless defined $rlms_pid;
if ($rlms_pid == 0) {
	open(STDIN, '<', '/dev/null');
	open(STDOUT, '>', "$TMP/rlms.out");
	open(STDERR, '>&', \*STDOUT);
	exec($^X, $RLMS, '--login', 'bridge', '--password', 'rlms-secret',
	    '--port-file', "$TMP/rlms.port", '--log', $rlms_log)
	    or POSIX::_exit(127);
}
my $deadline = time + 10;
sleep 0.05 until -s "$TMP/rlms.port" || time > $deadline;
open(my $pf, '<', "$TMP/rlms.port") or BAIL_OUT('rlms-ref did not start');
chomp(my $rlms_port = <$pf>);
close $pf;
END {
	local $?;
	if ($rlms_pid) { kill 'TERM', $rlms_pid; waitpid($rlms_pid, 0) }
}

# ---- configuration -------------------------------------------------------------

# An RLMS that never answers: its calls are still pending at shutdown.
my $stall = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
    Listen => 5) or die "listen: $@";
my $stall_port = $stall->sockport;

sub config_doc {
	my (%extra) = @_;
	my @slow = $extra{slow} ? ({ name => 'slow', kind => 'http',
	    url => "http://127.0.0.1:$stall_port", timeout => 300,
	    lab_participant => 'labside' }) : ();
	my @slowperm = $extra{slow} ? ({ identifier => 'slowlab',
	    rlms => 'slow', laboratory => 'x', courses => [
	    { course => 'c1' } ] }) : ();
	return {
		admin => 'labadmin',
		rlms => [ { name => 'ref', kind => 'http',
		    url => "http://127.0.0.1:$rlms_port/",
		    login => 'bridge', password => 'rlms-secret',
		    context_id => 'ecsd-test', lab_participant => 'labside' },
		    @slow ],
		lms => [
			{ name => 'lms1', login => 'lms1', password => 'pw1',
			  institution => 'Uni One',
			  permissions => [
				{ identifier => 'robot', rlms => 'ref',
				  laboratory => 'robot-arm@Robot experiments',
				  time => 600, priority => 3,
				  courses => [
					{ course => 'c1', time => 300, priority => 5 },
					{ course => 'c2', time => 900, priority => 7 },
					{ course => 'c3', time => 100, priority => 1 },
				  ] },
				{ identifier => 'pendulum', rlms => 'ref',
				  laboratory => 'pendulum@Physics' },
				{ identifier => 'ghost', rlms => 'ref',
				  laboratory => 'ghost@Nowhere',
				  courses => [ { course => 'c1' } ] },
				@slowperm,
			  ] },
			{ name => 'lms2', login => 'lms2', password => 'pw2',
			  permissions => [ @{ $extra{lms2} || [] } ] },
		],
	};
}

open(my $cf, '>', "$TMP/labbridge.json") or die;
print $cf $J->encode(config_doc(slow => 1));
close $cf;

my $d = Ecsd->start(conf => {
	plugin_host => $HOST,
	'plugin labbridge.path' => $SO,
	'plugin labbridge.communities' => 'labs',
	'plugin labbridge.config' => "$TMP/labbridge.json",
	'plugin labbridge.listen' => '127.0.0.1:0',
	'plugin labbridge.admin' => 'labadmin',
});
$d->setup({
	organizations => [ { name => 'Labs', abbr => 'L', description => '' } ],
	communities => [ { name => 'labs', description => 'lms4labs' } ],
	participants => [ map { { name => $_, description => '', dns => '',
	    email => '', organization => 'Labs', events => JSON::PP::true,
	    community_selfrouting => JSON::PP::false, auth_ids => ["$_-id"],
	    communities => ['labs'] } }
	    qw(lms1 lms2 labside labadmin outsider) ],
});
my $bridge = $d->mid('plugin-labbridge', 'labs');
ok($bridge, 'the bridge is a member of community labs');

my ($ready) = $d->loggrep(qr/classic endpoint listening on 127\.0\.0\.1:\d+/,
    15);
my ($http_port) = ($ready // '') =~ /:(\d+)$/;
ok($http_port, 'the classic endpoint reports its port');
ok(scalar($d->loggrep(qr/rlms ref: valid$/, 15)),
    'the RLMS passed its self test');
ok(scalar($d->loggrep(qr/rlms ref: 2 laboratories$/, 15)),
    'the laboratories of the RLMS were listed');
ok(scalar($d->loggrep(qr/identifier ghost: laboratory ghost\@Nowhere not offered/, 5)),
    'a permission on a laboratory the RLMS lacks is reported');

my %C = map { $_ => $d->as("$_-id") } qw(lms1 lms2 labside labadmin outsider);

# Pop the next message of a resource for a client, waiting up to 15 s.
sub pop_msg {
	my ($c, $res) = @_;
	my $until = time + 15;
	while (time < $until) {
		my $r = $c->post("/$res/fifo");
		return $r->{json} // $r->{body} if $r->{status} == 200 &&
		    length($r->{body} // '');
		sleep 0.1;
	}
	return undef;
}

sub body {
	my (%o) = @_;
	my $payload = exists $o{payload} ? $o{payload} :
	    $J->encode({ action => 'reserve', experiment => $o{exp} });
	return { 'user-id' => $o{user} // 'alice',
	    'full-name' => 'Alice Example', 'is-admin' => $o{admin} ?
	    JSON::PP::true : JSON::PP::false, 'user-agent' => 'test-agent',
	    'origin-ip' => '192.0.2.7', referer => 'http://lms.example/',
	    courses => $o{courses} // {}, 'request-payload' => $payload };
}

# A reservation request over ECS; the reservations message answering it.
sub ask_ecs {
	my ($who, $b) = @_;
	my $r = $C{$who}->post('/lms4labs/requests', ref $b ? (json => $b) :
	    (body => $b, ctype => 'application/json'),
	    headers => { 'X-EcsReceiverMemberships' => $bridge });
	is($r->{status}, 201, "$who posts a request") or diag($r->{body});
	my $a = pop_msg($C{$who}, 'lms4labs/reservations');
	$a->{_id} = Ecsd::loc_id($r) if ref $a;
	return $a;
}

# The same request to the classic endpoint; the plain-text answer.
sub ask_http {
	my ($login, $pw, $b, %o) = @_;
	my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1',
	    PeerPort => $http_port, Timeout => 10) or die "connect: $@";
	my $text = ref $b ? $J->encode($b) : $b;
	my $path = $o{path} // '/lms4labs/labmanager/requests/';
	print $s "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n" .
	    (defined $login ? 'Authorization: Basic ' .
	    encode_base64("$login:$pw", '') . "\r\n" : '') .
	    "Content-Type: application/json\r\nContent-Length: " .
	    length($text) . "\r\nConnection: close\r\n\r\n$text";
	local $/;
	my $raw = <$s> // '';
	close $s;
	my ($head, $body) = split /\r\n\r\n/, $raw, 2;
	my ($status) = ($head // '') =~ /^HTTP\/1\.\d (\d+)/;
	return { status => $status // 0, head => $head // '',
	    body => $body // '' };
}

# ---- work left in flight at shutdown --------------------------------------------

# Reservations on the RLMS that never answers, one over ECS and one over
# HTTP whose client goes away, and the discovery of that RLMS stay pending
# (also after the admin replaces the configuration below); nothing of this
# may leak or crash when ecsd stops the plugin.
my $r = $C{lms1}->post('/lms4labs/requests', json => body(exp => 'slowlab',
    courses => { c1 => 's' }),
    headers => { 'X-EcsReceiverMemberships' => $bridge });
is($r->{status}, 201, 'a request for the stalled RLMS');
my $gone = IO::Socket::IP->new(PeerHost => '127.0.0.1',
    PeerPort => $http_port) or die "connect: $@";
my $gb = $J->encode(body(exp => 'slowlab', courses => { c1 => 's' }));
print $gone "POST /labmanager/requests/ HTTP/1.1\r\nHost: x\r\n" .
    'Authorization: Basic ' . encode_base64('lms1:pw1', '') . "\r\n" .
    'Content-Length: ' . length($gb) . "\r\n\r\n$gb";
sleep 0.3;
close $gone;

# ---- a permitted student -------------------------------------------------------

my $a = ask_ecs('lms1', body(exp => 'robot', courses => { c1 => 's' }));
ok(ref $a && !exists $a->{error}, 'a permitted student is granted')
    or diag(explain($a));
like($a->{url}, qr{^http://127\.0\.0\.1:$rlms_port/lab/robot-arm%40Robot%20experiments\?reservation=res-\d+&user=alice&time=300&priority=5&ecs_hash=[0-9a-f]{40}$},
    'the answer is the lab URL with the token hash');
is($a->{answer}, $a->{url}, 'the classic answer is the URL');
is($a->{request}, $a->{_id}, 'the answer names the request');
is($a->{time}, 300, 'time of the only course');
is($a->{priority}, 5, 'priority of the only course');
is($a->{laboratory}, 'robot-arm@Robot experiments', 'the laboratory');
like($a->{token}, qr/^[0-9a-f]{40}$/, 'the token hash');
my $hash = $a->{token};

my $t = $C{outsider}->delete("/sys/auths/$hash");
isnt($t->{status}, 200, 'somebody else cannot consume the token');
$t = $C{labside}->delete("/sys/auths/$hash");
is($t->{status}, 200, 'the lab side consumes the token');
my $tok = $t->{json} // {};
is($tok->{url}, $a->{load_url}, 'the token carries the lab URL');
is($tok->{username}, 'alice', 'the token names the user');
is($tok->{lms}, 'lms1', 'the token names the LMS');
is($tok->{time_allowed}, 300, 'the token carries the time');
is($tok->{realm}, 'lms4labs', 'the token realm');
$t = $C{labside}->delete("/sys/auths/$hash");
is($t->{status}, 404, 'the token works only once');
$t = $C{labside}->get("/sys/auths/$hash");
is($t->{status}, 404, 'the consumed token is gone');

# What the RLMS got.
open(my $lf, '<', $rlms_log) or die "$rlms_log: $!";
my @res = map { $J->decode($_) } <$lf>;
close $lf;
is(scalar(@res), 1, 'one reservation reached the RLMS');
is($res[0]{laboratory_id}, 'robot-arm@Robot experiments', 'RLMS: lab');
is($res[0]{username}, 'alice', 'RLMS: user');
is($res[0]{institution}, 'Uni One', 'RLMS: institution');
is_deeply($J->decode($res[0]{general_configuration_str}),
    { time => 600, priority => 3 }, 'RLMS: the LMS grant');
is_deeply([ map { $J->decode($_) } @{ $res[0]{particular_configurations} } ],
    [ { time => 300, priority => 5 } ], 'RLMS: the course grant');
is($res[0]{user_properties}{from_ip}, '192.0.2.7', 'RLMS: origin ip');
is($res[0]{request_payload}, body(exp => 'robot')->{'request-payload'},
    'RLMS: the request payload');

ok(scalar($d->loggrep(qr/audit: granted via=ecs lms=lms1 user=alice admin=0 courses=c1 identifier=robot lab=robot-arm\@Robot\\x20experiments rlms=ref time=300 priority=5/, 5)),
    'the grant is in the audit log');

# ---- refusals with the classic texts -------------------------------------------

my @cases = (
	[ 'not enrolled', body(exp => 'robot', courses => { c9 => 's' }),
	  'enrolled' ],
	[ 'no courses at all', body(exp => 'pendulum'), 'enrolled' ],
	[ 'unknown identifier', body(exp => 'nosuchlab',
	  courses => { c1 => 's' }), 'permission' ],
	[ 'malformed payload', body(payload => '{"action": "reserve",'),
	  'payload' ],
	[ 'payload not a string', body(payload => 5), 'payload' ],
	[ 'unsupported action', body(payload => '{"action":"booking",' .
	  '"experiment":"robot"}'), 'unsupported' ],
	[ 'no experiment', body(payload => '{"action":"reserve"}'),
	  'invalid' ],
	[ 'no action', body(payload => '{"experiment":"robot"}'), 'invalid' ],
	[ 'body not JSON', '{"user-id": ', 'json' ],
	[ 'RLMS refuses', body(exp => 'ghost', courses => { c1 => 's' }),
	  'rlms' ],
);
for my $c (@cases) {
	my ($name, $b, $want) = @$c;
	my $r = ask_ecs('lms1', $b);
	is($r->{answer}, $ERR{$want}, "ECS: $name") or diag(explain($r));
	ok(!exists $r->{token}, "ECS: $name: no token");
	my $h = ask_http('lms1', 'pw1', $b);
	is($h->{status}, 200, "HTTP: $name: 200");
	is($h->{body}, $ERR{$want}, "HTTP: $name: same text as ECS");
}
$a = ask_ecs('lms2', body(exp => 'robot', courses => { c1 => 's' }));
is($a->{answer}, $ERR{permission}, 'another LMS lacks the identifier');
is($a->{error}, substr($ERR{permission}, 6), 'the error member');
$a = ask_ecs('outsider', body(exp => 'robot', courses => { c1 => 's' }));
is($a->{answer}, $ERR{permission}, 'a participant that is no LMS');
ok(scalar($d->loggrep(qr/audit: refused via=ecs lms=lms1 user=alice admin=0 courses=c9 identifier=robot lab=robot-arm\@Robot\\x20experiments rlms=ref time=- priority=- reason=Your LMS has permission/)),
    'refusals are in the audit log, with the user\'s courses and the lab');
ok(scalar($d->loggrep(qr/audit: refused via=http lms=lms1 user=alice admin=0 courses=c1 identifier=nosuchlab lab=- rlms=- .*reason=Your LMS does not have/)),
    'a refusal for an unknown identifier is audited');

# ---- limit merging ----------------------------------------------------------------

my @limits = (
	[ 'two courses: best time capped, best priority',
	  { c1 => 's', c2 => 't' }, 600, 5 ],
	[ 'a better priority than the LMS grant is capped',
	  { c3 => 's' }, 100, 3 ],
	[ 'all three courses', { c1 => 's', c2 => 's', c3 => 't' }, 600, 3 ],
	[ 'Moodle 2.2 role arrays', { c2 => ['student', 'editingteacher'] },
	  600, 7 ],
);
for my $l (@limits) {
	my ($name, $courses, $time, $prio) = @$l;
	my $r = ask_ecs('lms1', body(exp => 'robot', courses => $courses));
	is($r->{time}, $time, "$name: time $time");
	is($r->{priority}, $prio, "$name: priority $prio");
	like($r->{url} // '', qr/&time=$time&priority=$prio&ecs_hash=/,
	    "$name: the RLMS got them");
	my $h = ask_http('lms1', 'pw1', body(exp => 'robot',
	    courses => $courses));
	like($h->{body}, qr/&time=$time&priority=$prio&ecs_hash=[0-9a-f]{40}$/,
	    "$name: the classic endpoint agrees");
}
$a = ask_ecs('lms1', body(exp => 'robot', admin => 1));
is($a->{time}, 600, 'an admin in no course gets the LMS time');
is($a->{priority}, 3, 'an admin in no course gets the LMS priority');
$a = ask_ecs('lms1', body(exp => 'pendulum', admin => 1));
ok($a->{url} && !exists $a->{time}, 'an admin may use a lab without ' .
    'course permissions; no limits configured');

# ---- the classic endpoint -----------------------------------------------------------

my $h = ask_http('lms1', 'pw1', body(exp => 'robot', courses => { c1 => 's' }));
is($h->{status}, 200, 'HTTP: a permitted student');
like($h->{head}, qr{Content-Type: text/plain}i, 'HTTP: plain text');
my ($h2) = $h->{body} =~ /ecs_hash=([0-9a-f]{40})$/;
ok($h2, 'HTTP: the lab URL with a token') or diag($h->{body});
is($C{labside}->delete("/sys/auths/$h2")->{status}, 200,
    'HTTP: the token is consumed once');
is($C{labside}->delete("/sys/auths/$h2")->{status}, 404,
    'HTTP: and only once');
$h = ask_http('lms1', 'wrong', body(exp => 'robot'));
is($h->{status}, 401, 'HTTP: wrong password');
like($h->{head}, qr/WWW-Authenticate: Basic realm="Login Required"/,
    'HTTP: the classic realm');
is($h->{body}, "Could not verify your access level for that URL.\n" .
    'You have to login with proper credentials', 'HTTP: the classic text');
is(ask_http(undef, undef, body(exp => 'robot'))->{status}, 401,
    'HTTP: no credentials');
my $b = body(exp => 'robot', courses => { c1 => 's' });
$b->{lms_username} = 'lms1';
$b->{lms_password} = 'pw1';
like(ask_http(undef, undef, $b)->{body}, qr/ecs_hash=/,
    'HTTP: credentials in the body');
like(ask_http('lms1', 'pw1', body(exp => 'robot', courses => { c1 => 's' }),
    path => '/labmanager/requests/')->{body}, qr/ecs_hash=/,
    'HTTP: the later /labmanager/requests/ prefix');
is(ask_http('lms1', 'pw1', '{}', path => '/other')->{status}, 404,
    'HTTP: other paths are 404');
ok(scalar($d->loggrep(qr/audit: granted via=http lms=lms1 user=alice/)),
    'HTTP grants are audited');

# ---- the course list ----------------------------------------------------------------

$r = $C{labadmin}->post('/lms4labs/config',
    json => { action => 'list-courses', lms => 'lms1', q => 'phy' },
    headers => { 'X-EcsReceiverMemberships' => $bridge });
is($r->{status}, 201, 'the admin asks for the courses of lms1');
my $q = pop_msg($C{lms1}, 'lms4labs/courses');
is_deeply($q, { q => 'phy', start => 0 }, 'lms1 is asked for its courses');
$r = $C{lms1}->post('/lms4labs/courses', json => { start => 0, number => 2,
    'per-page' => 10, courses => [ { id => 'c1', name => 'Physics 1' },
    { id => 'c2', name => 'Physics 2' } ] },
    headers => { 'X-EcsReceiverMemberships' => $bridge });
is($r->{status}, 201, 'lms1 answers with its courses');
my $l = pop_msg($C{labadmin}, 'lms4labs/courses');
is_deeply($l, { lms => 'lms1', start => 0, number => 2, 'per-page' => 10,
    courses => [ { id => 'c1', name => 'Physics 1' },
    { id => 'c2', name => 'Physics 2' } ] }, 'the admin gets the list');

# ---- configuration by message ----------------------------------------------------------

$r = $C{outsider}->post('/lms4labs/config', json => config_doc(),
    headers => { 'X-EcsReceiverMemberships' => $bridge });
ok(scalar($d->loggrep(qr/configuration message from outsider ignored/, 10)),
    'only the admin may configure');
$r = $C{labadmin}->post('/lms4labs/config', json => { rlms => 'x' },
    headers => { 'X-EcsReceiverMemberships' => $bridge });
my $st = pop_msg($C{labadmin}, 'lms4labs/config');
is($st->{status}, 'error', 'a bad configuration is refused');
$r = $C{labadmin}->post('/lms4labs/config', json => config_doc(lms2 => [
    { identifier => 'arm', rlms => 'ref',
      laboratory => 'robot-arm@Robot experiments', time => 60,
      courses => [ { course => 'k1', time => 120 } ] } ]),
    headers => { 'X-EcsReceiverMemberships' => $bridge });
$st = pop_msg($C{labadmin}, 'lms4labs/config');
is($st->{status}, 'ok', 'the admin configures by message');
is_deeply([ map { $_->{laboratory_id} } @{ $st->{rlms}[0]{labs} } ],
    [ 'robot-arm@Robot experiments', 'pendulum@Physics' ],
    'the answer lists what the RLMS offers');
is_deeply($st->{rlms}[0]{capabilities}, ['widget'], 'and its capabilities');
$a = ask_ecs('lms2', body(exp => 'arm', courses => { k1 => 's' }));
is($a->{time}, 60, 'the new configuration is in force (capped time)');
is(ask_http('lms2', 'pw2', body(exp => 'arm', courses => { k2 => 's' }))->{body},
    $ERR{enrolled}, 'the classic endpoint uses it too');

# ---- the end ------------------------------------------------------------------------------

$d->stop_ok('ecsd with labbridge');
ok(!scalar($d->loggrep(qr/ecc-host\[labbridge\]: warning: (?:call failed|token|cannot)/)),
    'no failed calls of the bridge');
done_testing();
