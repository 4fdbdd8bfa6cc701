#!/usr/bin/perl
# /sys/configs GET and POST (spec 12.4, 10.2 gate 2, 7.2 selfrouting).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Ecsd;

my $T = JSON::PP::true;
my $F = JSON::PP::false;
sub jtrue  { my ($v) = @_; return JSON::PP::is_bool($v) && $v ? 1 : 0 }
sub jfalse { my ($v) = @_; return JSON::PP::is_bool($v) && !$v ? 1 : 0 }

my $E415 = qq{Please provide "Content-Type:" header. Data format has to be in JSON (application/json)\n};
my $E400 = qq{You have provided invalid JSON data (ConfigsController#create).\n};

sub events {
	my ($c) = @_;
	my $r = $c->get('/sys/events');
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] } ];
}
sub uri_list {
	my ($c, $path) = @_;
	my $r = $c->get($path);
	return ["HTTP $r->{status}"] unless $r->{status} == 200;
	return [ split /\n/, $r->{body} ];
}
sub send_msg {
	my ($c, $path, $body, %a) = @_;
	my %h;
	$h{'X-EcsReceiverMemberships'} = $a{mids} if defined $a{mids};
	$h{'X-EcsReceiverCommunities'} = $a{comms} if defined $a{comms};
	my $r = $c->post($path, body => $body, ctype => 'text/plain', headers => \%h);
	diag("POST $path: $r->{status} $r->{body}") unless $r->{status} == 201;
	return $r->{status} == 201 ? Ecsd::loc_id($r) : undef;
}

my $d = Ecsd->start;
my $A = $d->admin;
$d->fixture_spec;
my $p1 = $d->as('my_secret_identity');
my $p2 = $d->as('ulama');

# ---------------------------------------------------------------- GET
my $initial;
{
	my $r = $p1->get('/sys/configs');
	is($r->{status}, 200, 'GET /sys/configs: 200');
	like($r->{headers}{'content-type'} // '', qr{^application/json}i, 'application/json');
	like($r->{body}, qr/\}\r\n\z/, 'body followed by CRLF');
	is_deeply($r->{json}, {
	    participant_events => $T,
	    resource_events => { '/numlab/exercises' => $T, '/numlab/results' => $T,
		'/numlab/solutions' => $T, '/cc/course' => $T, '/sys/auths' => $F },
	    selfrouting => $F }, 'spec example') or diag($r->{body});
	ok(jtrue($r->{json}{participant_events}), 'participant_events is a JSON boolean');
	ok(jfalse($r->{json}{selfrouting}), 'selfrouting is a JSON boolean');
	$initial = $r->{json};

	my $res = $A->post('/admin/resources', json => { namespace => 'cfg', name => 'quiet', events => $F });
	is($res->{status}, 201, 'admin adds a resource');
	my $g = $p1->get('/sys/configs')->{json} || {};
	ok(exists $g->{resource_events}{'/cfg/quiet'} && jfalse($g->{resource_events}{'/cfg/quiet'}),
	    'new resource listed with its events flag');
	is($A->delete("/admin/resources/$res->{json}{id}")->{status}, 200, 'admin deletes it');
	$g = $p1->get('/sys/configs')->{json} || {};
	ok(!exists $g->{resource_events}{'/cfg/quiet'}, 'deleted resource no longer listed');

	is($p1->get('/sys/configs', headers => { Accept => 'text/plain' })->{status}, 406,
	    'Accept: text/plain → 406');
	is($p1->get('/sys/configs.json')->{status}, 200, '.json suffix');
	is($p1->put('/sys/configs', json => {})->{status}, 405, 'PUT → 405');
	is($p1->delete('/sys/configs')->{status}, 405, 'DELETE → 405');
	my $u = $d->client->get('/sys/configs');
	is($u->{status}, 401, 'unauthenticated GET: 401');
	is($u->{body}, qq{No "X-EcsAuthId" http header\n}, '401 text');
	$u = $d->client->post('/sys/configs', json => { selfrouting => $T });
	is($u->{status}, 401, 'unauthenticated POST: 401');
}

# ---------------------------------------------------------------- POST errors
{
	my $r = $p1->post('/sys/configs', body => '{"selfrouting":true}');
	is($r->{status}, 415, 'no Content-Type: 415');
	is($r->{body}, $E415, '415 text');
	$r = $p1->post('/sys/configs', body => '{"selfrouting":true}', ctype => 'text/plain');
	is($r->{status}, 415, 'text/plain: 415');
	is($r->{body}, $E415, '415 text (text/plain)');
	$r = $p1->post('/sys/configs', body => '{"selfrouting":true}', ctype => 'application/xml');
	is($r->{status}, 415, 'application/xml: 415');
	is_deeply($p1->get('/sys/configs')->{json}, $initial, 'nothing changed by 415s');

	for my $b ('', '   ', 'nope', '[true]', '"x"', '42', 'null', '{"selfrouting":', '{"a":1}x') {
		my $r = $p1->post('/sys/configs', body => $b, ctype => 'application/json');
		is($r->{status}, 400, "body '$b': 400");
		is($r->{body}, $E400, "body '$b': 400 text");
	}
	is_deeply($p1->get('/sys/configs')->{json}, $initial, 'nothing changed by 400s');
}

# ---------------------------------------------------------------- POST values
{
	my $set = sub {
		my ($c, $body, $ct) = @_;
		my $r = $c->post('/sys/configs', body => $body, ctype => $ct // 'application/json');
		is($r->{status}, 200, "POST $body: 200") or diag($r->{body});
		my $g = $c->get('/sys/configs');
		is_deeply($r->{json}, $g->{json}, "POST $body: answer is the new state");
		return $g->{json} || {};
	};
	my $s = $set->($p1, '{"participant_events":false}');
	ok(jfalse($s->{participant_events}), 'participant_events false');
	ok(jfalse($s->{selfrouting}), 'selfrouting untouched');
	is_deeply($s->{resource_events}, $initial->{resource_events}, 'resource_events untouched');
	$s = $set->($p1, '{"participant_events":true}');
	ok(jtrue($s->{participant_events}), 'participant_events true again');
	$s = $set->($p1, '{"participant_events":"yes"}');
	ok(jfalse($s->{participant_events}), '"yes" disables');
	$set->($p1, '{"participant_events":true}');
	$s = $set->($p1, '{"participant_events":1}');
	ok(jfalse($s->{participant_events}), '1 disables');
	$s = $set->($p1, '{"participant_events":null}');
	ok(jfalse($s->{participant_events}), 'null leaves it unchanged (false)');
	$set->($p1, '{"participant_events":true}');
	$s = $set->($p1, '{"participant_events":null}');
	ok(jtrue($s->{participant_events}), 'null leaves it unchanged (true)');
	$s = $set->($p1, '{}');
	ok(jtrue($s->{participant_events}) && jfalse($s->{selfrouting}), '{} changes nothing');
	$s = $set->($p1, '{"foo":false,"resource_events":{"/numlab/exercises":false}}');
	is_deeply($s, $initial, 'other keys ignored (resource_events not writable)');
	$s = $set->($p1, '{"selfrouting":true}', 'application/json; charset=utf-8');
	ok(jtrue($s->{selfrouting}), 'selfrouting true (ctype with charset)');
	ok(jtrue($s->{participant_events}), 'participant_events untouched');
	$s = $set->($p1, '{"selfrouting":"true"}', 'text/x-json');
	ok(jfalse($s->{selfrouting}), 'string "true" disables (JSON synonym text/x-json accepted)');
	$s = $set->($p1, '{"selfrouting":true,"participant_events":false}', 'application/jsonrequest');
	ok(jtrue($s->{selfrouting}) && jfalse($s->{participant_events}), 'both keys at once');
	$s = $set->($p1, '{"selfrouting":false,"participant_events":true}');
	is_deeply($s, $initial, 'back to the initial state');
	# the other participant is not affected
	$set->($p1, '{"participant_events":false}');
	ok(jtrue(($p2->get('/sys/configs')->{json} || {})->{participant_events}),
	    'other participant unaffected');
	$set->($p1, '{"participant_events":true}');
}

# ---------------------------------------------------------------- participant_events gates events
{
	my $mid1_wuv = $d->mid('P1', 'WUV');
	my $r = $p1->post('/sys/configs', json => { participant_events => $F });
	is($r->{status}, 200, 'P1 disables its events');
	my $m1 = send_msg($p2, '/numlab/results', 'to P1, quiet', mids => $mid1_wuv);
	ok($m1, 'P2 sends to P1');
	is_deeply(uri_list($p1, '/numlab/results'), ["results/$m1"], 'P1 still receives the message');
	is_deeply(events($p1), [], 'but no event queued for P1');
	my $put = $p2->put("/numlab/results/$m1", body => 'changed', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $mid1_wuv });
	is($put->{status}, 200, 'P2 updates it');
	is_deeply(events($p1), [], 'no updated event either');
	is($p2->delete("/numlab/results/$m1")->{status}, 200, 'P2 deletes it as sender');
	is_deeply(events($p1), [], 'no destroyed event either');

	$r = $p1->post('/sys/configs', json => { participant_events => $T });
	my $m2 = send_msg($p2, '/numlab/results', 'to P1, loud', mids => $mid1_wuv);
	is_deeply(events($p1), ["numlab/results/$m2 created"], 'events again after re-enabling');
	is_deeply(events($p2), [], 'sender gets no event');
	$p1->post('/sys/events/fifo?count=-1');
}

# ---------------------------------------------------------------- selfrouting
{
	my $m0 = send_msg($p1, '/numlab/solutions', 'no selfrouting', comms => 'SUV');
	ok($m0, 'P1 sends to SUV without selfrouting');
	is_deeply(uri_list($p1, '/numlab/solutions'), [], 'P1 does not receive it');
	is_deeply(uri_list($p2, '/numlab/solutions'), ["solutions/$m0"], 'P2 receives it');
	is_deeply(events($p1), [], 'no event for P1');

	my $r = $p1->post('/sys/configs', json => { selfrouting => $T });
	ok(jtrue(($r->{json} || {})->{selfrouting}), 'P1 enables selfrouting');
	my $m1 = send_msg($p1, '/numlab/solutions', 'selfrouted', comms => 'SUV');
	ok($m1, 'P1 sends to SUV with selfrouting');
	is_deeply(uri_list($p1, '/numlab/solutions'), ["solutions/$m1"], 'P1 receives its own message');
	is_deeply(uri_list($p2, '/numlab/solutions'), [ "solutions/$m0", "solutions/$m1" ],
	    'P2 receives it as well');
	is_deeply(events($p1), ["numlab/solutions/$m1 created"], 'created event for the sender');
	my $g = $p1->get("/numlab/solutions/$m1");
	is($g->{status}, 200, 'P1 reads it');
	is($g->{headers}{'x-ecsreceivercommunities'}, $d->cid('SUV'), 'as receiver through SUV');
	is($g->{headers}{'x-ecssender'}, $d->mid('P1', 'SUV'), 'X-EcsSender is its own SUV mid');
	my $f = $p1->post('/numlab/solutions/fifo');
	is($f->{status}, 200, 'P1 pops it from its own queue');
	is($f->{body}, 'selfrouted', 'popped body');

	# by membership it makes no difference
	$p1->post('/sys/configs', json => { selfrouting => $F });
	my $m2 = send_msg($p1, '/numlab/solutions', 'to own mid', mids => $d->mid('P1', 'WUV'));
	is_deeply(uri_list($p1, '/numlab/solutions'), ["solutions/$m2"],
	    'addressing its own mid reaches the sender regardless of selfrouting');
	my $m3 = send_msg($p1, '/numlab/solutions', 'off again', comms => 'WUV');
	is_deeply(uri_list($p1, '/numlab/solutions'), ["solutions/$m2"], 'selfrouting off again');
}

# ---------------------------------------------------------------- subparticipant
{
	my $r = $p1->post('/sys/subparticipants', json => { communities => ['SUV'] });
	is($r->{status}, 200, 'P1 creates a subparticipant') or diag($r->{body});
	my $auth = ($r->{json} || {})->{auth_ids}[0]{auth_id} // 'none';
	my $sc = $d->as($auth);
	my $g = $sc->get('/sys/configs');
	is($g->{status}, 200, 'subparticipant GET /sys/configs');
	$g = $sc->post('/sys/configs', json => { selfrouting => $T, participant_events => $F });
	is($g->{status}, 200, 'subparticipant POST /sys/configs');
	ok(jtrue($g->{json}{selfrouting}) && jfalse($g->{json}{participant_events}), 'subparticipant state');
	ok(jfalse(($p1->get('/sys/configs')->{json} || {})->{selfrouting}), 'parent unaffected');
}

$d->stop_ok;
done_testing;
