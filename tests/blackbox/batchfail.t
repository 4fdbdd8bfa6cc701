# A change that fails after it wrote: message creation and queue pops run
# without a savepoint of their own (http_begin_plain_write), so such a
# failure rolls back the whole batch it was in. Whatever the batching, a
# 201 (or a popped message) must be kept and anything else must have no
# effect: nothing acknowledged is lost, nothing refused is half done.
#
# The failures come from triggers added to the database under the daemon:
# an insert of a link to a message whose body is "poison" fails, and so
# does the removal of a link to a message whose body is "stuck". A link
# to a message whose body is "stale" is refused as a constraint refuses
# it, as when a concurrent request deleted what it names: 409.
use strict;
use warnings;
use Test::More;
use Ecsd;

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $PG = Ecsd::pg();
plan skip_all => 'needs the sqlite3 program' if !$PG && system('sqlite3 -version >/dev/null 2>&1') != 0;

my $d = Ecsd->start;
$d->fixture_spec;
note('backend ' . Ecsd::backend());
my $X = '/numlab/exercises';
my %to = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'));
my $p1 = $d->as('P1');
my $p2 = $d->as('P2');

sub sql { return $d->sql(@_) }

# How many messages with this body the database holds.
sub stored {
	my ($body) = @_;
	my $t = $PG ? "convert_from(body, 'UTF8')" : 'CAST(body AS TEXT)';
	my $n = sql("SELECT count(*) FROM messages WHERE $t = '$body'");
	$n =~ s/\s+//g;
	return $n;
}

sub poison_on {
	if ($PG) {
		sql(q{
CREATE FUNCTION batchfail_poison() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE b text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT convert_from(body, 'UTF8') INTO b FROM messages
		    WHERE id = NEW.message_id;
		IF b = 'poison' THEN
			RAISE EXCEPTION 'poisoned by batchfail.t';
		END IF;
		RETURN NEW;
	END IF;
	SELECT convert_from(body, 'UTF8') INTO b FROM messages
	    WHERE id = OLD.message_id;
	IF b = 'stuck' THEN
		RAISE EXCEPTION 'stuck by batchfail.t';
	END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER batchfail_poison BEFORE INSERT OR DELETE ON links
    FOR EACH ROW EXECUTE FUNCTION batchfail_poison();
});
		return;
	}
	sql(q{
CREATE TRIGGER batchfail_poison BEFORE INSERT ON links
WHEN (SELECT CAST(body AS TEXT) FROM messages WHERE id = NEW.message_id) = 'poison'
BEGIN SELECT RAISE(ABORT, 'poisoned by batchfail.t'); END;
CREATE TRIGGER batchfail_stuck BEFORE DELETE ON links
WHEN (SELECT CAST(body AS TEXT) FROM messages WHERE id = OLD.message_id) = 'stuck'
BEGIN SELECT RAISE(ABORT, 'stuck by batchfail.t'); END;
});
}

sub poison_off {
	if ($PG) {
		sql('DROP TRIGGER batchfail_poison ON links; DROP FUNCTION batchfail_poison()');
	} else {
		sql('DROP TRIGGER batchfail_poison; DROP TRIGGER batchfail_stuck;');
	}
}

# Every message in P2's queue, popped: body => count.
sub drain {
	my %got;
	for (1 .. 1000) {
		my $r = $p2->post("$X/fifo");
		die "fifo: $r->{status}" unless $r->{status} == 200;
		last if ($r->{body} // '') eq '';
		$got{ $r->{body} }++;
	}
	return \%got;
}

poison_on();

# ---------------------------------------------------------------- one request

my $r = $p1->post($X, body => 'poison', ctype => 'text/plain', headers => \%to);
cmp_ok($r->{status}, '>=', 400, "a create that fails after its first write: $r->{status}");
like($r->{body} // '', qr/^[^\n]+\n?\z/, 'with one line of text');
is_deeply(drain(), {}, 'and nothing of it reached the receiver');
is(stored('poison'), 0, 'nor is anything of it stored');
my $ok = $p1->post($X, body => 'fine', ctype => 'text/plain', headers => \%to);
is($ok->{status}, 201, 'the next create works');
is_deeply(drain(), { fine => 1 }, 'and is received once');

# ---------------------------------------------------------------- many at once

my (%acked, %refused, %status, %pstatus);
my $poisoned_201 = 0;
for my $round (1 .. 6) {
	my @c;
	for my $i (1 .. 8) {
		my $body = $i % 4 == 0 ? 'poison' : "r$round-m$i";
		push @c, [$body, $p1->fresh->start_request(POST => $X, body => $body,
		    ctype => 'text/plain', headers => \%to)];
	}
	for my $c (@c) {
		my ($body, $cl) = @$c;
		my $res = $cl->finish_request;
		if ($body eq 'poison') {
			$pstatus{ $res->{status} }++;
			$poisoned_201++ if $res->{status} == 201;
			next;
		}
		$status{ $res->{status} }++;
		if ($res->{status} == 201) {
			$acked{$body} = 1;
		} else {
			$refused{$body} = $res->{status};
		}
	}
}
is($poisoned_201, 0, 'no poisoned create is acknowledged (' .
    join(', ', map { "$_: $pstatus{$_}" } sort keys %pstatus) . ')');
# A batch rolled back answers 503; on PostgreSQL the request that finds a
# failure left in the pipeline by another answers 500.
my @odd = grep { $_ != 201 && $_ != 503 && $_ != 500 } keys %status;
is_deeply(\@odd, [], 'the others get 201, or a 5xx with a batch rolled back (' .
    join(', ', map { "$_: $status{$_}" } sort keys %status) . ')');
my $got = drain();
my @lost = grep { !$got->{$_} } sort keys %acked;
is_deeply(\@lost, [], 'every acknowledged message is received (' . scalar(keys %acked) . ')');
my @twice = grep { $got->{$_} > 1 } sort keys %$got;
is_deeply(\@twice, [], 'each once');
my @ghost = grep { !$acked{$_} } sort keys %$got;
is_deeply(\@ghost, [], 'and nothing refused was received (' . scalar(keys %refused) . ' refused)');
is(stored('poison'), 0, 'no refused create left a message behind in the database');

# ---------------------------------------------------------------- pops

my $s = $p1->post($X, body => 'stuck', ctype => 'text/plain', headers => \%to);
is($s->{status}, 201, 'a message whose link cannot be removed');
my $pop = $p2->post("$X/fifo");
cmp_ok($pop->{status}, '>=', 400, "popping it fails: $pop->{status}");
poison_off();
$pop = $p2->post("$X/fifo");
is($pop->{status}, 200, 'once the removal works again, the pop works');
is($pop->{body}, 'stuck', 'and the message was not lost');
is_deeply(drain(), {}, 'the queue is empty after it');

# ------------------------------------------------------- pops sent together

# Pops that arrive together run together (on PostgreSQL, with their heads
# read in one statement). One of them fails after writing: its batch goes,
# and with it the pops that ran before it in the batch.
poison_on();
my @sent = ('t1', 't2', 'stuck', 't3', 't4', 't5');
is($p1->post($X, body => $_, ctype => 'text/plain', headers => \%to)->{status}, 201,
    "queued $_") for @sent;
my @pc = map { $p2->fresh->start_request(POST => "$X/fifo") } 1 .. 8;
my (%popped, %pop_status);
for my $res (map { $_->finish_request } @pc) {
	$pop_status{ $res->{status} }++;
	$popped{ $res->{body} }++ if $res->{status} == 200 && length($res->{body} // '');
}
ok(!$popped{stuck}, 'the message that cannot be removed is not handed out');
# 409 where the failed removal is the pop's own (SQLite: a constraint).
my @bad = grep { $_ != 200 && $_ != 409 && $_ != 503 && $_ != 500 } keys %pop_status;
is_deeply(\@bad, [], 'the pops get 200, or 409 or a 5xx (' .
    join(', ', map { "$_: $pop_status{$_}" } sort keys %pop_status) . ')');
poison_off();
my $left = drain();
my %all = %popped;
$all{$_} += $left->{$_} for keys %$left;
is_deeply(\%all, { map { ($_ => 1) } @sent },
    'each message was popped once, then or afterwards');

# ---------------------------------------------------------------- 409

# An update whose new link a constraint refuses, as when a concurrent
# request deleted what it names (12.6): 409 with a short text, and the
# message as it was.
my $stale = $p1->post($X, body => 'stale', ctype => 'text/plain', headers => \%to);
is($stale->{status}, 201, 'a message to update');
(my $sid = $stale->{headers}{location} // '') =~ s{.*/}{};
like($sid, qr/^\d+$/, 'its id');
if ($PG) {
	sql(q{
CREATE FUNCTION batchfail_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT convert_from(body, 'UTF8') FROM messages
	    WHERE id = NEW.message_id) = 'stale' THEN
		RAISE EXCEPTION 'stale by batchfail.t'
		    USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER batchfail_stale BEFORE INSERT ON links
    FOR EACH ROW EXECUTE FUNCTION batchfail_stale();
});
} else {
	sql(q{
CREATE TRIGGER batchfail_stale BEFORE INSERT ON links
WHEN (SELECT CAST(body AS TEXT) FROM messages WHERE id = NEW.message_id) = 'stale'
BEGIN SELECT RAISE(ABORT, 'stale by batchfail.t'); END;
});
}
my $u = $p1->put("$X/$sid", body => 'changed', ctype => 'text/plain', headers => \%to);
is($u->{status}, 409, 'an update whose link is refused: 409');
is($u->{body}, "Attempted to change a stale object\n", 'with a short text');
sql($PG ? 'DROP TRIGGER batchfail_stale ON links; DROP FUNCTION batchfail_stale()'
    : 'DROP TRIGGER batchfail_stale;');
is($p1->get("$X/$sid")->{body}, 'stale', 'the message is as it was');
is_deeply(drain(), { stale => 1 }, 'and still in the queue once');

ok($d->loggrep(qr/batch is rolled back|commit failed/), 'the daemon says why the batch went');
$d->stop_ok;
undef $d;
done_testing();
