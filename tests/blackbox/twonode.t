# Two ecsd nodes on one PostgreSQL database (store = postgresql): poppers on
# both nodes racing for one queue get every message exactly once, posted on
# either node; a waiter on one node is woken by a post on the other; what
# the admin API changes on one node is seen by the other, and a participant
# deleted there leaves nothing naming it while the other posts to it, nor
# a message popped there while the other re-addresses it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();
plan skip_all => 'two nodes need a database both can use: PostgreSQL ' .
    '(ECSD_TEST_PGHOST, see tests/pg/pgserver)' unless Ecsd::pg();

my $MESSAGES = $ENV{TWONODE_MESSAGES} || 3000;
my $POSTERS = 2;	# per node
my $POPPERS = 4;	# per node
my $X = '/numlab/exercises';

my $na = Ecsd->start;
$na->fixture_spec;
my $nb = Ecsd->start(pg_db => $na->pg_db);
$nb->fixture_spec;	# the same document again: nothing to create
my %node = (A => $na, B => $nb);
is_deeply($nb->names->{participants}{ $Ecsd::SPEC_NAMES{P2} }{mids},
    $na->names->{participants}{ $Ecsd::SPEC_NAMES{P2} }{mids},
    'both nodes see one installation');
ok($na->loggrep(qr/^ecsd: info: store postgresql .*dbname=\Q${\ $na->pg_db }\E/), 'node A on the database');
ok($nb->loggrep(qr/^ecsd: info: store postgresql .*dbname=\Q${\ $na->pg_db }\E/), 'node B on the same one');

my $tmp = tempdir('ecsd-twonode-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---------------------------------------------------------------- exactly once

subtest "$MESSAGES messages posted on both nodes, popped on both, each once" => sub {
	my $wuv = $na->mid(P2 => 'WUV');
	my $done = "$tmp/posting-done";
	my (@posters, @poppers);
	my $per = int(($MESSAGES + 2 * $POSTERS - 1) / (2 * $POSTERS));
	my $t0 = time;
	for my $n (qw(A B)) {
		for my $k (1 .. $POSTERS) {
			my $d = $node{$n};
			push @posters, child("$tmp/post-$n$k", sub {
				my ($fh) = @_;
				my $c = $d->as('P1')->fresh;
				for my $i (1 .. $per) {
					my $body = "m-$n$k-$i";
					my $r;
					for my $try (1 .. 20) {
						$r = $c->post($X, body => $body, ctype => 'text/plain',
						    headers => { 'X-EcsReceiverMemberships' => $wuv });
						last if $r->{status} == 201;
						print $fh "status $r->{status}\n";
						sleep 0.05;
					}
					print $fh "posted $body " . (Ecsd::loc_id($r) // '-') . "\n"
					    if $r->{status} == 201;
				}
			});
		}
		for my $k (1 .. $POPPERS) {
			my $d = $node{$n};
			push @poppers, child("$tmp/pop-$n$k", sub {
				my ($fh) = @_;
				my $c = $d->as('P2')->fresh;
				pop_until_done($c, $X, $done, $fh, 600);
			});
		}
	}
	my $bad = 0;
	for my $p (@posters) {
		waitpid($p, 0);
		$bad++ if $?;
	}
	is($bad, 0, 'the posters finished');
	open(my $f, '>', $done) or die;
	close $f;
	my $tpost = time - $t0;
	$bad = 0;
	for my $p (@poppers) {
		waitpid($p, 0);
		$bad++ if $?;
	}
	is($bad, 0, 'the poppers finished');

	my (%posted, %id, %popped, %pstatus, %qstatus, %bynode);
	for my $n (qw(A B)) {
		for my $k (1 .. $POSTERS) {
			for (lines_of("$tmp/post-$n$k")) {
				if (/^posted (\S+) (\S+)$/) {
					$posted{$1}++;
					$id{$2}++;
				} elsif (/^status (\d+)/) {
					$pstatus{$1}++;
				}
			}
		}
		for my $k (1 .. $POPPERS) {
			for (lines_of("$tmp/pop-$n$k")) {
				if (/^popped (.*)$/) {
					$popped{$1}++;
					$bynode{$n}++;
				} elsif (/^status (\d+)/) {
					$qstatus{$1}++;
				}
			}
		}
	}
	my $tall = time - $t0;
	is(scalar(keys %posted), 2 * $POSTERS * $per, 'every post answered 201');
	is(scalar(keys %id), scalar(keys %posted), 'with an id of its own (no id given twice)');
	is_deeply(\%pstatus, {}, 'no post needed a retry');
	my @lost = grep { !$popped{$_} } sort keys %posted;
	my @twice = grep { $popped{$_} > 1 } sort keys %popped;
	my @strange = grep { !$posted{$_} } sort keys %popped;
	is(scalar(@lost), 0, 'no message lost') or diag("lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");
	is(scalar(@twice), 0, 'no message popped twice') or diag("twice: @twice[0 .. ($#twice < 9 ? $#twice : 9)]");
	is(scalar(@strange), 0, 'nothing popped that was not posted');
	is_deeply(\%qstatus, {}, 'every pop answered 200');
	ok(($bynode{A} // 0) > 0 && ($bynode{B} // 0) > 0,
	    "both nodes popped (A " . ($bynode{A} // 0) . ", B " . ($bynode{B} // 0) . ')');
	note(sprintf('%d messages: posted in %.1f s, all popped after %.1f s', scalar(keys %posted), $tpost, $tall));
	is($na->as('P2')->post("$X/fifo")->{body}, '', 'the queue is empty on A');
	is($nb->as('P2')->post("$X/fifo")->{body}, '', 'and on B');
	# The created events were made once each, whichever node posted.
	my $ev = $nb->as('P2')->get('/sys/events');
	is(scalar(grep { $_->{status} eq 'created' } @{ $ev->{json} || [] }),
	    scalar(keys %posted), 'one created event per message') or diag($ev->{status});
	is($na->as('P2')->post('/sys/events/fifo?count=-1')->{status}, 200, 'events popped');
	is_deeply($nb->as('P2')->get('/sys/events')->{json}, [], 'and gone on B too');
};

# ---------------------------------------------------------------- events popped on both

subtest 'events popped on both nodes at once, each once' => sub {
	my $n = 400;
	my $wuv = $na->mid(P2 => 'WUV');
	my %ids;
	my $c = $na->as('P1');
	for my $i (1 .. $n) {
		my $d = $i % 2 ? $na : $nb;
		my $r = $d->as('P1')->post($X, body => "e$i", ctype => 'text/plain',
		    headers => { 'X-EcsReceiverMemberships' => $wuv });
		$ids{ Ecsd::loc_id($r) // "fail$i" } = 1;
	}
	my @kids;
	for my $nn (qw(A B)) {
		for my $k (1 .. 3) {
			my $d = $node{$nn};
			push @kids, child("$tmp/ev-$nn$k", sub {
				my ($fh) = @_;
				my $cl = $d->as('P2')->fresh;
				my $empty = 0;
				while ($empty < 3) {
					my $r = $cl->post('/sys/events/fifo?count=7');
					if ($r->{status} != 200) {
						print $fh "status $r->{status}\n";
						next;
					}
					my @e = @{ $r->{json} || [] };
					$empty = @e ? 0 : $empty + 1;
					print $fh "event $_->{ressource} $_->{status}\n" for @e;
				}
			});
		}
	}
	waitpid($_, 0) for @kids;
	my (%seen, %st);
	for my $nn (qw(A B)) {
		for my $k (1 .. 3) {
			for (lines_of("$tmp/ev-$nn$k")) {
				$seen{$1}++ if m{^event numlab/exercises/(\d+) created$};
				$st{$1}++ if /^status (\d+)/;
			}
		}
	}
	is(scalar(keys %seen), $n, "all $n events popped");
	is(scalar(grep { !$ids{$_} } keys %seen), 0, 'only those');
	is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'none twice');
	is_deeply(\%st, {}, 'every pop answered 200');
	# the messages stay in the queue; pop them so that later tests start clean
	my $q = $nb->as('P2');
	my $k = 0;
	$k++ while length $q->post("$X/fifo")->{body} && $k < $n + 5;
	is($k, $n, 'the messages themselves are still queued once');
};

# ---------------------------------------------------------------- wake-ups

for my $dir (['A', 'B'], ['B', 'A']) {
	my ($wn, $pn) = @$dir;
	subtest "a waiter on node $wn is woken by a post on node $pn" => sub {
		my $w = $node{$wn}->as('P3')->fresh;
		my $t0 = time;
		$w->start_request(POST => '/sys/events/fifo?wait=20', timeout => 30);
		sleep 0.5;
		my $id = create_ok($node{$pn}->as('P1'), $X,
		    mids => [$node{$pn}->mid(P3 => 'public')], body => "wake $wn", ctype => 'text/plain');
		my $r = $w->finish_request;
		my $dt = time - $t0;
		is($r->{status}, 200, 'answered 200');
		is_deeply([map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] }],
		    ["numlab/exercises/$id created"], 'with the event of the post, popped');
		ok($dt < 3, sprintf('well before the wait of 20 s ran out (%.2f s)', $dt));
		is(length($node{$wn}->as('P3')->post("$X/fifo")->{body}) > 0, 1, 'the message is there');
	};
}

subtest 'waiters on both nodes, one post: only the addressee wakes' => sub {
	my $w3 = $na->as('P3')->fresh;
	my $w4 = $nb->as('P4')->fresh;
	my $t0 = time;
	$w3->start_request(GET => '/sys/events/fifo?wait=3', timeout => 30);
	$w4->start_request(GET => '/sys/events/fifo?wait=20', timeout => 30);
	sleep 0.5;
	create_ok($na->as('P1'), $X, mids => [$na->mid(P4 => 'public')], body => 'for P4', ctype => 'text/plain');
	my $r4 = $w4->finish_request;
	my $d4 = time - $t0;
	my $r3 = $w3->finish_request;
	my $d3 = time - $t0;
	is(scalar @{ $r4->{json} || [] }, 1, 'P4 (waiting on B) got its event');
	ok($d4 < 3, sprintf('at once (%.2f s)', $d4));
	is_deeply($r3->{json}, [], 'P3 (waiting on A) got nothing');
	ok($d3 >= 2.8, sprintf('after its whole wait (%.2f s)', $d3));
	$nb->as('P4')->post('/sys/events/fifo?count=-1');
	$nb->as('P4')->post("$X/fifo");
};

# ---------------------------------------------------------------- admin changes

# Poll $code on a node until it returns true, for at most 3 seconds.
sub soon {
	my ($code) = @_;
	my $t0 = time;
	while (1) {
		my $v = $code->();
		return $v if $v || time - $t0 > 3;
		sleep 0.05;
	}
}

subtest 'admin changes on node A are seen by node B' => sub {
	my $adm = $na->admin;

	# A new participant: B knew the identity as nobody before.
	is($nb->as('newcomer')->get('/sys/memberships')->{status}, 401, 'B: newcomer unknown');
	my $r = $adm->post('/admin/participants', json => { name => 'newcomer',
	    organization_id => $na->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    auth_ids => ['newcomer'], communities => ['WUV'] });
	is($r->{status}, 201, 'A: participant created') or diag($r->{body});
	my $np = $r->{json}{id};
	ok(soon(sub { $nb->as('newcomer')->get('/sys/memberships')->{status} == 200 }),
	    'B: the newcomer authenticates');

	# A membership.
	my $ms = $nb->as('P3')->get('/sys/memberships')->{json} || [];
	ok(!(grep { $_->{community}{name} eq 'SUV' } @$ms), 'B: P3 not in SUV');
	$r = $adm->post('/admin/memberships', json => { participant_id => $na->pid('P3'),
	    community_id => $na->cid('SUV') });
	is($r->{status}, 201, 'A: P3 joins SUV') or diag($r->{body});
	ok(soon(sub { grep { $_->{community}{name} eq 'SUV' }
	    @{ $nb->as('P3')->get('/sys/memberships')->{json} || [] } }), 'B: P3 is in SUV');

	# A resource, unknown to B before (and perhaps cached as such).
	is($nb->as('P1')->get('/twonode/things')->{status}, 404, 'B: /twonode/things unknown');
	$r = $adm->post('/admin/resources', json => { namespace => 'twonode', name => 'things',
	    postroute => JSON::PP::false, events => JSON::PP::true });
	is($r->{status}, 201, 'A: resource created') or diag($r->{body});
	ok(soon(sub { $nb->as('P1')->post('/twonode/things', body => 'x', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $na->mid(P2 => 'WUV') })->{status} == 201 }),
	    'B: posts to it');

	# Auth ids replaced: B forgets the old one it has used.
	is($nb->as('trulane')->get('/sys/memberships')->{status}, 200, 'B: trulane is P4');
	$r = $adm->put('/admin/participants/' . $na->pid('P4'), json => { auth_ids => ['trulane2'] });
	is($r->{status}, 200, 'A: P4 gets another auth id') or diag($r->{body});
	ok(soon(sub { $nb->as('trulane')->get('/sys/memberships')->{status} == 401 }),
	    'B: the old auth id no longer works');
	is($nb->as('trulane2')->get('/sys/memberships')->{status}, 200, 'B: the new one does');

	# A password changed on A: B forgets the one it verified.
	my $basic = sub {
		my ($d, $pw) = @_;
		return Ecsd::Client->new($d, { Authorization => 'Basic ' .
		    encode_base64("newcomer:$pw", '') })->get('/sys/memberships')->{status};
	};
	$r = $adm->put("/admin/participants/$np/password", json => { auth_id => 'newcomer', password => 'first password' });
	is($r->{status}, 200, 'A: password set') or diag($r->{body});
	ok(soon(sub { $basic->($nb, 'first password') == 200 }), 'B: it authenticates');
	$r = $adm->put("/admin/participants/$np/password", json => { auth_id => 'newcomer', password => 'second password' });
	is($r->{status}, 200, 'A: password changed');
	ok(soon(sub { $basic->($nb, 'first password') == 401 }), 'B: the old password fails');
	is($basic->($nb, 'second password'), 200, 'B: the new one works');

	# A participant deleted.
	$r = $adm->delete("/admin/participants/$np");
	is($r->{status}, 200, 'A: newcomer deleted');
	ok(soon(sub { $nb->as('newcomer')->get('/sys/memberships')->{status} == 401 }),
	    'B: the newcomer is gone');
};

# What names a participant's rows without a foreign key (PostgreSQL schema
# version 5): the store's own lock and cleanup keep anything from naming it
# once it is deleted, whichever node was writing at the time.
subtest 'a participant deleted on node A while node B posts to it' => sub {
	my $adm = $na->admin;
	my $r = $adm->post('/admin/participants', json => { name => 'leaving',
	    organization_id => $na->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    auth_ids => ['leaving'], communities => ['WUV'] });
	is($r->{status}, 201, 'A: participant created') or diag($r->{body});
	my $pid = $r->{json}{id};
	chomp(my $mid = Ecsd::pg_psql($na->pg_db,
	    "SELECT id FROM memberships WHERE participant_id = $pid"));
	like($mid, qr/^\d+$/, 'with a membership in WUV');
	my $go = "$tmp/leaving-go";
	my @kids;
	for my $k (1 .. 2) {
		push @kids, child("$tmp/leaving-$k", sub {
			my ($fh) = @_;
			my $c = $nb->as('P1')->fresh;
			my ($t0, $after) = (time, 0);
			# Until 40 posts after the deletion, 20 s at most.
			while ($after < 40 && time - $t0 < 20) {
				my $r = $c->post($X, body => "leaving-$k", ctype => 'text/plain',
				    headers => { 'X-EcsReceiverMemberships' => $mid });
				print $fh "status $r->{status}\n";
				$after++ if -e $go;
			}
		});
	}
	sleep 0.5;
	$r = $adm->delete("/admin/participants/$pid");
	is($r->{status}, 200, 'A: deleted while B posts to it') or diag($r->{body});
	open(my $f, '>', $go) or die;
	close $f;
	my $bad = 0;
	for my $p (@kids) {
		waitpid($p, 0);
		$bad++ if $?;
	}
	is($bad, 0, 'the posters finished');
	my %st;
	for my $k (1 .. 2) {
		/^status (\d+)/ and $st{$1}++ for lines_of("$tmp/leaving-$k");
	}
	note(join(', ', map { "$_: $st{$_}" } sort keys %st));
	ok($st{201}, 'B: posts to it answered 201 before the deletion');
	ok(grep({ $_ >= 400 && $_ < 500 } keys %st), 'and were refused after it');
	is_deeply([grep { $_ != 201 && $_ != 503 && ($_ < 400 || $_ >= 500) } sort keys %st], [],
	    'nothing else (503 for a batch that named it just as it went)');
	is(Ecsd::pg_psql($na->pg_db, 'SELECT ' .
	    '(SELECT count(*) FROM links l WHERE NOT EXISTS ' .
	    '(SELECT 1 FROM memberships m WHERE m.id = l.membership_id)) + ' .
	    '(SELECT count(*) FROM events e WHERE NOT EXISTS ' .
	    '(SELECT 1 FROM participants p WHERE p.id = e.participant_id)) + ' .
	    "(SELECT count(*) FROM links WHERE membership_id = $mid) + " .
	    "(SELECT count(*) FROM events WHERE participant_id = $pid)"), "0\n",
	    'no link or event names the participant or its membership');
	is($nb->as('P1')->post($X, body => 'after', ctype => 'text/plain',
	    headers => { 'X-EcsReceiverMemberships' => $na->mid(P2 => 'WUV') })->{status}, 201,
	    'B: other posts go on');
	is($na->as('P2')->post('/sys/events/fifo?count=-1')->{status}, 200, 'events popped');
	is($na->as('P2')->post("$X/fifo")->{body}, 'after', 'P2 got it');
};

# A message's receiver pops it on node A while its sender re-addresses it
# on node B (PostgreSQL schema version 6, no foreign keys to messages): an
# update that comes first gives the message to the new receiver as well,
# one that comes after its disposal finds it gone, and no row is left
# naming a message that is not there.
subtest 'messages popped on node A while node B re-addresses them' => sub {
	my $n = 30;
	my $R = '/numlab/results';	# no postroute: a popped message goes
	my ($p2, $p3) = ($na->mid(P2 => 'WUV'), $na->mid(P3 => 'public'));
	my @ids = map { create_ok($na->as('P1'), $R, mids => [$p2],
	    body => "readdress $_", ctype => 'text/plain', name => "message $_") } 1 .. $n;
	my $done = "$tmp/readdress-done";
	my $upd = child("$tmp/readdress-put", sub {
		my ($fh) = @_;
		my $c = $nb->as('P1')->fresh;
		# From the newest: the pops come from the oldest, they meet.
		for my $id (reverse @ids) {
			my $r = $c->put("$R/$id", body => "readdressed $id",
			    ctype => 'text/plain',
			    headers => { 'X-EcsReceiverMemberships' => "$p2,$p3" });
			print $fh "$id $r->{status}\n";
		}
		open(my $f, '>', $done) or die "$done: $!";
		close $f;
	});
	my $pop = child("$tmp/readdress-pop", sub {
		my ($fh) = @_;
		pop_until_done($na->as('P2')->fresh, $R, $done, $fh, 60);
	});
	waitpid($upd, 0);
	is($?, 0, 'B: the updates finished');
	waitpid($pop, 0);
	is($?, 0, 'A: the pops finished');
	my (%put, %st);
	for (lines_of("$tmp/readdress-put")) {
		my ($id, $status) = split;
		$put{$id} = $status;
		$st{$status}++;
	}
	note('updates: ' . join(', ', map { "$_: $st{$_}" } sort keys %st));
	is(scalar(keys %put), $n, 'every message was updated once');
	is_deeply([grep { !/^(200|404|409|503)$/ } sort keys %st], [],
	    'each update was made, or found the message gone (or 503)');
	my %got;
	for (lines_of("$tmp/readdress-pop")) {
		/^popped readdress(?:ed (\d+)| (\d+))$/ or next;
		$got{ defined $1 ? $1 : $ids[$2 - 1] }++;
	}
	is_deeply([sort { $a <=> $b } keys %got], [sort { $a <=> $b } @ids],
	    'A: the old receiver got every message');
	is_deeply([grep { $got{$_} != 1 } keys %got], [], 'each once');
	my (@p3, $r);
	while (($r = $na->as('P3')->post("$R/fifo"))->{status} == 200 &&
	    length $r->{body}) {
		push @p3, $1 if $r->{body} =~ /^readdressed (\d+)$/;
	}
	is_deeply([sort { $a <=> $b } @p3],
	    [sort { $a <=> $b } grep { $put{$_} == 200 } @ids],
	    'the new receiver got the messages whose update was made, once each');
	is(Ecsd::pg_psql($na->pg_db, 'SELECT ' .
	    '(SELECT count(*) FROM links l WHERE NOT EXISTS ' .
	    '(SELECT 1 FROM messages m WHERE m.id = l.message_id)) + ' .
	    '(SELECT count(*) FROM events e WHERE NOT EXISTS ' .
	    '(SELECT 1 FROM messages m WHERE m.id = e.message_id))'), "0\n",
	    'no link or event names a message that is not there');
	for my $p (qw(P2 P3)) {
		is($na->as($p)->post('/sys/events/fifo?count=-1')->{status}, 200,
		    "$p: events popped");
	}
};

# ---------------------------------------------------------------- lost connections

subtest 'a node whose connection was cut is woken again' => sub {
	my $db = $na->pg_db;
	chomp(my $n = Ecsd::pg_psql('postgres', 'SELECT count(pg_terminate_backend(pid)) ' .
	    "FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()"));
	ok($n >= 2, "the connections of both nodes cut ($n)");
	ok($na->loggrep(qr/lost the notifications of other nodes/, 5), 'A: noticed');
	ok($na->loggrep(qr/notifications of other nodes work again/, 5), 'A: connected again');
	for my $round (1, 2) {
		my $w = $na->as('P3')->fresh;
		my $t0 = time;
		$w->start_request(POST => '/sys/events/fifo?wait=15', timeout => 30);
		sleep 0.3;
		my $id = create_ok($nb->as('P1'), $X, mids => [$nb->mid(P3 => 'public')],
		    body => "again $round", ctype => 'text/plain');
		my $r = $w->finish_request;
		my $dt = time - $t0;
		is_deeply([map { "$_->{ressource} $_->{status}" } @{ $r->{json} || [] }],
		    ["numlab/exercises/$id created"], "round $round: the waiter on A got the event");
		ok($dt < 3, sprintf('round %d: at once (%.2f s)', $round, $dt));
		$na->as('P3')->post("$X/fifo");
	}
};

subtest 'a node whose database stops answering answers 503, then serves again' => sub {
	my $db = $na->pg_db;
	my $others = "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()";
	my %before = map { $_ => 1 } split /\n/, Ecsd::pg_psql('postgres', $others);
	my $nc = Ecsd->start(pg_db => $db, conf => { postgresql_timeout => 3 });
	my @mine = grep { !$before{$_} } split /\n/, Ecsd::pg_psql('postgres', $others);
	is(scalar(@mine), 1, 'node C has one connection') or return;
	my $be = $mine[0];
	$nc->fixture_spec;	# the same document again: nothing to create
	my $to = { 'X-EcsReceiverMemberships' => $nc->mid(P2 => 'WUV') };
	is($nc->as('P1')->post($X, body => 'before', ctype => 'text/plain', headers => $to)->{status},
	    201, 'C answers');
	# Its backend stopped, as a hung server or a host gone in a failover
	# that left the connection open; a watchdog continues it after 20 s,
	# so that a node that waits for ever is seen answering late.
	ok(kill('STOP', $be), "C's backend (pid $be) stopped");
	my $dog = fork();
	if (defined $dog && $dog == 0) {
		sleep 20;
		kill('CONT', $be);
		POSIX::_exit(0);
	}
	my $t0 = time;
	my $r = $nc->as('P1')->fresh->post($X, body => 'during', ctype => 'text/plain',
	    headers => $to, timeout => 40);
	my $dt = time - $t0;
	my $a = $na->as('P1')->post($X, body => 'on A', ctype => 'text/plain', headers => $to);
	kill('CONT', $be);
	kill('KILL', $dog), waitpid($dog, 0) if $dog;
	is($r->{status}, 503, sprintf('C answers 503 (after %.1f s)', $dt));
	like($r->{body} // '', qr/try again later/i, 'saying to try again later');
	is($a->{status}, 201, 'node A serves meanwhile');
	ok($nc->loggrep(qr/PostgreSQL did not answer within 3 s/, 5), 'C says why in its log');
	my $again;
	for (1 .. 20) {
		$again = $nc->as('P1')->fresh->post($X, body => 'after', ctype => 'text/plain', headers => $to);
		last if $again->{status} == 201;
		sleep 0.25;
	}
	is($again->{status}, 201, 'C serves again on a new connection');
	my %got;
	while (1) {
		my $p = $nb->as('P2')->post("$X/fifo");
		last if $p->{status} != 200 || !length($p->{body} // '');
		$got{ $p->{body} }++;
	}
	is_deeply(\%got, { before => 1, 'on A' => 1, after => 1 },
	    'the messages answered 201 are there, the one answered 503 is not');
	is($nc->stop, 0, 'node C exits 0 after SIGTERM');
};

# The cut connections may have logged the server's FATAL: the rest counts.
for my $d ([$na, 'node A'], [$nb, 'node B']) {
	my ($node, $name) = @$d;
	is($node->stop, 0, "$name exits 0 after SIGTERM");
	my @bad = grep { !/terminating connection due to administrator command/ } $node->bad_log_lines;
	ok(!@bad, "$name log is clean") or diag(join("\n", @bad));
}
done_testing();
