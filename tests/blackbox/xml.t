#!/usr/bin/perl
# XML representations (spec 3.4, 3.9): /sys/events (and fifo),
# /sys/memberships, /sys/configs, member and collection details, and the
# subparticipant representation, chosen by a .xml suffix or by Accept.
# Every XML body must be well-formed for xmllint(1) (libxml2) and carry the
# same data as the JSON representation of the same state; a few values are
# also read back through xmllint --xpath.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use B ();
use File::Spec;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Ecsd;
use EcsdCheck;

my $XMLLINT;
for my $dir (File::Spec->path) {
	$XMLLINT = "$dir/xmllint", last if -x "$dir/xmllint";
}
plan skip_all => 'xmllint(1) not installed (Debian: libxml2-utils)' unless $XMLLINT;

my $tmp = tempdir('ecsd-xml-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Run xmllint on a document; returns (exit status, stdout, stderr).
sub xmllint {
	my ($xml, @args) = @_;
	open(my $fh, '>:raw', "$tmp/doc.xml") or die;
	print $fh $xml;
	close $fh;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', "$tmp/out") or POSIX::_exit(126);
		open(STDERR, '>', "$tmp/err") or POSIX::_exit(126);
		exec($XMLLINT, @args, "$tmp/doc.xml") or POSIX::_exit(127);
	}
	waitpid($pid, 0);
	my $rc = $? >> 8;
	my @o;
	for my $f ("$tmp/out", "$tmp/err") {
		open(my $in, '<:raw', $f) or die;
		local $/;
		push @o, <$in> // '';
		close $in;
	}
	return ($rc, @o);
}

sub xpath {
	my ($xml, $expr) = @_;
	my ($rc, $out, $err) = xmllint($xml, '--xpath', $expr);
	return undef if $rc != 0;
	utf8::decode($out);
	$out =~ s/\n\z//;
	return $out;
}

# ---- a small reader for the Rails-style XML (after xmllint said it is well-formed)

sub unescape {
	my ($s) = @_;
	$s =~ s/&#x([0-9a-fA-F]+);/chr(hex $1)/ge;
	$s =~ s/&#(\d+);/chr($1)/ge;
	my %ent = (lt => '<', gt => '>', quot => '"', apos => "'", amp => '&');
	$s =~ s/&(lt|gt|quot|apos|amp);/$ent{$1}/g;
	return $s;
}

# Element tree: {name, attr => {}, kids => [], text}
sub parse_xml {
	my ($xml) = @_;
	my $s = $xml;
	utf8::decode($s);
	my $root = { name => '#doc', attr => {}, kids => [], text => '' };
	my @stack = ($root);
	while ($s =~ /\G(?:(<\?.*?\?>)|(<!--.*?-->)|<(\/?)([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*"[^"]*")*)\s*(\/?)>|([^<]+))/gcs) {
		next if defined $1 || defined $2;
		if (defined $7) {
			$stack[-1]{text} .= unescape($7);
			next;
		}
		my ($close, $name, $attrs, $empty) = ($3, $4, $5, $6);
		if ($close) {
			my $e = pop @stack;
			die "mismatched </$name>" unless $e->{name} eq $name;
			next;
		}
		my %a;
		while ($attrs =~ /([\w:.-]+)\s*=\s*"([^"]*)"/g) {
			$a{$1} = unescape($2);
		}
		my $e = { name => $name, attr => \%a, kids => [], text => '' };
		push @{ $stack[-1]{kids} }, $e;
		push @stack, $e unless $empty;
	}
	die 'unparsed XML at ' . pos($s) if (pos($s) // 0) != length $s;
	die 'unclosed elements' if @stack != 1;
	my @top = @{ $root->{kids} };
	die 'not one root element' unless @top == 1;
	return $top[0];
}

# Element -> tagged data: "int:N", "bool:0|1", "str:...", undef (nil), [..], {..}.
# Hash keys: element names with - turned back into _; an element carrying a
# path attribute (the resource-events of /sys/configs) is keyed by the path.
sub to_data {
	my ($e) = @_;
	my $t = $e->{attr}{type} // '';
	return undef if ($e->{attr}{nil} // '') eq 'true';
	if ($t eq 'array') {
		return [ map { to_data($_) } @{ $e->{kids} } ];
	}
	if ($t eq 'integer') {
		return $e->{text} =~ /^\s*(-?\d+)\s*$/ ? "int:$1" : "badint:$e->{text}";
	}
	if ($t eq 'boolean') {
		return $e->{text} eq 'true' ? 'bool:1' : $e->{text} eq 'false' ? 'bool:0' :
		    "badbool:$e->{text}";
	}
	return "badtype:$t" if $t ne '';
	if (@{ $e->{kids} }) {
		my %h;
		for my $k (@{ $e->{kids} }) {
			my $key = exists $k->{attr}{path} ? $k->{attr}{path} : $k->{name};
			$key =~ tr/-/_/ unless exists $k->{attr}{path};
			$h{$key} = exists $h{$key} ? "duplicate:$key" : to_data($k);
		}
		return \%h;
	}
	return "str:$e->{text}";
}

# JSON value -> the same tagged form.
sub tag_json {
	my ($v) = @_;
	return undef unless defined $v;
	return [ map { tag_json($_) } @$v ] if ref $v eq 'ARRAY';
	return { map { ($_ => tag_json($v->{$_})) } keys %$v } if ref $v eq 'HASH';
	return 'bool:' . ($v ? 1 : 0) if JSON::PP::is_bool($v);
	my $f = B::svref_2object(\$v)->FLAGS;
	return "int:$v" if ($f & (B::SVp_IOK | B::SVp_NOK)) && !($f & B::SVp_POK);
	return "str:$v";
}

# The XML answer: status 200, Content-Type, prolog, well-formed, data.
# Returns the tagged data (undef if unusable).
sub xml_ok {
	my ($r, $name, %o) = @_;
	is($r->{status}, 200, "$name: 200") or diag($r->{body});
	like($r->{headers}{'content-type'} // '', qr{^application/xml; charset=utf-8$}i,
	    "$name: Content-Type application/xml; charset=utf-8");
	like($r->{body}, qr/\A<\?xml version="1\.0" encoding="UTF-8"\?>\n/, "$name: XML prolog");
	my ($rc, $out, $err) = xmllint($r->{body}, '--noout');
	is($rc, 0, "$name: well-formed for xmllint") or diag("$err\n$r->{body}");
	my $tree = eval { parse_xml($r->{body}) };
	ok($tree, "$name: read") or diag($@);
	return undef unless $tree;
	is($tree->{name}, $o{root}, "$name: root element <$o{root}>") if $o{root};
	return to_data($tree);
}

# XML and JSON answers carry the same data.
sub same_ok {
	my ($xr, $jr, $name, %o) = @_;
	my $x = xml_ok($xr, "$name (XML)", %o);
	is($jr->{status}, 200, "$name (JSON): 200");
	ok(defined $jr->{json}, "$name (JSON): parses") or diag($jr->{body});
	is_deeply($x, tag_json($jr->{json}), "$name: XML carries the JSON data")
	    or diag("XML:\n$xr->{body}\nJSON:\n$jr->{body}");
	return $x;
}

my $d = Ecsd->start;
$d->fixture_spec;
my $A = $d->admin;
my ($P1, $P2) = ($d->as('P1'), $d->as('P2'));

# text that needs escaping, and a non-ASCII character
my $desc = q{Lern & "Plattform" <eins> 'a' caf} . "\x{e9}";
is($A->put('/admin/participants/' . $d->pid('P1'), json => { description => $desc })->{status},
    200, 'a description with markup characters');

# ---- /sys/events ---------------------------------------------------------------------

my $e1 = create_ok($P1, '/numlab/exercises', mids => [$d->mid(P2 => 'SUV')], name => 'message 1');
my $e2 = create_ok($P1, '/numlab/results', mids => [$d->mid(P2 => 'WUV')], name => 'message 2');
is($P1->delete("/numlab/results/$e2")->{status}, 200, 'message 2 deleted by its sender');
my $jev = $P2->get('/sys/events');
is(scalar @{ $jev->{json} || [] }, 3, 'three events in JSON');
same_ok($P2->get('/sys/events.xml'), $jev, '/sys/events.xml', root => 'records');
same_ok($P2->get('/sys/events', headers => { Accept => 'application/xml' }), $jev,
    '/sys/events Accept: application/xml', root => 'records');
same_ok($P2->get('/sys/events', headers => { Accept => 'text/xml' }), $jev,
    '/sys/events Accept: text/xml', root => 'records');
same_ok($P2->get('/events.xml'), $jev, 'legacy /events.xml', root => 'records');
same_ok($P2->get('/sys/events/fifo.xml?count=2'), $P2->get('/sys/events/fifo?count=2'),
    'GET /sys/events/fifo.xml?count=2', root => 'records');
{
	my $x = $P2->get('/sys/events.xml')->{body};
	is(xpath($x, 'count(/records/record)'), 3, 'xpath: three records');
	is(xpath($x, 'string(/records/record[3]/ressource)'), "numlab/results/$e2",
	    'xpath: third record names the deleted message');
	is(xpath($x, 'string(/records/record[3]/status)'), 'destroyed', 'xpath: destroyed');
}
my $pop = $P2->post('/sys/events/fifo.xml?count=-1');
my $popped = xml_ok($pop, 'POST /sys/events/fifo.xml (pop all)', root => 'records');
is_deeply($popped, tag_json($jev->{json}), 'popped events: the same data');
my $none = $P2->get('/sys/events.xml');
is_deeply(xml_ok($none, 'no events', root => 'records'), [], 'no events: an empty array');
is(xpath($none->{body}, 'string(/records/@type)'), 'array', 'no events: <records type="array"/>');

# ---- /sys/memberships ------------------------------------------------------------------

for my $who (qw(P1 P2)) {
	my $c = $d->as($who);
	same_ok($c->get('/sys/memberships.xml'), $c->get('/sys/memberships'),
	    "/sys/memberships.xml as $who", root => 'records');
	same_ok($c->get('/sys/memberships', headers => { Accept => 'application/xml' }),
	    $c->get('/sys/memberships'), "/sys/memberships Accept: application/xml as $who",
	    root => 'records');
}
same_ok($P2->get('/sys/memberships.xml?all=true'), $P2->get('/sys/memberships?all=true'),
    '/sys/memberships.xml?all=true', root => 'records');
same_ok($P2->get('/memberships.xml'), $P2->get('/memberships'), 'legacy /memberships.xml',
    root => 'records');
{
	my $x = $P2->get('/sys/memberships.xml')->{body};
	my $pid2 = $d->pid('P2');
	is(xpath($x, 'count(//participant[itsyou="true"])'), 2,
	    'xpath: P2 is itsyou once per community');
	is(xpath($x, "string(//participant[pid=$pid2][1]/itsyou/\@type)"), 'boolean',
	    'xpath: itsyou typed boolean');
	is(xpath($x, 'string(//participant[pid=' . $d->pid('P1') . '][1]/description)'), $desc,
	    'xpath: escaped description read back verbatim');
	is(xpath($x, 'string(/records/record[community/name="SUV"]/community/description)'),
	    "S\x{fc}ddeutscher Uni-Verbund", 'xpath: UTF-8 community description');
}
{
	my $r = $A->post('/admin/participants', json => { name => 'loner',
	    organization_id => $d->names->{organizations}{"Universit\x{e4}t Ulm"}{id},
	    auth_ids => ['loner'] });
	is($r->{status}, 201, 'a participant without memberships');
	$r = $d->as('loner')->get('/sys/memberships.xml');
	is($r->{status}, 200, 'no memberships, XML: 200');
	ok($r->{body} eq '' || (xmllint($r->{body}, '--noout'))[0] == 0 &&
	    xpath($r->{body}, 'count(/records/*)') eq '0',
	    'no memberships, XML: empty body (Q-19) or an empty well-formed <records>')
	    or diag($r->{body});
}

# ---- /sys/configs ------------------------------------------------------------------------

same_ok($P2->get('/sys/configs.xml'), $P2->get('/sys/configs'), '/sys/configs.xml', root => 'hash');
is($P2->post('/sys/configs', json => { participant_events => JSON::PP::false,
    selfrouting => JSON::PP::true })->{status}, 200, 'configs changed');
same_ok($P2->get('/sys/configs', headers => { Accept => 'application/xml' }), $P2->get('/sys/configs'),
    '/sys/configs Accept: application/xml after a change', root => 'hash');
{
	my $r = $P2->post('/sys/configs.xml', json => { participant_events => JSON::PP::true });
	my $x = xml_ok($r, 'POST /sys/configs.xml answer', root => 'hash');
	is_deeply($x, tag_json($P2->get('/sys/configs')->{json}), 'POST answer in XML: the new state');
	is(xpath($r->{body}, 'string(/hash/resource-events/*[@path="/sys/auths"])'), 'false',
	    'xpath: resource events of /sys/auths false');
}

# ---- details ----------------------------------------------------------------------------

my $m3 = create_ok($P1, '/numlab/exercises', mids => [$d->mid(P2 => 'SUV'), $d->mid(P2 => 'WUV')],
    ctype => 'application/json', body => '{"a":1}', name => 'message to two memberships');
for my $who (qw(P1 P2)) {
	my $c = $d->as($who);
	same_ok($c->get("/numlab/exercises/$m3/details", headers => { Accept => 'application/xml' }),
	    $c->get("/numlab/exercises/$m3/details"), "member details as $who", root => 'hash');
	same_ok($c->get('/numlab/exercises/details?all=true', headers => { Accept => 'text/xml' }),
	    $c->get('/numlab/exercises/details?all=true'), "collection details as $who",
	    root => 'records');
}
{
	my $x = $P1->get("/numlab/exercises/$m3/details", headers => { Accept => 'application/xml' })->{body};
	is(xpath($x, 'count(/hash/receivers/*)'), 2, 'xpath: two receivers');
	is(xpath($x, 'string(/hash/content-type)'), 'application/json', 'xpath: content-type element');
	is(xpath($x, 'string(/hash/owner/itsyou)'), 'true', 'xpath: owner itsyou');
}

# ---- subparticipants ------------------------------------------------------------------------

{
	my $r = $P1->post('/sys/subparticipants', json => { realm => 'r&1', communities => ['SUV'] },
	    headers => { Accept => 'application/xml' });
	my $x = xml_ok($r, 'create a subparticipant, Accept: application/xml', root => 'hash');
	my ($sid) = ($r->{headers}{location} // '') =~ m{/sys/subparticipants/(\d+)$};
	ok($sid, 'create: Location names the subparticipant');
	my $j = $P1->get("/sys/subparticipants/$sid");
	is_deeply($x, tag_json($j->{json}), 'create answer in XML: the JSON representation')
	    or diag("XML:\n$r->{body}\nJSON:\n$j->{body}");
	same_ok($P1->get("/sys/subparticipants/$sid.xml"), $j, 'subparticipant .xml', root => 'hash');
	same_ok($P1->get("/sys/subparticipants/$sid", headers => { Accept => 'application/xml' }), $j,
	    'subparticipant Accept: application/xml', root => 'hash');
	my $auth = $j->{json}{auth_ids}[0]{auth_id};
	is(xpath($r->{body}, 'string(/hash/auth-ids/*[1]/auth-id)'), $auth, 'xpath: the auth id');
	is(xpath($r->{body}, 'string(/hash/realm)'), 'r&1', 'xpath: realm unescaped');

	# the subparticipant's own view in XML
	same_ok($d->as($auth)->get('/sys/memberships.xml?all=true'),
	    $d->as($auth)->get('/sys/memberships?all=true'), 'memberships of a subparticipant',
	    root => 'records');
	same_ok($d->as($auth)->get('/sys/configs.xml'), $d->as($auth)->get('/sys/configs'),
	    'configs of a subparticipant', root => 'hash');

	$r = $P1->put("/sys/subparticipants/$sid", json => { realm => undef, communities => [] },
	    headers => { Accept => 'application/xml' });
	$x = xml_ok($r, 'update a subparticipant, Accept: application/xml', root => 'hash');
	$j = $P1->get("/sys/subparticipants/$sid");
	is_deeply($x, tag_json($j->{json}), 'update answer in XML: the new state');
	is(xpath($r->{body}, 'string(/hash/realm/@nil)'), 'true', 'null realm: nil="true"');
	is(xpath($r->{body}, 'count(/hash/memberships/*)'), 0, 'no memberships: an empty array');
	is(xpath($r->{body}, 'string(/hash/memberships/@type)'), 'array', 'empty memberships typed array');

}

# negotiation limits (3.4)
is($P2->get('/sys/memberships', headers => { Accept => 'text/plain' })->{status}, 406,
    'memberships as text/plain: 406');
is($P2->get('/sys/events', headers => { Accept => 'application/xml;q=0.9' })->{status}, 200,
    'Accept with parameters: honoured');
like($P2->get('/sys/events', headers => { Accept => 'text/plain, application/xml' })
    ->{headers}{'content-type'} // '', qr{^text/plain}, 'the first acceptable type wins');

$d->stop_ok;
done_testing;
