#!/usr/bin/perl
# rlms-ref.pl: a small reference RLMS speaking the generic HTTP RLMS
# protocol of gateway4labs (services-reference.md 3.2), for the labbridge
# tests.  Perl core modules only.
#
#   rlms-ref.pl [--listen 127.0.0.1:0] [--login U --password P]
#               [--port-file F] [--log F]
#
# Routes (all GET but /reserve; ?context_id= is accepted and ignored;
# HTTP Basic is checked when --login is given, else 401 never happens):
#   /capabilities  {"capabilities":["widget"]}
#   /test_plugin   {"valid":true,"error_messages":[]}
#   /labs          {"labs":[{laboratory_id,name,description,autoload}]}
#   /setup         {"url":".../setup"}
#   /widgets       {"widgets":[{name,description}]}
#   /widget        {"url":...}   (X-G4L-reservation-id header)
#   POST /reserve  {"reservation_id","load_url"}; load_url carries the
#                  reservation, the user and the limits it was given, so
#                  that tests can check them; 404 for an unknown lab.
# Each /reserve body is appended, one JSON line, to the --log file.
# The port it bound goes to the --port-file (written atomically) and to
# stdout as "rlms-ref listening on ADDR:PORT".  It exits when its parent
# does.

use strict;
use warnings;

use Getopt::Long;
use IO::Select;
use IO::Socket::IP;
use JSON::PP;
use MIME::Base64 qw(decode_base64);

my %opt = (listen => '127.0.0.1:0');
GetOptions(\%opt, 'listen=s', 'login=s', 'password=s', 'port-file=s',
    'log=s') or die "usage: rlms-ref.pl [--listen A:P] [--login U " .
    "--password P] [--port-file F] [--log F]\n";

my $json = JSON::PP->new->utf8->canonical;
my @labs = (
	{ laboratory_id => 'robot-arm@Robot experiments', name => 'Robot arm',
	  description => 'A robot arm', autoload => JSON::PP::false },
	{ laboratory_id => 'pendulum@Physics', name => 'Pendulum',
	  description => 'A pendulum', autoload => JSON::PP::true },
);
my $nres = 0;

my ($lh, $lp) = $opt{listen} =~ /^\[?([^\]]+)\]?:(\d+)$/
    or die "rlms-ref: bad --listen\n";
my $srv = IO::Socket::IP->new(LocalHost => $lh, LocalPort => $lp,
    Listen => 16, ReuseAddr => 1) or die "rlms-ref: listen: $@\n";
my $port = $srv->sockport;
if ($opt{'port-file'}) {
	open(my $fh, '>', "$opt{'port-file'}.tmp") or die "rlms-ref: $!\n";
	print $fh "$port\n";
	close $fh;
	rename("$opt{'port-file'}.tmp", $opt{'port-file'}) or die "$!\n";
}
$| = 1;
print "rlms-ref listening on $lh:$port\n";

sub reply {
	my ($c, $status, $body) = @_;
	my $text = ref $body ? $json->encode($body) : $body;
	my %reason = (200 => 'OK', 400 => 'Bad Request',
	    401 => 'Unauthorized', 404 => 'Not Found');
	print $c "HTTP/1.1 $status " . ($reason{$status} // 'Error') . "\r\n" .
	    "Content-Type: application/json\r\n" .
	    "Content-Length: " . length($text) . "\r\n" .
	    "Connection: close\r\n\r\n$text";
}

sub uri_escape {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

sub handle {
	my ($c) = @_;
	local $/ = "\r\n";
	my $line = <$c> // return;
	my ($method, $target) = $line =~ /^(\S+) (\S+) HTTP/ or return;
	my %h;
	while (defined(my $l = <$c>)) {
		$l =~ s/\r?\n$//;
		last if $l eq '';
		my ($k, $v) = split /:\s*/, $l, 2;
		$h{lc $k} = $v;
	}
	my $body = '';
	if (my $n = $h{'content-length'}) {
		read($c, $body, $n);
	}
	if (defined $opt{login}) {
		my $ok = 0;
		if (($h{authorization} // '') =~ /^Basic\s+(\S+)/) {
			my ($u, $p) = split /:/, decode_base64($1), 2;
			$ok = $u eq $opt{login} && ($p // '') eq
			    ($opt{password} // '');
		}
		return reply($c, 401, { error => 'bad credentials' }) unless $ok;
	}
	my ($path, $query) = split /\?/, $target, 2;
	my %q = map { my ($k, $v) = split /=/, $_, 2; $v //= '';
	    $v =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge; ($k => $v) }
	    split /&/, $query // '';
	return reply($c, 400, { error => 'no context_id' })
	    unless exists $q{context_id};
	my $base = "http://$lh:$port";
	if ($method eq 'GET' && $path eq '/capabilities') {
		return reply($c, 200, { capabilities => ['widget'] });
	} elsif ($method eq 'GET' && $path eq '/test_plugin') {
		return reply($c, 200, { valid => JSON::PP::true,
		    error_messages => [] });
	} elsif ($method eq 'GET' && $path eq '/labs') {
		return reply($c, 200, { labs => \@labs });
	} elsif ($method eq 'GET' && $path eq '/setup') {
		return reply($c, 200, { url => "$base/setup" });
	} elsif ($method eq 'GET' && $path eq '/widgets') {
		return reply($c, 200, { widgets => [ { name => 'camera',
		    description => 'The camera' } ] });
	} elsif ($method eq 'GET' && $path eq '/widget') {
		return reply($c, 200, { url => "$base/widget/" .
		    uri_escape($q{widget_name} // '') . '?reservation=' .
		    uri_escape($h{'x-g4l-reservation-id'} // '') });
	} elsif ($method eq 'POST' && $path eq '/reserve') {
		my $r = eval { $json->decode($body) };
		return reply($c, 400, { error => 'bad JSON' })
		    unless ref $r eq 'HASH';
		return reply($c, 404, { error => 'no such laboratory' })
		    unless grep { $_->{laboratory_id} eq
		    ($r->{laboratory_id} // '') } @labs;
		if ($opt{log} && open(my $fh, '>>', $opt{log})) {
			print $fh $json->encode($r), "\n";
			close $fh;
		}
		my $id = 'res-' . ++$nres;
		my $url = "$base/lab/" . uri_escape($r->{laboratory_id}) .
		    "?reservation=$id&user=" . uri_escape($r->{username} // '') .
		    '&time=' . ($r->{time_allowed} // 'none') .
		    '&priority=' . ($r->{priority} // 'none');
		return reply($c, 200, { reservation_id => $id,
		    load_url => $url });
	}
	return reply($c, 404, { error => 'unknown route' });
}

# Serve until killed, or until the parent (a test) is gone.
my $parent = getppid();
my $sel = IO::Select->new($srv);
while (1) {
	exit 0 if getppid() != $parent;
	next unless $sel->can_read(1);
	my $c = $srv->accept or next;
	eval { handle($c) };
	close $c;
}
