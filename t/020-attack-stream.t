# Attacks on subscriber streams, replayed: each block asserts the SPEC'd
# answer, that no worker crashes and that a worker's memory stays bounded.
use lib 't/lib';
use Test::Nginx::SSE;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF sockaddr_in inet_aton);
use IO::Select;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use POSIX ();
use JSON::PP ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

# A client that sends its request and never reads, with a tiny receive
# buffer: what nginx writes for it stays in nginx.
sub stalled {
    my ($uri, $port, @headers) = @_;
    socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($fh, SOL_SOCKET, SO_RCVBUF, 4096) or die "setsockopt: $!";
    connect($fh, sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
    syswrite($fh, "GET $uri HTTP/1.0\r\nHost: localhost\r\n"
                  . join('', map { "$_\r\n" } @headers)
                  . "Accept: text/event-stream\r\n\r\n");
    return $fh;
}

# Publishes messages "m<i>:xxx..." of $size bytes, i from $from to $to, on
# $channel, in JSON batches of $per; dies unless every batch is answered 200.
sub publish_range {
    my ($channel, $from, $to, $size, $per, %opt) = @_;
    my $i = $from - 1;
    while ($i < $to) {
        my @b;
        while (@b < $per && $i < $to) {
            $i++;
            my $d = "m$i:";
            push @b, qq({"channel":"$channel","data":"$d) . ('x' x ($size - length $d)) . '"}';
        }
        my $r = http('POST', '/pub', '[' . join(',', @b) . ']',
                     {'Content-Type' => 'application/json'}, %opt);
        die "publish up to $i: $r->{status} $r->{body}" unless $r->{status} == 200;
    }
}

# Private anonymous memory (malloc) of processes, in bytes; the shared zone's
# pages, which also count in VmRSS, are left out.
sub private_memory {
    my $t = 0;
    for my $p (@_) {
        open my $f, '<', "/proc/$p/status" or next;
        my ($anon, $rss);
        while (<$f>) {
            $anon = $1 if /^RssAnon:\s+(\d+)/;
            $rss  = $1 if /^VmRSS:\s+(\d+)/;
        }
        $t += 1024 * ($anon // $rss // 0);
    }
    return $t;
}

# An HS256 subscriber token for $user, as sse_auth_jwt checks it.
sub token {
    my ($user) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(JSON::PP::encode_json({sub => $user, exp => time + 600}));
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", 'attack-secret-0123456789abcdef0123'));
}

sub status_field {
    my ($field, $port) = @_;
    my $r = http('GET', '/status', undef, undef, $port ? (port => $port) : ());
    return $r->{body} =~ /"$field":(\d+)/ ? $1 : -1;
}

sub wait_subscribers {
    my ($n, $secs) = @_;
    my $deadline = time + $secs * timeout_factor();
    while (time < $deadline) {
        return $n if status_field('subscribers') == $n;
        sleep 0.05;
    }
    return status_field('subscribers');
}

# Reads an SSE stream from a raw socket (HTTP/1.0: the body as it is) and
# checks that it carries m<first>..m<last> of $size bytes, in order.
# Returns the number of messages received whole and in order, and the first
# problem seen.
sub read_messages {
    my ($fh, $first, $last, $size, $secs) = @_;
    my ($buf, $head, $next, $bad) = ('', undef, $first, '');
    my $sel = IO::Select->new($fh);
    my $deadline = time + $secs * timeout_factor();
    while ($next <= $last && time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($fh, my $chunk, 1 << 20);
        last unless $n;
        $buf .= $chunk;
        if (!defined $head) {
            my $end = index($buf, "\r\n\r\n");
            next if $end < 0;
            $head = substr($buf, 0, $end + 4, '');
        }
        while ((my $end = index($buf, "\n\n")) >= 0) {
            my $ev = substr($buf, 0, $end + 2, '');
            next if $ev =~ /\A:/;
            if ($ev =~ /\Aid: (\d+)\ndata: m(\d+):(x*)\n\n\z/
                && $2 == $next && length($3) == $size - length("m$next:"))
            {
                $next++;
            } else {
                $bad ||= "after m" . ($next - 1) . ": " . substr($ev, 0, 60);
                $next = $last + 1;
            }
        }
    }
    return ($next - $first, $bad, $head);
}

# A self-signed certificate for the TLS blocks, made before nginx starts;
# without openssl those blocks are skipped ($TEST_NGINX_SSL_DIR unset).
my $ssl_dir = tempdir('sse-ssl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
if (system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
           . " -keyout $ssl_dir/key.pem -out $ssl_dir/cert.pem >/dev/null 2>&1") == 0)
{
    $ENV{TEST_NGINX_SSL_DIR} = $ssl_dir;
}

run_tests();

__DATA__

=== TEST 1: Last-Event-ID: the largest 64-bit id is accepted, one more is refused
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=a', {'Last-Event-ID' => '18446744073709551615'});
is($s->status, 200, '18446744073709551615: 200');
my ($body) = $s->read_until(qr/\n\n/, 2);
is($body, qq(event: sse_gap\ndata: {"channel":"a","last_event_id":"18446744073709551615","oldest_id":"1"}\n\n),
   'resumed: ahead of the zone, a gap');
for my $id ('18446744073709551616', '18446744073709551620', '99999999999999999999', '184467440737095516150') {
    my $r = http('GET', '/sub?channel=a', undef, {'Last-Event-ID' => $id});
    is($r->{status}, 400, "$id: 400");
    is($r->{body}, '{"error":"invalid Last-Event-ID: ids are decimal numbers","status":400}',
       "$id: JSON");
}
my $r = http('GET', '/sub?channel=a&last_event_id=18446744073709551616');
is($r->{status}, 400, 'in the argument too');
$s = sse_open('/sub?channel=a', {'Last-Event-ID' => '1844674407370955161'});
is($s->status, 200, 'a 19-digit id below the limit');
