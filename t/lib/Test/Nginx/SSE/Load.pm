package Test::Nginx::SSE::Load;

# For the test files that publish under faults (Redis restarts, partitions,
# failovers): publishers in child processes that record what each publish
# got, and the checks on what a subscriber received: its messages, its
# sse_gap events, ids only growing, every acknowledged message delivered or
# covered by a gap.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use POSIX ();
use Time::HiRes ();
use Test::Nginx::SSE;

our @EXPORT = qw(gaps msgs publisher published missing increasing
                 check_subscribers);

sub gaps { map { decode_json($_->{data}) } grep { ($_->{event} // '') eq 'sse_gap' } $_[0]->events }
sub msgs { grep { defined $_->{id} } $_[0]->events }

# a publisher in a child process: "status id data" lines into $file
sub publisher {
    my ($file, $port, $tag, $n, $pause, $ch) = @_;
    $ch //= 'load';
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;
    open my $out, '>', $file or POSIX::_exit(1);
    $out->autoflush(1);
    for my $i (1 .. $n) {
        my $r = eval { http('POST', "/pub?channel=$ch", "$tag$i",
                            {'Content-Type' => 'text/plain'},
                            port => $port, probe => 0, timeout => 3) };
        my $id = ($r && $r->{status} == 200) ? decode_json($r->{body})->{id} : '-';
        print {$out} (($r ? $r->{status} : 0) . " $id $tag$i " . Time::HiRes::time() . "\n");
        Time::HiRes::sleep($pause);
    }
    close $out;
    POSIX::_exit(0);    # no END block: Redis stays up
}

# what the publishers recorded: {status, id, data, at}
sub published {
    my (@files) = @_;
    my @r;
    for my $f (@files) {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($st, $id, $data, $at) = split ' ';
            push @r, {status => $st, id => $id, data => $data, at => $at};
        }
    }
    return @r;
}

# every acknowledged message: delivered to $s, or inside one of its gaps
sub missing {
    my ($s, @acked) = @_;
    my %got = map { $_->{id} => 1 } msgs($s);
    my @g = gaps($s);
    return grep {
        my $id = $_->{id};
        !$got{$id} && !grep { $_->{last_event_id} < $id && $id < $_->{oldest_id} } @g
    } @acked;
}

# '' when the ids only grow, else the first pair that does not
sub increasing {
    my @ids = map { $_->{id} } msgs($_[0]);
    for my $i (1 .. $#ids) {
        return "$ids[$i - 1] then $ids[$i]" if $ids[$i] <= $ids[$i - 1];
    }
    return '';
}

# each subscriber of @$subs against what was acknowledged: ids only grow,
# no duplicate, every acknowledged message delivered or inside one of its
# sse_gap events (a test each); returns, summed over the subscribers, the
# acknowledged messages not delivered (covered) and, of those, the ones
# inside no gap (lost), and the ids that carried two messages (twice)
sub check_subscribers {
    my ($subs, $acked) = @_;
    my %sum = (twice => 0, covered => 0, lost => 0);
    my %data;
    for my $i (0 .. $#$subs) {
        my $s = $subs->[$i];
        is(increasing($s), '', "subscriber $i: ids only grow");
        my %seen;
        $seen{$_->{id}}++ for msgs($s);
        is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, "subscriber $i: no duplicate");
        for my $e (msgs($s)) {
            $sum{twice}++ if defined $data{$e->{id}} && $data{$e->{id}} ne $e->{data};
            $data{$e->{id}} = $e->{data};
        }
        my @miss = missing($s, @$acked);
        $sum{lost} += @miss;
        $sum{covered} += grep { !$seen{$_->{id}} } @$acked;
        is(scalar(@miss), 0, "subscriber $i: every acknowledged message delivered or in an sse_gap")
            or diag(join(' ', map { "$_->{id}:$_->{data}" } @miss[0 .. ($#miss < 9 ? $#miss : 9)])
                    . ' gaps: ' . join(' ', map { "$_->{last_event_id}-$_->{oldest_id}" } gaps($s))
                    . ' ids: ' . join(',', map { $_->{id} } msgs($s)));
    }
    is($sum{twice}, 0, 'no id carried two messages');
    return \%sum;
}

1;
