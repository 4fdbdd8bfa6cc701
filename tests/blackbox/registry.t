#!/usr/bin/perl
# The course registry plugin (registry(7)) end to end: a real ecsd hosts
# plugins/registry/registry.so through ecc-host ([plugin registry]); the
# participants talk to it with ordinary messages.  Roles, offers (invalid
# ones name their bad fields), approval and the CampusConnect courselink a
# plain LMS sees in its event queue, applications with capacity,
# completion, ratings, an Open Badges 3.0 credential that verifies (and a
# tampered one that does not), revocation, the one-day withdrawal rule,
# queries, announcements, analytics.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(strftime);
use JSON::PP ();
use Ecsd;
use File::Temp ();

plan skip_all => 'needs a local daemon' if Ecsd::external();
my $top = $ENV{top_builddir} // "$FindBin::Bin/../..";
my $srctop = $ENV{top_srcdir} // "$FindBin::Bin/../..";
my $HOST = "$top/tools/ecc-host";
my $SO = $ENV{REGISTRY_SO} // "$top/plugins/registry/registry.so";
plan skip_all => "$HOST not built" unless -x $HOST;
plan skip_all => "$SO not built" unless -f $SO;
my $J = JSON::PP->new->canonical;

my $d0 = File::Temp::tempdir('registry-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $DB = "$d0/registry.db";
my $d = Ecsd->start(conf => {
	plugin_host => $HOST,
	'plugin registry.path' => $SO,
	'plugin registry.communities' => 'demo',
	'plugin registry.database' => $DB,
	'plugin registry.superadmin' => 'admin1',
	'plugin registry.offer_url' => 'https://registry.example.org/offers/',
	'plugin registry.issuer' => 'https://registry.example.org/issuer',
});
ok(scalar($d->loggrep(qr/ecc-host\[registry\]: info: running registry/, 15)),
    'ecsd runs the registry plugin') or BAIL_OUT($d->log);

my @people = (
	[admin1 => 'admin1', 'admin@example.org'],
	[prov1 => 'prov1', 'office@provider.example'],
	['Anna Schmidt' => 'trainer1', 'anna@provider.example'],
	[trainee1 => 'trainee1', 'Trainee1@example.org'],
	[trainee2 => 'trainee2', 'trainee2@example.org'],
	[emp1 => 'emp1', 'hr@employer.example'],
	[lms1 => 'lms1', 'ilias@uni.example'],
);
$d->setup({
	organizations => [{ name => 'Demo', abbr => 'D', description => '' }],
	communities => [{ name => 'demo', description => '' }],
	participants => [map {; { name => $_->[0], description => '', dns => '',
	    email => $_->[2], organization => 'Demo',
	    community_selfrouting => JSON::PP::false, events => JSON::PP::true,
	    auth_ids => [$_->[1]], communities => ['demo'] } } @people],
});
my $REG = $d->mid('plugin-registry' => 'demo');
ok($REG, 'the registry is a member of demo');

my %seen;
# Send a request and wait for the registry's reply to it.
sub call {
	my ($who, $res, $body) = @_;
	my $r = $d->as($who)->post("/registry/$res", json => $body,
	    headers => { 'X-EcsReceiverMemberships' => $REG });
	return { status => 'post-failed', http => $r->{status}, body => $r->{body} }
	    unless $r->{status} == 201;
	my $id = Ecsd::loc_id($r);
	my $deadline = time + 15;
	while (time < $deadline) {
		for my $m (received($who, 'registry/replies')) {
			return $m if defined $m->{request} && $m->{request} == $id;
		}
		sleep 0.05;
	}
	return { status => 'timeout' };
}

# Messages of a resource not read before, as parsed JSON (kept per reader).
my %inbox;
sub received {
	my ($who, $res) = @_;
	my $l = $d->as($who)->get("/$res");
	for my $line (split /\n/, $l->{body} // '') {
		next unless $line =~ m{/(\d+)$};
		my $id = $1;
		next if $seen{"$who $res $id"}++;
		my $g = $d->as($who)->get("/$res/$id");
		my $m = eval { $J->decode($g->{body}) };
		push @{ $inbox{"$who $res"} }, $m if $m;
	}
	my $all = $inbox{"$who $res"} || [];
	$inbox{"$who $res"} = [];
	return @$all;
}

my @notices;
sub notices_of {
	my ($who, $type) = @_;
	my $deadline = time + 10;
	while (time < $deadline) {
		push @notices, map { +{ %$_, _to => $who } } grep { !defined $_->{request} }
		    received($who, 'registry/replies');
		my @n = grep { $_->{_to} eq $who && ($_->{type} // '') eq $type } @notices;
		return @n if @n;
		sleep 0.05;
	}
	return ();
}

sub day { strftime('%Y-%m-%d', gmtime(time + 86400 * $_[0])) }

# ---------------------------------------------------------------- roles
my $r = call('prov1', 'roles', { action => 'grant', participant => 'prov1', role => 'provider' });
is($r->{status}, 'error', 'only the superadmin grants roles');
for my $g (['prov1', 'provider'], ['Anna Schmidt', 'trainer'], ['trainee1', 'trainee'],
    ['trainee2', 'trainee'], ['emp1', 'employer']) {
	$r = call('admin1', 'roles', { action => 'grant', participant => $g->[0], role => $g->[1] });
	is($r->{status}, 'ok', "superadmin grants $g->[1] to $g->[0]") or diag(explain($r));
}
$r = call('prov1', 'roles', { action => 'mine' });
is_deeply($r->{roles}, ['provider'], 'a participant reads its roles');

# ---------------------------------------------------------------- offers
$r = call('prov1', 'offers', { action => 'submit', offer => {
	description => 'x', industry => 'metal', language => 'english',
	hours => -3, mode => 'teleport', price => 10, start_date => '2031-02-30',
	end_date => day(40), eqf_level => 9, min_participants => 1,
	max_participants => 5, colour => 'red', trainer => 'nobody' } });
is($r->{status}, 'error', 'an invalid offer is refused');
my %bad = map {; $_->{field} => $_->{message} } @{ $r->{errors} || [] };
for my $f (qw(title language hours mode start_date eqf_level colour trainer)) {
	ok(exists $bad{$f}, "the answer names the bad field $f") or diag(explain($r));
}
ok(!exists $bad{price} && !exists $bad{industry}, 'and no good field');

my %offer = (
	title => 'Robot welding with VR', description => 'Hands-on welding training.',
	industry => 'metal', language => 'en', hours => 24, mode => 'blended',
	price => 450.5, currency => 'EUR', start_date => day(30), end_date => day(33),
	location => 'Stuttgart, Hall 3', eqf_level => 5, ects => 3,
	min_participants => 1, max_participants => 1,
	learning_outcomes => ['Sets up a welding robot', 'Welds safely'],
	microcredential => JSON::PP::true, vr_ar => JSON::PP::true,
	trainer => 'Anna Schmidt',
);
$r = call('prov1', 'offers', { action => 'submit', offer => \%offer });
is($r->{status}, 'ok', 'a provider submits an offer') or diag(explain($r));
is($r->{state}, 'pending', 'it waits for approval');
my $OFFER = $r->{offer_id};
ok(scalar(notices_of('admin1', 'offer_pending')), 'the superadmin is told');

$r = call('prov1', 'decisions', { action => 'approve', offer_id => $OFFER });
is($r->{status}, 'error', 'a provider cannot approve');
$r = call('admin1', 'decisions', { action => 'approve', offer_id => $OFFER });
is($r->{status}, 'ok', 'the superadmin approves') or diag(explain($r));
ok(scalar(notices_of('prov1', 'offer_decision')), 'the provider is told');

# A plain participant sees the courselink through its event queue.
my ($link, $linkid);
{
	my $deadline = time + 15;
	while (time < $deadline && !$link) {
		my $e = $d->as('lms1')->post('/sys/events/fifo?count=10');
		my $evs = eval { $J->decode($e->{body}) } || [];
		for my $ev (@$evs) {
			if ($ev->{ressource} =~ m{^campusconnect/courselinks/(\d+)$} &&
			    $ev->{status} eq 'created') {
				$linkid = $1;
				$link = $d->as('lms1')->get("/campusconnect/courselinks/$linkid");
			}
		}
		sleep 0.1 unless $link;
	}
}
ok($link && $link->{status} == 200, 'lms1 gets a created event of a courselink and reads it');
my $cl = $link ? eval { $J->decode($link->{body}) } : undef;
is($cl->{title}, $offer{title}, 'courselink title');
is($cl->{lang}, 'en', 'courselink lang');
is($cl->{url}, "https://registry.example.org/offers/$OFFER", 'courselink url');
like($link->{headers}{'x-ecsreceivercommunities'} // '', qr/^\d+$/,
    'addressed to the community');
# Valid against cc_courselinks.schema.json (additionalProperties false).
{
	my $schema = do {
		local $/;
		my $f;
		open($f, '<', "$srctop/../shared/spec/campusconnect-schemas/cc_courselinks.schema.json")
		    or open($f, '<', '/work/shared/spec/campusconnect-schemas/cc_courselinks.schema.json')
		    or die "courselinks schema: $!";
		my $t = <$f>;
		$J->decode($t);
	};
	my @errs = check_schema($schema, $cl, '');
	ok(!@errs, 'the courselink is valid against cc_courselinks') or diag(join("\n", @errs));
}

# ---------------------------------------------------------------- applications
$r = call('trainee1', 'applications', { action => 'apply', offer_id => $OFFER });
is($r->{status}, 'ok', 'a trainee applies') or diag(explain($r));
my $APP1 = $r->{application_id};
is($r->{state}, 'pending', 'pending');
ok(scalar(notices_of('prov1', 'application')), 'the provider is told');
$r = call('trainee1', 'applications', { action => 'apply', offer_id => $OFFER });
is($r->{status}, 'error', 'twice is refused');
$r = call('trainee2', 'applications', { action => 'apply', offer_id => $OFFER,
    email => 'trainee2@example.org' });
my $APP2 = $r->{application_id};
ok($APP2, 'a second trainee applies');
$r = call('trainer1', 'applications', { action => 'apply', offer_id => $OFFER });
is($r->{status}, 'error', 'the trainer cannot apply');

$r = call('prov1', 'applications', { action => 'confirm', application_id => $APP1 });
is($r->{state}, 'confirmed', 'the provider confirms') or diag(explain($r));
my @n = notices_of('trainee1', 'application');
ok((grep { ($_->{state} // '') eq 'confirmed' } @n), 'the trainee gets the decision');
$r = call('prov1', 'applications', { action => 'confirm', application_id => $APP2 });
like($r->{error} // '', qr/full/, 'capacity is enforced');
$r = call('prov1', 'applications', { action => 'reject', application_id => $APP2 });
is($r->{state}, 'rejected', 'the provider rejects');

$r = call('trainee1', 'ratings', { action => 'rate', application_id => $APP1,
    target => 'course', score => 5 });
is($r->{status}, 'error', 'no rating before completion');
$r = call('trainee2', 'applications', { action => 'complete', application_id => $APP1 });
is($r->{status}, 'error', 'only the provider or trainer records completion');
$r = call('trainer1', 'applications', { action => 'complete', application_id => $APP1 });
is($r->{state}, 'completed', 'the trainer records completion') or diag(explain($r));
my $CREDID = $r->{credential_id};
like($CREDID // '', qr/^urn:uuid:[0-9a-f-]{36}$/, 'a credential is issued');

# ---------------------------------------------------------------- the badge
my $cred;
{
	my $deadline = time + 10;
	while (time < $deadline && !$cred) {
		($cred) = received('trainee1', 'registry/credentials');
		sleep 0.05 unless $cred;
	}
}
ok($cred, 'the trainee receives the credential');
is($cred->{id}, $CREDID, 'the same credential');
is_deeply($cred->{'@context'}, ['https://www.w3.org/ns/credentials/v2',
    'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json'], 'VC 2.0 + OB 3.0 contexts');
is_deeply($cred->{type}, ['VerifiableCredential', 'OpenBadgeCredential'], 'types');
ok($cred->{validFrom} && $cred->{issuer}{id}, 'validFrom and issuer');
my $ach = $cred->{credentialSubject}{achievement};
is($ach->{name}, $offer{title}, 'achievement name');
ok($ach->{criteria}{narrative}, 'criteria narrative');
is($ach->{alignment}[0]{targetCode}, '5', 'EQF alignment');
is($ach->{creditsAvailable}, 3, 'ECTS credits');
my $idobj = $cred->{credentialSubject}{identifier}[0];
ok($idobj->{hashed} && $idobj->{identityHash} =~ /^sha256\$[0-9a-f]{64}$/ &&
    $idobj->{salt}, 'recipient: salted hashed email');
is($cred->{proof}{cryptosuite}, 'eddsa-rdfc-2022', 'eddsa-rdfc-2022 proof');
like($cred->{proof}{proofValue}, qr/^z[1-9A-HJ-NP-Za-km-z]{80,90}$/, 'proofValue is base58btc');
like($cred->{proof}{verificationMethod}, qr/#z6Mk/, 'verificationMethod is a Multikey');
{
	my @st = stat("$DB.ed25519.pem");
	ok(@st && ($st[2] & 0777) == 0600, 'the signing key is stored with mode 0600');
}

$r = call('lms1', 'verifications', { action => 'verify', credential => $cred,
    email => 'trainee1@example.org' });
ok($r->{verified}, 'the credential verifies') or diag(explain($r));
my %step = map {; $_->{step} => $_->{result} } @{ $r->{checks} || [] };
is($step{proof}, 'passed', 'proof step passed');
is($step{recipient}, 'passed', 'recipient step passed');
is($step{status}, 'passed', 'status step passed');

my $bad = $J->decode($J->encode($cred));
$bad->{credentialSubject}{achievement}{name} = 'Robot welding master';
$r = call('lms1', 'verifications', { action => 'verify', credential => $bad });
ok(defined $r->{verified} && !$r->{verified}, 'a tampered credential fails');
%step = map {; $_->{step} => $_->{result} } @{ $r->{checks} || [] };
is($step{proof}, 'failed', 'at the proof step');

# ---------------------------------------------------------------- ratings
for my $t (['course', 5], ['provider', 4], ['trainer', 3]) {
	$r = call('trainee1', 'ratings', { action => 'rate', application_id => $APP1,
	    target => $t->[0], score => $t->[1], opinion => "fine $t->[0]" });
	is($r->{status}, 'ok', "the trainee rates the $t->[0]") or diag(explain($r));
}
$r = call('trainee1', 'ratings', { action => 'rate', application_id => $APP1,
    target => 'course', score => 1 });
like($r->{error} // '', qr/already rated/, 'once each');
$r = call('trainee1', 'ratings', { action => 'rate', application_id => $APP1,
    target => 'course', score => 7 });
ok((grep { $_->{field} eq 'score' } @{ $r->{errors} || [] }), 'score 1 to 5');
$r = call('lms1', 'offers', { action => 'get', offer_id => $OFFER });
is($r->{data}{ratings}{course}{average}, 5, 'course aggregate published with the offer');
is($r->{data}{ratings}{trainer}{count}, 1, 'trainer aggregate');
is($r->{data}{ratings}{provider}{average}, 4, 'provider aggregate');

# ---------------------------------------------------------------- revocation
$r = call('trainee1', 'verifications', { action => 'revoke', credential_id => $CREDID });
is($r->{status}, 'error', 'a trainee cannot revoke');
$r = call('prov1', 'verifications', { action => 'revoke', credential_id => $CREDID,
    reason => 'issued in error' });
is($r->{status}, 'ok', 'the provider revokes');
$r = call('lms1', 'verifications', { action => 'verify', credential => $cred });
%step = map {; $_->{step} => $_->{result} } @{ $r->{checks} || [] };
ok(!$r->{verified} && $step{status} eq 'failed' && $step{proof} eq 'passed',
    'a revoked credential fails the status step only');

# ---------------------------------------------------------------- withdrawal
$r = call('prov1', 'offers', { action => 'submit', offer => { %offer,
    title => 'Starts tomorrow', start_date => day(1), end_date => day(2) } });
my $SOON = $r->{offer_id};
call('admin1', 'decisions', { action => 'approve', offer_id => $SOON });
$r = call('prov1', 'offers', { action => 'withdraw', offer_id => $SOON });
like($r->{error} // '', qr/one day before/, 'withdrawal inside one day is refused');
$r = call('prov1', 'offers', { action => 'submit', offer => { %offer,
    title => 'Later', start_date => day(10), end_date => day(11), vr_ar => JSON::PP::false } });
my $LATER = $r->{offer_id};
call('admin1', 'decisions', { action => 'approve', offer_id => $LATER });
$r = call('prov1', 'offers', { action => 'withdraw', offer_id => $LATER });
is($r->{state}, 'withdrawn', 'withdrawal earlier is accepted');

# ---------------------------------------------------------------- queries
$r = call('lms1', 'queries', { action => 'offers', filters => { language => 'en',
    vr_ar => JSON::PP::true }, page => 1, per_page => 1 });
is($r->{total}, 2, 'query: two published VR offers in English');
is(scalar(@{ $r->{data} }), 1, 'paginated');
$r = call('lms1', 'queries', { action => 'offers', filters => { text => 'TOMORROW' } });
is($r->{total}, 1, 'free text');
is($r->{data}[0]{offer_id}, $SOON, 'finds the offer');
$r = call('lms1', 'queries', { action => 'offers', filters => { mode => 'online' } });
is($r->{total}, 0, 'mode filter');

# ---------------------------------------------------------------- announcements
$r = call('emp1', 'announcements', { action => 'post', announcement => {
    kind => 'training', title => 'Welders wanted', persons => 4, subject => 'TIG',
    location => 'Ulm', industry => 'metal', content => 'Four welders need TIG.' } });
is($r->{status}, 'ok', 'an employer announces') or diag(explain($r));
ok(scalar(notices_of('prov1', 'announcement')), 'providers see it');
$r = call('emp1', 'announcements', { action => 'post', announcement => { kind => 'x' } });
my %af = map {; $_->{field} => 1 } @{ $r->{errors} || [] };
ok($af{kind} && $af{title}, 'a bad announcement names its fields');

# ---------------------------------------------------------------- analytics
$r = call('prov1', 'analytics', { action => 'offer', offer_id => $OFFER });
is($r->{applications}, 2, 'analytics: applications');
is($r->{completions}, 1, 'analytics: completions');
is($r->{ratings}{course}{average}, 5, 'analytics: average rating');
$r = call('prov1', 'analytics', { action => 'provider' });
is($r->{offers}, 3, 'per provider: offers');
$r = call('lms1', 'analytics', { action => 'audit' });
is($r->{status}, 'error', 'the audit log is the superadmin\'s');
$r = call('admin1', 'analytics', { action => 'audit', limit => 200 });
my %acts = map {; $_->{action} => 1 } @{ $r->{data} || [] };
ok($acts{offer_approve} && $acts{complete} && $acts{badge_issue} &&
    $acts{badge_revoke} && $acts{offer_withdraw_refused}, 'decisions are audited');

is($d->stop, 0, 'ecsd stops cleanly');
my @san = grep { /AddressSanitizer|LeakSanitizer|runtime error/ } split /\n/, $d->log;
ok(!@san, 'no sanitizer reports') or diag(join("\n", @san));
done_testing();

# A draft-03 subset checker for the courselinks schema.
sub check_schema {
	my ($s, $v, $path) = @_;
	my @e;
	if (my $t = $s->{type}) {
		my $ok = $t eq 'object' ? ref $v eq 'HASH' : $t eq 'array' ? ref $v eq 'ARRAY' :
		    $t eq 'integer' ? (!ref $v && $v =~ /^-?\d+$/) :
		    $t eq 'string' ? (!ref $v) : 1;
		return ("$path: not $t") unless $ok;
	}
	if ($s->{enum}) {
		push @e, "$path: not in enum" unless grep { $_ eq $v } @{ $s->{enum} };
	}
	if (ref $v eq 'HASH') {
		my $p = $s->{properties} || {};
		for my $k (keys %$p) {
			push @e, "$path/$k: required" if $p->{$k}{required} && !exists $v->{$k};
		}
		for my $k (keys %$v) {
			if ($p->{$k}) {
				push @e, check_schema($p->{$k}, $v->{$k}, "$path/$k");
			} elsif (defined $s->{additionalProperties} && !$s->{additionalProperties}) {
				push @e, "$path/$k: not allowed";
			}
		}
	}
	if (ref $v eq 'ARRAY' && $s->{items}) {
		push @e, check_schema($s->{items}, $v->[$_], "$path/$_") for 0 .. $#$v;
	}
	return @e;
}
