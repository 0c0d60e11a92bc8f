package Test::Nginx::SSE::Raw;

# Raw HTTP/1.1 exchanges for the attack tests: requests built byte by byte,
# sent on one keep-alive connection (pipelined or one by one), every
# response parsed back, and the block's access.log read.

use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Test::Nginx::SSE;

our @EXPORT = qw(req closing exchange parse_responses statuses access_log);

# One request's bytes: method, uri, headers (arrayref of "Name: value"), body
# (Content-Length added unless a Transfer-Encoding or Content-Length header
# is given).
sub req {
    my ($method, $uri, $headers, $body) = @_;
    my @h = ('Host: localhost', @{ $headers || [] });
    if (defined $body && !grep { /^(Content-Length|Transfer-Encoding):/i } @h) {
        push @h, 'Content-Length: ' . length $body;
    }
    return "$method $uri HTTP/1.1\r\n" . join('', map { "$_\r\n" } @h) . "\r\n"
           . ($body // '');
}

# The request that closes a keep-alive exchange: answered "hello".
sub closing { return req('GET', '/hello', ['Connection: close']) }

# Sends @pieces on one connection (a number is a pause in seconds between
# pieces), reads until the server closes it or $o{timeout} seconds pass.
# Returns { responses => [{status, headers, body}], rest, eof }.
sub exchange {
    my ($pieces, %o) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $o{port} // port(), Proto => 'tcp',
        ($o{local} ? (LocalAddr => $o{local}) : ()), Timeout => 5)
        or return { responses => [], rest => '', eof => 0, error => "connect: $@" };
    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $drain = sub {
        my ($secs) = @_;
        my $deadline = time + $secs;
        while ((my $left = $deadline - time) > 0) {
            last unless $sel->can_read($left);
            my $n = sysread($sock, my $buf, 65536);
            return 1 unless $n;
            $raw .= $buf;
        }
        return 0;
    };
    my $eof = 0;
    for my $p (@$pieces) {
        if ($p =~ /\A[0-9.]+\z/) {
            $eof = $drain->($p * timeout_factor());
            next;
        }
        local $SIG{PIPE} = 'IGNORE';
        syswrite($sock, $p) // last;
    }
    $eof ||= $drain->(($o{timeout} // 3) * timeout_factor());
    close $sock;
    my ($responses, $rest) = parse_responses($raw);
    return { responses => $responses, rest => $rest, eof => $eof, raw => $raw };
}

sub parse_responses {
    my ($buf) = @_;
    my @r;
    while ($buf =~ s/\AHTTP\/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n//) {
        my ($status, $head) = ($1, $2);
        my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head;
        my $body = '';
        if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            while ($buf =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $n = hex $1;
                if ($n == 0) {
                    $buf =~ s/\A(?:[^\r\n]+\r\n)*\r\n//;
                    last;
                }
                $body .= substr($buf, 0, $n, '');
                $buf =~ s/\A\r\n//;
            }
        } elsif (defined $h{'content-length'}) {
            $body = substr($buf, 0, $h{'content-length'}, '');
        }
        push @r, { status => $status, headers => \%h, body => $body };
    }
    return (\@r, $buf);
}

# "405 200" for the responses of an exchange
sub statuses { join ' ', map { $_->{status} } @{ $_[0]{responses} } }

# a request is logged when nginx frees it, which after a lingering close can
# be a moment after the client saw the end of the connection
sub access_log {
    my ($name) = @_;
    sleep 0.3 * timeout_factor();
    my $f = server_root() . '/logs/' . ($name // 'access.log');
    open(my $fh, '<', $f) or return '';
    local $/;
    return <$fh>;
}

1;
