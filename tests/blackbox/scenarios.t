# The worked sessions of ecs-protocol.md section 17.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Ecsd;
use EcsdCheck;

my $d = Ecsd->start;
$d->fixture_spec;
$d->setup({ resources => [
	{ namespace => 'campusconnect', name => 'courselinks', postroute => JSON::PP::false, events => JSON::PP::true },
	{ namespace => 'campusconnect', name => 'courses', postroute => JSON::PP::false, events => JSON::PP::true },
] });
my ($p1, $p2, $p3) = map { $d->as($_) } qw(P1 P2 P3);

subtest '17.1 point-to-point exchange' => sub {
	my $link = '{"url":"https://ilias.example.org/goto.php?target=crs_26&client_id=ecs2","title":"Mathematics II"}';
	my $r = $p1->post('/campusconnect/courselinks', body => $link, ctype => 'application/json',
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 201, 'POST 201');
	my $id = loc_ok($r, '/campusconnect/courselinks');
	my $ev = ["campusconnect/courselinks/$id created"];

	$r = $p2->get('/sys/events/fifo');
	is($r->{status}, 200, 'receiver polls');
	is_deeply(events_of($r), $ev, 'created event');

	$r = $p2->post('/campusconnect/courselinks/fifo');
	is($r->{status}, 200, 'pop 200');
	std_ok($r, 'pop');
	ctype_is($r, 'application/json; charset=utf-8', 'pop');
	is($r->{headers}{'x-ecsreceivercommunities'}, $d->cid('WUV'), 'X-EcsReceiverCommunities');
	is($r->{headers}{'x-ecssender'}, $d->mid(P1 => 'WUV'), 'X-EcsSender');
	is($r->{body}, $link, 'the course link');
	is_deeply($r->{json}, { url => 'https://ilias.example.org/goto.php?target=crs_26&client_id=ecs2',
	    title => 'Mathematics II' }, 'parses');

	$r = $p2->post('/sys/events/fifo');
	is($r->{status}, 200, 'acknowledge');
	is_deeply(events_of($r), $ev, 'the same event, popped');
	is_deeply(events_of($p2->get('/sys/events')), [], 'no events left');
	err_ok($p1->get("/campusconnect/courselinks/$id"), 404, ERR('bad_id'), 'message disposed');
	is($p1->get('/campusconnect/courselinks?sender=true')->{body}, '', 'not listed');
	is($p2->post('/campusconnect/courselinks/fifo')->{body}, '', 'queue empty');
};

subtest '17.2 indirect retrieval through a proxy' => sub {
	my $url = 'https://proxy.example.org/courses/58680c63a1b2';
	my $lms_mid = $d->mid(P2 => 'WUV');
	my $proxy_mid = $d->mid(P1 => 'WUV');
	my $r = $p1->post('/campusconnect/courses', body => $url, ctype => 'text/uri-list',
	    headers => { 'X-EcsReceiverMemberships' => $lms_mid });
	is($r->{status}, 201, '1. proxy creates the course pointer');
	my $id = loc_ok($r, '/campusconnect/courses');

	$r = $p2->post('/sys/events/fifo');
	is_deeply(events_of($r), ["campusconnect/courses/$id created"], '2. LMS pops the event');

	$r = $p2->get("/campusconnect/courses/$id");
	is($r->{status}, 200, '3. LMS reads the message');
	is($r->{body}, $url, 'the URL');
	ctype_is($r, 'text/uri-list; charset=utf-8', 'stored type');
	is($p2->get("/campusconnect/courses/$id")->{status}, 200, 'GET does not consume');

	$r = $p2->post('/sys/auths', json => { url => $url }, headers => { 'X-EcsReceiverMemberships' => $proxy_mid });
	is($r->{status}, 201, '4. LMS creates a token for the proxy');
	my $hash = $r->{json}{hash};
	like($hash // '', qr/^[0-9a-f]{40}$/, 'hash');

	$r = $p1->delete("/sys/auths/$hash");
	is($r->{status}, 200, '5. proxy verifies the token');
	is($r->{json}{url}, $url, 'url matches');
	is($r->{json}{pid}, $d->pid('P2'), 'pid of the LMS');
	is($r->{json}{abbr}, 'U', 'abbr of the LMS');
	err_ok($p1->delete("/sys/auths/$hash"), 404, ERR('bad_hash'), 'a token works once');

	$r = $p2->delete("/campusconnect/courses/$id");
	is($r->{status}, 200, '6. LMS deletes the message as receiver');
	is($r->{body}, $url, 'answer carries the body');
	is_deeply(events_of($p1->get('/sys/events')), [], 'the proxy gets no event (Q-20)');
	err_ok($p1->delete("/campusconnect/courses/$id"), 404, ERR('bad_id'), 'proxy delete: already gone');
	is_deeply(events_of($p2->get('/sys/events')), [], 'the LMS gets nothing either');
};

subtest '17.2 with two receivers: sender deletes, remaining receiver sees destroyed' => sub {
	my $url = 'https://proxy.example.org/courses/feedbeef';
	my $id = create_ok($p1, '/campusconnect/courses', body => $url, ctype => 'text/uri-list',
	    mids => [$d->mid(P2 => 'WUV'), $d->mid(P3 => 'public')]);
	my $ev = "campusconnect/courses/$id";
	is_deeply(events_of($p2->post('/sys/events/fifo')), ["$ev created"], 'LMS A event');
	is($p2->get("/campusconnect/courses/$id")->{body}, $url, 'LMS A reads');
	my $t = $p2->post('/sys/auths', json => { url => $url },
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P1 => 'WUV') });
	is($t->{status}, 201, 'LMS A token');
	is($p1->delete("/sys/auths/$t->{json}{hash}")->{status}, 200, 'proxy verifies');
	is($p2->delete("/campusconnect/courses/$id")->{status}, 200, 'LMS A deletes as receiver');
	is_deeply(events_of($p1->get('/sys/events')), [], 'proxy not notified');
	is($p3->get("/campusconnect/courses/$id")->{status}, 200, 'LMS B still has it');
	my $r = $p1->delete("/campusconnect/courses/$id");
	is($r->{status}, 200, 'proxy deletes as sender');
	is_deeply(events_of($p3->get('/sys/events')), ["$ev created", "$ev destroyed"], 'LMS B: created, destroyed');
	is_deeply(events_of($p2->get('/sys/events')), [], 'LMS A (no longer a receiver): nothing');
	err_ok($p3->get("/campusconnect/courses/$id"), 404, ERR('bad_id'), 'gone for LMS B');
	is_deeply(events_of($p3->post('/sys/events/fifo?count=2')), ["$ev created", "$ev destroyed"], 'B drains');
	is($p3->get('/campusconnect/courses')->{body}, '', 'B lists nothing');
};

subtest '17.3 single sign-on with a one-touch token' => sub {
	my $realm = '3f786850e387550fdab836ed7e6dc881de23001b';
	my $r = $p1->post('/sys/auths', json => { realm => $realm },
	    headers => { 'X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV') });
	is($r->{status}, 201, 'A creates the token');
	my $h = $r->{json}{hash};
	is_deeply([sort keys %{ $r->{json} }], [qw(abbr eov hash pid realm sov)], 'token keys');
	$r = $p2->delete("/sys/auths/$h");
	is($r->{status}, 200, 'B consumes it');
	is($r->{json}{realm}, $realm, 'realm');
	is($r->{json}{pid}, $d->pid('P1'), 'pid');
	is($r->{json}{abbr}, 'S', 'abbr');
	err_ok($p2->delete("/sys/auths/$h"), 404, ERR('bad_hash'), 'second DELETE');
};

$d->stop_ok;
done_testing();
