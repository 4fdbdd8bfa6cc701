#!/usr/bin/perl
# The classroom plugin end to end: a real ecsd hosts it through ecc-host
# ([plugin classroom]); teachers, registered students, anonymous guests
# and subparticipants of a frontend talk to it with messages on the
# classroom/* resources and read answers and fan-out through their event
# queues (long-poll). See classroom(7).
#
# CLASSROOM_BENCH=1 also measures the chat fan-out latency to 30 members
# and prints it as a diagnostic (no assertion on the numbers);
# CLASSROOM_SYNC=full measures with the durable default of ecsd.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use JSON::PP ();
use Ecsd;

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $HOST = "$top/tools/ecc-host";
my $SO = "$top/plugins/classroom/classroom.so";
plan skip_all => "$HOST not built" unless -x $HOST;
plan skip_all => "$SO not built" unless -f $SO;
my $TMP = tempdir('classroom-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $T = JSON::PP::true;
my $F = JSON::PP::false;
my $ALPHA = '34679ACDEFGHJKMNPQRTVWXY';

my $d = Ecsd->start(conf => {
	plugin_host => $HOST,
	allow_anonymous => 1,
	sync => $ENV{CLASSROOM_SYNC} // 'normal',
	'plugin classroom.path' => $SO,
	'plugin classroom.communities' => 'school,public,registry',
	'plugin classroom.database' => "$TMP/classroom.db",
	'plugin classroom.teachers' => 'teacher1, teacher2',
	'plugin classroom.attendance_community' => 'registry',
});
ok(scalar($d->loggrep(qr/plugin classroom: started as pid \d+/, 10)),
    'ecsd starts the classroom plugin');

my @students = map { "student$_" } 1 .. 40;
$d->setup({
	organizations => [{ name => 'School', abbr => 'SCH', description => '' }],
	communities => [{ name => 'registry', description => '' }],
	participants => [
	    map({ { name => $_, organization => 'School',
		community_selfrouting => $F, events => $T, auth_ids => [$_],
		communities => [$_ eq 'registrar' ? 'registry' : 'school'] } }
		qw(teacher1 teacher2 outsider frontend registrar), @students),
	],
});
# The plugin joins the registry community too, for its attendance.
{
	my $p = $d->names->{participants}{'plugin-classroom'};
	ok($p, 'the plugin has its participant') or BAIL_OUT('no plugin');
}
my $PSCHOOL = $d->mid('plugin-classroom', 'school');
my $PPUBLIC = $d->mid('plugin-classroom', 'public');
ok($PSCHOOL && $PPUBLIC, 'the plugin is a member of school and public');

# ---- a small client: requests, and an inbox fed by long-polled events ----

package Member {
	sub new {
		my ($class, $client, $to, $name) = @_;
		return bless { c => $client, to => $to, name => $name,
		    inbox => [], seen => {} }, $class;
	}
	sub c { $_[0]{c} }
	# Send a request; the id of the request message.
	sub send {
		my ($self, $res, $body) = @_;
		my $r = $self->{c}->post("/classroom/$res", json => $body,
		    headers => { 'X-EcsReceiverMemberships' => $self->{to} });
		die "POST classroom/$res: $r->{status} $r->{body}"
		    unless $r->{status} == 201;
		my ($id) = ($r->{headers}{location} // '') =~ m{/(\d+)$};
		return $id;
	}
	# Pop events (waiting up to $wait s) into the inbox.
	sub poll {
		my ($self, $wait) = @_;
		my $r = $self->{c}->post('/sys/events/fifo?count=-1' .
		    ($wait ? "&wait=$wait" : ''), timeout => ($wait // 0) + 10);
		return 0 unless $r->{status} == 200 && ref $r->{json} eq 'ARRAY';
		for my $ev (@{ $r->{json} }) {
			my ($res, $id) = $ev->{ressource} =~ m{^classroom/(\w+)/(\d+)$}
			    or next;
			my $m = { res => $res, id => 0 + $id, status => $ev->{status},
			    t => Time::HiRes::time() };
			if ($ev->{status} ne 'destroyed') {
				my $g = $self->{c}->get("/classroom/$res/$id");
				next unless $g->{status} == 200;
				$m->{json} = $g->{json};
			}
			push @{ $self->{inbox} }, $m;
		}
		return scalar @{ $r->{json} };
	}
	# The first inbox entry matching $pred (taken out), polling up to $timeout.
	sub wait_for {
		my ($self, $pred, $timeout) = @_;
		my $deadline = Time::HiRes::time() + ($timeout // 10);
		while (1) {
			my $in = $self->{inbox};
			for my $i (0 .. $#$in) {
				local $_ = $in->[$i];
				return splice(@$in, $i, 1) if $pred->($_);
			}
			my $left = $deadline - Time::HiRes::time();
			return undef if $left <= 0;
			$self->poll($left > 1 ? 1 : 1);
		}
	}
	# Send and wait for the reply to that request.
	sub ask {
		my ($self, $res, $body, $timeout) = @_;
		my $id = $self->send($res, $body);
		my $m = $self->wait_for(sub { $_->{res} eq $res && $_->{json} &&
		    ($_->{json}{reply_to} // 0) == $id }, $timeout);
		return $m ? $m->{json} : { status => 'no reply' };
	}
	# Nothing matching $pred arrives within $t seconds.
	sub none {
		my ($self, $pred, $t) = @_;
		return !defined $self->wait_for($pred, $t // 1);
	}
	sub notice {
		my ($self, $event, $timeout) = @_;
		return $self->wait_for(sub { $_->{res} eq 'control' && $_->{json} &&
		    ($_->{json}{event} // '') eq $event }, $timeout);
	}
	sub chat {
		my ($self, $text, $timeout) = @_;
		return $self->wait_for(sub { $_->{res} eq 'chat' && $_->{json} &&
		    ($_->{json}{message} // '') eq $text }, $timeout);
	}
}

sub member { return Member->new($d->as($_[0]), $PSCHOOL, $_[0]) }

# An anonymous participant (public only) with its cookie.
sub guest {
	my $r = $d->client->get('/sys/memberships');
	my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /ecs_anonymous=([0-9a-f]+)/;
	die "no anonymous cookie: $r->{status}" unless $cookie;
	return Member->new($d->client(Cookie => "ecs_anonymous=$cookie"),
	    $PPUBLIC, 'guest');
}

# A subparticipant of the frontend in school.
sub sub_guest {
	my $r = $d->as('frontend')->post('/sys/subparticipants',
	    json => { communities => ['school'] });
	die "subparticipant: $r->{status} $r->{body}" unless $r->{status} == 200;
	return Member->new($d->as($r->{json}{auth_ids}[0]{auth_id}), $PSCHOOL,
	    'sub');
}

# ---- experiences ---------------------------------------------------------

my $t1 = member('teacher1');
my $t2 = member('teacher2');
my $s1 = member('student1');
my $r = $t1->ask('experiences', { op => 'create', title => 'Volcanoes',
    description => 'Inside Etna', media => ['https://media.example/etna.glb'],
    public => $T });
is($r->{status}, 201, 'a teacher creates an experience') or diag explain $r;
my $exp = $r->{experience}{id};
is_deeply($r->{experience}{media}, ['https://media.example/etna.glb'],
    'its media references are kept');
$r = $t2->ask('experiences', { op => 'create', title => 'Private lab' });
my $exp2 = $r->{experience}{id};
is($r->{status}, 201, 'another teacher creates a private one');
$r = $t2->ask('experiences', { op => 'list' });
is_deeply([sort map { $_->{id} } @{ $r->{experiences} }], [sort $exp, $exp2],
    'teachers see their own and public experiences');
$r = $t1->ask('experiences', { op => 'list' });
is_deeply([map { $_->{id} } @{ $r->{experiences} }], [$exp],
    'but not the private experiences of others');
is($t2->ask('experiences', { op => 'update', id => $exp, title => 'x' })->{status},
    403, 'only the owner edits an experience');
$r = $t1->ask('experiences', { op => 'update', id => $exp, title => 'Volcanoes 2' });
is($r->{experience}{title}, 'Volcanoes 2', 'the owner edits it');
is($t1->ask('experiences', { op => 'get', id => $exp2 })->{status}, 404,
    'a private experience of another teacher is not found');
is($s1->ask('experiences', { op => 'list' })->{status}, 403,
    'students do not manage experiences');
is($t2->ask('experiences', { op => 'delete', id => $exp2 })->{status}, 200,
    'the owner deletes an experience');

# ---- sessions ------------------------------------------------------------

$r = $t1->ask('sessions', { op => 'create', experience => $exp,
    title => 'Geology 1', datetime => '2026-03-04T10:00' });
is($r->{status}, 201, 'a teacher creates a session') or diag explain $r;
my $sid = $r->{session}{id};
my $code = $r->{session}{code};
like($code, qr/^[$ALPHA]{5}$/, "the join code $code has five characters without look-alikes");
is($r->{session}{status}, 'scheduled', 'the session is scheduled');
is($r->{session}{capacity}, 30, 'the default capacity is 30');
$r = $t1->ask('sessions', { op => 'update', id => $sid, title => 'Geology I' });
is($r->{session}{title}, 'Geology I', 'the teacher edits the session');
is($t2->ask('sessions', { op => 'update', id => $sid, title => 'x' })->{status},
    403, 'other teachers cannot');
$r = $t1->ask('sessions', { op => 'list' });
is(scalar(grep { $_->{id} == $sid } @{ $r->{sessions} }), 1, 'the teacher lists it');
is(scalar(@{ $t2->ask('sessions', { op => 'list' })->{sessions} }), 0,
    'other teachers do not');
is($t1->ask('sessions', { op => 'create', experience => 999999,
    title => 'x', datetime => '2026-03-04T10:00' })->{status}, 404,
    'a session needs a visible experience');
$r = $t1->ask('sessions', { op => 'create', experience => $exp,
    title => 'Doomed', datetime => '2026-03-05T10:00' });
my $del_code = $r->{session}{code};
$r = $t1->ask('sessions', { op => 'delete', id => $r->{session}{id} });
is($r->{status}, 200, 'the teacher deletes a session');

# ---- joining before the start ----------------------------------------------

$r = $s1->ask('joins', { code => lc($code) });
is($r->{status}, 200, 'a registered student joins with the code (any case)')
    or diag explain $r;
is($r->{member}{state}, 'waiting', 'and waits in the waiting room');
is($r->{member}{role}, 'registered', 'as a registered participant');
is($r->{member}{name}, 'student1', 'under the participant name');
my $g1 = guest();
$r = $g1->ask('joins', { code => $code });
is($r->{status}, 400, 'a guest must choose a display name');
$r = $g1->ask('joins', { code => $code, name => 'Ada' });
is($r->{member}{state}, 'waiting', 'a guest joins the waiting room');
is($r->{member}{role}, 'guest', 'as a guest');
ok($r->{member}{avatar}{animal} && $r->{member}{avatar}{color} =~ /^#[0-9a-f]{6}$/,
    'with a generated avatar');
my $g1mid = $r->{member}{member};
is($g1->ask('joins', { code => 'QQQQQ' })->{status}, 404, 'an unknown code is 404');
is($g1->ask('joins', { code => $del_code })->{status}, 410,
    'the code of a deleted session has expired');
is($s1->ask('chat', { session => $sid, message => 'early' })->{status}, 403,
    'no chat from the waiting room');

# ---- start and later joiners --------------------------------------------

$r = $t1->ask('control', { op => 'start', session => $sid });
is($r->{session}{status}, 'live', 'the teacher starts the session');
ok($s1->notice('started') && $g1->notice('started'),
    'the waiting room is admitted at the start');
my $s2 = member('student2');
$r = $s2->ask('joins', { code => $code });
is($r->{member}{state}, 'admitted', 'a later joiner enters directly');
ok($t1->notice('joined'), 'the teacher hears about it');
my $g2 = sub_guest();
$r = $g2->ask('joins', { code => $code, name => 'Bob' });
is($r->{member}{state}, 'admitted', 'a subparticipant guest enters directly');
is($r->{member}{role}, 'guest', 'as a guest');
my $g2mid = $r->{member}{member};
my $out = member('outsider');

# ---- chat --------------------------------------------------------------

$s1->send('chat', { session => $sid, message => 'hello class' });
my @all = ($t1, $s1, $s2, $g1, $g2);
my %got;
for my $m (@all) {
	my $e = $m->chat('hello class', 5);
	$got{ $m->{name} } = $e;
}
is(scalar(grep { defined } values %got), scalar @all,
    'a chat message reaches every member') or diag explain \%got;
my $msg = $got{student1};
is($msg->{json}{from}{name}, 'student1', 'with its author');
ok($out->none(sub { $_->{res} eq 'chat' }, 1), 'outsiders get nothing');
is($out->c->get("/classroom/chat/$msg->{id}")->{status}, 403,
    'and cannot read it');
$s1->send('chat', { session => $sid, op => 'edit', messageId => $msg->{id},
    message => 'hello, class' });
my $ed = $g1->wait_for(sub { $_->{res} eq 'chat' && $_->{status} eq 'updated' }, 5);
ok($ed && $ed->{json}{message} eq 'hello, class' && $ed->{json}{edited},
    'an edit reaches the members as an update') or diag explain $ed;
is($s2->ask('chat', { session => $sid, op => 'edit', messageId => $msg->{id},
    message => 'hijack' })->{status}, 403, 'only the author edits');
$r = $g2->ask('chat', { session => $sid, op => 'history' });
is($r->{chat}[0]{message}, 'hello, class', 'members read the history');

# ---- state ---------------------------------------------------------------

$s2->send('state', { session => $sid, position => [1, 2, 3],
    rotation => [0, 0, 0, 1] });
my $st = $g1->wait_for(sub { $_->{res} eq 'state' }, 5);
is_deeply($st && $st->{json}{position}, [1, 2, 3],
    'positions reach the other members');
$s2->send('state', { session => $sid, position => [4, 5, 6] }) for 1 .. 3;
$st = $g1->wait_for(sub { $_->{res} eq 'state' && $_->{status} eq 'updated' &&
    $_->{json}{position}[0] == 4 }, 5);
ok($st, 'later positions replace the earlier one');
is($s2->ask('state', { session => $sid, position => [1] })->{status}, 400,
    'a malformed position is refused');

# ---- moderation ----------------------------------------------------------

$r = $t1->ask('control', { op => 'approval', session => $sid, approval => $T });
is($r->{session}{approval}, $T, 'the teacher turns approval on');
my $s3 = member('student3');
$r = $s3->ask('joins', { code => $code });
is($r->{member}{state}, 'waiting', 'then later joiners wait');
ok($t1->notice('knock'), 'and the teacher hears them knock');
$r = $t1->ask('control', { op => 'admit', session => $sid,
    member => $r->{member}{member} });
ok($s3->notice('admitted'), 'the teacher admits one');
$r = $t1->ask('control', { op => 'sendback', session => $sid, member => $g2mid });
ok($g2->notice('waiting'), 'the teacher sends a participant back');
$r = $t1->ask('control', { op => 'remove', session => $sid, member => $g1mid });
ok($g1->notice('removed'), 'the teacher removes a participant');
is($g1->ask('joins', { code => $code, name => 'Ada' })->{status}, 403,
    'who cannot come back');
is($s1->ask('control', { op => 'remove', session => $sid, member => $g2mid })->{status},
    403, 'students do not moderate');
$s1->send('chat', { session => $sid, message => 'second' });
ok($s3->chat('second', 5), 'an admitted student gets the next message');
ok($g2->none(sub { $_->{res} eq 'chat' && $_->{status} eq 'created' }, 1),
    'the one sent back does not');
ok($g1->none(sub { $_->{res} eq 'chat' && $_->{status} eq 'created' }, 0.5),
    'nor the removed one');

# ---- capacity ------------------------------------------------------------

$r = $t2->ask('experiences', { op => 'create', title => 'Small', public => $F });
$r = $t2->ask('sessions', { op => 'create', experience => $r->{experience}{id},
    title => 'Tiny', datetime => '2026-03-04T11:00', capacity => 2 });
my ($tiny, $tcode) = ($r->{session}{id}, $r->{session}{code});
isnt($tcode, $code, 'codes differ between live and scheduled sessions');
is(member('student10')->ask('joins', { code => $tcode })->{status}, 200, 'join 1 of 2');
is(member('student11')->ask('joins', { code => $tcode })->{status}, 200, 'join 2 of 2');
$r = member('student12')->ask('joins', { code => $tcode });
is($r->{status}, 409, 'a full session refuses more') or diag explain $r;
is($t2->ask('sessions', { op => 'create', experience => $exp, title => 'Big',
    datetime => '2026-03-04T11:00', capacity => 31 })->{status}, 400,
    'a capacity above the configured maximum is refused');

# ---- terminate -------------------------------------------------------------

my $reg = Member->new($d->as('registrar'),
    $d->mid('plugin-classroom', 'registry'), 'registrar');
$r = $t1->ask('control', { op => 'terminate', session => $sid, export => $T });
is($r->{status}, 200, 'the teacher terminates the session');
is_deeply([map { $_->{message} } @{ $r->{chat} }], ['hello, class', 'second'],
    'with an export of the chat first');
is_deeply([sort map { $_->{name} } @{ $r->{attendance} }],
    [qw(student1 student2 student3)], 'and the attendance of registered students');
ok($s1->notice('terminated') && $s3->notice('terminated') && $g2->notice('terminated'),
    'everyone hears the end (also the waiting room)');
ok($s2->wait_for(sub { $_->{res} eq 'chat' && $_->{status} eq 'destroyed' &&
    $_->{id} == $msg->{id} }, 5), 'chat messages are destroyed');
is($s2->c->get("/classroom/chat/$msg->{id}")->{status}, 404,
    'and gone from the broker');
is($s1->ask('joins', { code => $code })->{status}, 410,
    'the code is freed: it answers "expired"');
is($s1->ask('chat', { session => $sid, message => 'late' })->{status}, 403,
    'no chat after the end');
my $att = $reg->wait_for(sub { $_->{res} eq 'attendance' }, 5);
ok($att, 'the attendance is published on classroom/attendance');
is_deeply([sort map { $_->{name} } @{ $att->{json}{attendees} || [] }],
    [qw(student1 student2 student3)], 'naming the registered students');
is($att->{json}{session}{id}, $sid, 'and the session');
ok($t1->wait_for(sub { $_->{res} eq 'attendance' }, 5),
    'the teacher receives it too');

# ---- fan-out to 30 members ------------------------------------------------

$r = $t1->ask('sessions', { op => 'create', experience => $exp,
    title => 'Full house', datetime => '2026-03-06T10:00' });
my ($big, $bcode) = ($r->{session}{id}, $r->{session}{code});
$t1->ask('control', { op => 'start', session => $big });
my @m30 = map { member("student$_") } 11 .. 40;
for my $m (@m30) {
	my $j = $m->ask('joins', { code => $bcode });
	die "join: " . Ecsd::json_encode($j) unless ($j->{status} // 0) == 200;
}
is(member('student1')->ask('joins', { code => $bcode })->{status}, 409,
    'the 31st student is refused');
$_->poll(0) for @m30, $t1;
$_->{inbox} = [] for @m30, $t1;
my @lat;
for my $round (1 .. ($ENV{CLASSROOM_BENCH} ? 20 : 1)) {
	my @w = map { my $c = $_->c->fresh;
	    $c->start_request('POST', '/sys/events/fifo?count=-1&wait=10') } @m30;
	sleep 0.05;
	my $t0 = time;
	$m30[0]->send('chat', { session => $big, message => "round $round" });
	my ($n, $last) = (0, 0);
	for my $c (@w) {
		my $res = $c->finish_request;
		my $ok = ref $res->{json} eq 'ARRAY' &&
		    grep { $_->{ressource} =~ m{^classroom/chat/} } @{ $res->{json} };
		$n++ if $ok;
		$last = time if $ok;
		$c->close;
	}
	is($n, 30, 'a chat message reaches all 30 members') if $round == 1;
	push @lat, ($last - $t0) * 1000;
}
if ($ENV{CLASSROOM_BENCH}) {
	my @s = sort { $a <=> $b } @lat;
	diag(sprintf('chat fan-out to 30 members, %d rounds: median %.1f ms,'
	    . ' max %.1f ms (post to the last long-poll answer)', scalar @s,
	    $s[$#s / 2], $s[-1]));
}
$r = $t1->ask('control', { op => 'terminate', session => $big });
is($r->{status}, 200, 'the big session ends');

$d->stop;
ok(!$d->loggrep(qr/AddressSanitizer|LeakSanitizer|runtime error/),
    'no sanitizer reports, also at the exit of the plugin');
ok(!$d->loggrep(qr/plugin classroom: (killed|exited with status)/),
    'the plugin never crashed');
ok($d->loggrep(qr/ecc-host\[classroom\]: info: stopped/),
    'the plugin stops cleanly with ecsd');
done_testing();
