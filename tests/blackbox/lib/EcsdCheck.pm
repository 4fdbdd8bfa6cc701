package EcsdCheck;

# Assertion helpers shared by the black-box protocol tests.

use strict;
use warnings;

use Exporter 'import';
use POSIX qw(strftime);
use Test::More;
use Time::HiRes ();
use Time::Local qw(timegm);

our @EXPORT = qw(std_ok err_ok ctype_is loc_ok raw_name_ok events_of ev
    iso_time parse_iso http_date_ok uri_list ERR create_ok addr child
    lines_of pop_until_done);

# Exact error texts of ecs-protocol.md section 14 (without the final LF).
our %ERR = (
	no_ctype => 'Validation failed: *** You must povide a "Content-Type" header. ',
	no_body => 'Validation failed: *** You have to provide a "http body". *** ',
	no_both => 'Validation failed: *** You must povide a "Content-Type" header. , *** You have to provide a "http body". *** ',
	no_addr => "You must at least specify one of X-EcsReceiverMemberships or X-EcsReceiverCommunities header\r\n",
	bad_mid => 'Membership id in X-EcsReceiverMemberships header not found.',
	bad_cname => 'community id/name in X-EcsReceiverCommunities header not found: ',
	bad_json => 'Invalid JSON body',
	no_realm => 'You have to provide realm or url attribute',
	sov_young => 'sov time is younger then current time',
	eov_young => 'eov time is too young',
	bad_times => 'invalid times either in sov or eov',
	no_authid => 'No "X-EcsAuthId" http header',
	not_access => 'You are not allowed to access this resource, because you are not the original sender or a receiver.',
	not_sender => 'You are not the original sender of the message.',
	not_joining => "You are not joining at least one of the community to which you are addressing.\r\nor\r\nYou are not joining at least one of the same community as the receiving membership.\r\n",
	bad_id => 'Invalid resource id',
	bad_hash => 'Invalid auths hash',
	bad_auth_id => 'Invalid auths id',
	outtimed => 'Authorization token outtimed',
	not_json415 => 'Body format has to be in JSON',
);

sub ERR { my ($k) = @_; die "no error text $k" unless exists $ERR{$k}; return $ERR{$k} }

# Checks every response must pass: HTTP/1.1, Content-Length (no chunked
# framing), Content-Type (except 304), canonical header name casing.
sub std_ok {
	my ($r, $name) = @_;
	my @bad;
	push @bad, "HTTP/$r->{version}" unless $r->{version} eq '1.1';
	push @bad, 'chunked response' if $r->{chunked};
	my @cl = grep { lc $_->[0] eq 'content-length' } @{ $r->{raw_headers} };
	if ($r->{status} != 304) {
		if (@cl != 1) {
			push @bad, scalar(@cl) . ' Content-Length headers';
		} elsif ($r->{method} ne 'HEAD' && $cl[0][1] ne length($r->{body})) {
			push @bad, "Content-Length $cl[0][1] != body length " . length($r->{body});
		}
		push @bad, 'no Content-Type' unless defined $r->{headers}{'content-type'};
	}
	for my $h (@{ $r->{raw_headers} }) {
		push @bad, "non-canonical header name '$h->[0]'"
		    unless $h->[0] =~ /^[A-Z][A-Za-z0-9]*(?:-[A-Z][A-Za-z0-9]*)*$/;
	}
	my $ok = ok(!@bad, ($name // 'response') . ': framing and header names');
	diag(join("\n", @bad)) unless $ok;
	return $ok;
}

# An error answer: status, exact text + LF, text content type, no-cache.
sub err_ok {
	my ($r, $status, $text, $name) = @_;
	$name //= "$status error";
	my $ok = 1;
	$ok &= is($r->{status}, $status, "$name: status $status");
	$ok &= is($r->{body}, "$text\n", "$name: body text");
	$ok &= like($r->{headers}{'content-type'} // '', qr{^text/(?:html|plain); charset=utf-8$}i,
	    "$name: Content-Type");
	$ok &= like($r->{headers}{'cache-control'} // '', qr/no-cache/, "$name: Cache-Control no-cache");
	$ok &= std_ok($r, $name);
	return $ok;
}

sub ctype_is {
	my ($r, $want, $name) = @_;
	return is($r->{headers}{'content-type'}, $want, ($name // 'response') . ": Content-Type $want");
}

# Location header spelt exactly so, absolute, path ending in $suffix/<id>.
# Returns the id.
sub loc_ok {
	my ($r, $suffix, $name) = @_;
	$name //= 'Location';
	my @l = grep { $_->[0] eq 'Location' } @{ $r->{raw_headers} };
	my $loc = @l ? $l[0][1] : undef;
	my $ok = ok(defined $loc && $loc =~ m{^https?://[^/\s]+(?:/\S*)?\Q$suffix\E/(\d+)$},
	    "$name: absolute Location ending in $suffix/<id>");
	diag('Location: ' . ($loc // '(none; headers: ' .
	    join(', ', map { $_->[0] } @{ $r->{raw_headers} }) . ')')) unless $ok;
	return undef unless defined $loc && $loc =~ m{/(\d+)$};
	return $1;
}

# The header $name is present with exactly this spelling.
sub raw_name_ok {
	my ($r, $hname, $name) = @_;
	my $n = grep { $_->[0] eq $hname } @{ $r->{raw_headers} };
	return ok($n >= 1, ($name // 'response') . ": header spelt '$hname'");
}

# Addressing headers: addr(mids => [..], comms => [..])
sub addr {
	my (%o) = @_;
	my %h;
	$h{'X-EcsReceiverMemberships'} = join(',', @{ $o{mids} }) if $o{mids};
	$h{'X-EcsReceiverCommunities'} = join(',', @{ $o{comms} }) if $o{comms};
	return %h;
}

# POST a message and expect 201; returns the id (the response is left in
# $EcsdCheck::LAST). %o: mids, comms, body (default 'x'), ctype (default text/plain),
# headers (extra), name.
sub create_ok {
	my ($c, $path, %o) = @_;
	my $name = $o{name} // "create $path";
	my $r = $c->post($path, body => $o{body} // 'x',
	    ctype => exists $o{ctype} ? $o{ctype} : 'text/plain',
	    headers => ref $o{headers} eq 'ARRAY' ? [addr(%o), @{ $o{headers} }]
		: { addr(%o), %{ $o{headers} || {} } });
	my $ok = is($r->{status}, 201, "$name: 201");
	diag("body: $r->{body}") unless $ok;
	(my $res = $path) =~ s{/+$}{};
	my $id = loc_ok($r, $res, $name);
	$EcsdCheck::LAST = $r;
	return $id;
}

# Events as "ressource status" strings.
sub events_of {
	my ($r) = @_;
	return undef unless ref $r->{json} eq 'ARRAY';
	return [ map { (ref $_ eq 'HASH' ? ($_->{ressource} // '?') . ' ' . ($_->{status} // '?') : '?') } @{ $r->{json} } ];
}

# "ns/res/id status"
sub ev { my ($path, $id, $st) = @_; return "$path/$id $st" }

sub iso_time {
	my ($t) = @_;
	return strftime('%Y-%m-%dT%H:%M:%S+00:00', gmtime($t));
}

# ISO 8601 with offset -> epoch (undef if unparseable)
sub parse_iso {
	my ($s) = @_;
	return undef unless defined $s &&
	    $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|([+-])(\d\d):?(\d\d))$/;
	my $t = timegm($6, $5, $4, $3, $2 - 1, $1);
	if ($7 ne 'Z') {
		my $off = ($9 * 3600 + $10 * 60) * ($8 eq '+' ? 1 : -1);
		$t -= $off;
	}
	return $t;
}

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
    Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

# RFC 1123 date -> epoch, or undef
sub http_date_ok {
	my ($s) = @_;
	return undef unless defined $s &&
	    $s =~ /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
	return undef unless exists $MON{$2};
	return timegm($6, $5, $4, $1, $MON{$2}, $3);
}

# Lines of a uri-list body ("res/id")
sub uri_list {
	my ($r) = @_;
	return [ split /\n/, $r->{body} ];
}

# Run code in a child process that writes lines to its own file; returns
# the pid. The child never runs the daemons' destructors.
sub child {
	my ($file, $code) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		my $ok = eval {
			open(my $fh, '>', $file) or die "$file: $!";
			$fh->autoflush(1);
			$code->($fh);
			close $fh;
			1;
		};
		print STDERR "# child: $@" unless $ok;
		POSIX::_exit($ok ? 0 : 1);
	}
	return $pid;
}

# The lines of a file a child wrote (none if it wrote no file).
sub lines_of {
	my ($file) = @_;
	open(my $fh, '<', $file) or return ();
	chomp(my @l = <$fh>);
	return @l;
}

# Pop $path with client $c, writing "popped BODY" or "status N" lines to
# $fh, until the file $done exists and three pops in a row found the queue
# empty, or $seconds pass.
sub pop_until_done {
	my ($c, $path, $done, $fh, $seconds) = @_;
	my $empty = 0;
	my $deadline = Time::HiRes::time() + $seconds;
	while (Time::HiRes::time() < $deadline) {
		my $finished = -e $done;
		my $r = $c->post("$path/fifo");
		if ($r->{status} != 200) {
			print $fh "status $r->{status}\n";
			Time::HiRes::sleep(0.05);
			next;
		}
		if (length $r->{body}) {
			print $fh "popped $r->{body}\n";
			next;
		}
		last if $finished && ++$empty >= 3;
		Time::HiRes::sleep(0.02);
	}
}

1;
