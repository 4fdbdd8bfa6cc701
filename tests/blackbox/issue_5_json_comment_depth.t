# Regression (issue 5, found by reading the fuzz targets): a comment holding
# a quote or a bracket fooled the JSON depth limit, and one /sys/auths POST
# of deeply nested arrays crashed ecsd with a stack overflow.
use strict;
use warnings;
use Test::More;
use Ecsd;
use EcsdCheck;

plan skip_all => 'needs a local daemon' if Ecsd::external();

my $d = Ecsd->start;
$d->fixture_spec;
my %to = ('X-EcsReceiverMemberships' => $d->mid(P2 => 'WUV'));
for my $c ('/*"*/', '/*]*/') {
	my $n = 200000;
	my $body = '{"realm":"x","a":' . $c . ('[' x $n) . (']' x $n) . '}';
	my $r = $d->as('P1')->post('/sys/auths', body => $body,
	    ctype => 'application/json', headers => \%to);
	is($r->{status}, 400, "deep token behind a comment $c: 400");
	is($r->{body}, "Invalid JSON body\n", 'with the spec text');
}
my $r = $d->admin->post('/admin/communities', body => '{"name":/*"*/"x"}',
    ctype => 'application/json');
is($r->{status}, 400, 'admin JSON with a comment: 400');
is($d->as('P2')->get('/sys/events')->{status}, 200, 'ecsd still serves');
$d->stop_ok;
done_testing();
