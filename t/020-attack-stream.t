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

=== TEST 1: stalled resumers far over sse_max_pending when their keepalive fires: no crash, they wait
--- workers: 1
--- http_config
sse_zone zone=ev:64m history=1000 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 64k; sse_keepalive 200ms; }
}
--- config
location /pub { sse_publish; client_max_body_size 4m; client_body_buffer_size 4m; }
location /status { sse_status; }
--- test
# (fewer under valgrind: still far more history than sse_max_pending)
my ($N, $SIZE, $STALLED) = ($ENV{TEST_NGINX_VALGRIND} ? 200 : 1000, 60 * 1024, 10);
publish_range('big', 1, $N, $SIZE, 16);
is(status_field('messages'), $N, "$N messages kept");

my @w = worker_pids();
my @stalled = map { stalled('/sub?channel=big', port2(), 'Last-Event-ID: 0') } 1 .. $STALLED;
is(wait_subscribers($STALLED, 5), $STALLED, 'the stalled resumers are subscribed');

# several keepalive periods: before the fix the first keepalive of a
# resumer queued far over sse_max_pending closed its stream and then
# touched it again (a worker crash)
sleep 1.5 * timeout_factor();
is(status_field('subscribers'), $STALLED, 'they wait: still subscribed');
is(join(',', worker_pids()), join(',', @w), 'the same worker serves');

# one of them reads now: every message, whole and in order, then live
my $fh = shift @stalled;
my ($got, $bad) = read_messages($fh, 1, $N, $SIZE, 30);
is($got, $N, "a stalled resumer that reads gets m1..m$N ($bad)");
close $fh;
close $_ for @stalled;
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 2: streams still catching up end every way: DELETE, sse_subscriber_timeout, client gone, reload
--- workers: 2
--- http_config
sse_zone zone=ev:16m history=200 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 32k; sse_keepalive 100ms; }
    location /short {
        sse_subscribe; sse_max_pending 32k; sse_keepalive 100ms;
        sse_subscriber_timeout 500ms;
    }
}
--- config
location /pub { sse_publish; client_max_body_size 4m; client_body_buffer_size 4m; }
location /status { sse_status; }
--- test
my ($N, $SIZE) = (150, 16 * 1024);
publish_range('d', 1, $N, $SIZE, 25);
publish_range('t', $N + 1, 2 * $N, $SIZE, 25);
my @del   = map { stalled('/sub?channel=d', port2(), 'Last-Event-ID: 0') } 1 .. 5;
my @short = map { stalled('/short?channel=t', port2(), 'Last-Event-ID: 0') } 1 .. 5;
my @gone  = map { stalled('/sub?channel=t', port2(), 'Last-Event-ID: 0') } 1 .. 5;
my @kept  = map { stalled('/sub?channel=t', port2(), 'Last-Event-ID: 0') } 1 .. 5;
is(wait_subscribers(20, 5), 20, 'twenty stalled resumers');
close $_ for @gone;
my $r = http('DELETE', '/pub?channel=d');
like($r->{body}, qr/"deleted":true,"subscribers":5\}/, 'DELETE of a channel with resumers');
is(wait_subscribers(5, 5), 5, 'ended by DELETE, by sse_subscriber_timeout, gone: 5 left');
my @new = nginx_reload();
ok(scalar(@new) == 2, 'reloaded');
is(wait_subscribers(0, 5), 0, 'the reload ended the last ones');
close $_ for @del, @short, @kept;
is(http('GET', '/pub?channel=t')->{body},
   qq({"channel":"t","subscribers":0,"messages":$N,"last_event_id":"@{[2 * $N]}"}),
   'the history is intact');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 3: 20 stalled resumers over 60 MB of history: worker memory bounded, a publish goes through, readers get everything in order
--- workers: 2
--- http_config
sse_zone zone=ev:64m history=1000 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 256k; sse_keepalive off; }
}
--- config
location /pub { sse_publish; client_max_body_size 4m; client_body_buffer_size 4m; }
location /status { sse_status; }
--- test
my ($N, $SIZE, $STALLED, $READERS) = ($ENV{TEST_NGINX_VALGRIND} ? 200 : 1000, 60 * 1024, 20, 3);
my $CAP = 256 * 1024;
publish_range('big', 1, $N, $SIZE, 16);

my @w = worker_pids();
is(scalar(@w), 2, 'two workers');
http('GET', '/status', undef, undef, port => port2()) for 1 .. 4;
my $before = private_memory(@w);

my @stalled = map { stalled('/sub?channel=big', port2(), 'Last-Event-ID: 0') } 1 .. $STALLED;
is(wait_subscribers($STALLED, 5), $STALLED, "$STALLED stalled resumers subscribed");
sleep 0.5;
my $peak = private_memory(@w);

# a publish while they wait: answered, and after the history for a reader
my $r = http('POST', '/pub?channel=big', 'm' . ($N + 1) . ':' . ('x' x ($SIZE - length('m' . ($N + 1) . ':'))),
             {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'a publish meanwhile is answered');
like($r->{body}, qr/"subscribers":$STALLED\}/, '... and counts the resumers');

my @readers = map { stalled('/sub?channel=big', port2(), 'Last-Event-ID: 0') } 1 .. $READERS;
my $ok = 0;
for my $fh (@readers) {
    my ($got, $bad) = read_messages($fh, 1, $N + 1, $SIZE, 60);
    $ok++ if $got == $N + 1;
    diag("reader: $got messages, $bad") unless $got == $N + 1;
    my $m = private_memory(@w);
    $peak = $m if $m > $peak;
    close $fh;
}
is($ok, $READERS, "readers got m1..m" . ($N + 1) . ", whole and in order");
is(wait_subscribers($STALLED, 5), $STALLED, 'the stalled ones still wait');

my $growth = $peak - $before;
my $bound = $STALLED * ($CAP + $SIZE + 64 * 1024) + 8 * 1024 * 1024;
my $uncapped = $STALLED * $N * $SIZE;
diag(sprintf("workers' private memory %.1f MB -> peak %.1f MB (+%.1f MB; bound %.1f MB;"
             . " a copy of the history each would be %.0f MB)", $before / 1048576,
             $peak / 1048576, $growth / 1048576, $bound / 1048576, $uncapped / 1048576));
SKIP: {
    skip 'memory figures are meaningless under valgrind / ASan', 1
        if $ENV{TEST_NGINX_VALGRIND} || $ENV{TEST_NGINX_ASAN};
    cmp_ok($growth, '<', $bound, 'worker memory bounded by sse_max_pending per resumer');
}
close $_ for @stalled;
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 4: history left before a slow resumer read it: sse_gap where it happened, then the rest, then live
--- http_config
sse_zone zone=ev:4m history=30 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 16k; sse_keepalive off; }
}
--- config
location /pub { sse_publish; client_max_body_size 1m; client_body_buffer_size 1m; }
location /status { sse_status; }
--- test
publish_range('g', 1, 30, 4000, 10);
my $fh = stalled('/sub?channel=g', port2(), 'Last-Event-ID: 0');
is(wait_subscribers(1, 5), 1, 'a stalled resumer');
sleep 0.3;
publish_range('g', 31, 90, 4000, 60);    # at once: the history keeps 61..90

my ($raw, @ev) = ('');
my $sel = IO::Select->new($fh);
my $deadline = time + 5 * timeout_factor();
my $live = 0;
while (time < $deadline) {
    last unless $sel->can_read($deadline - time);
    last unless sysread($fh, my $chunk, 65536);
    $raw .= $chunk;
    if (!$live && $raw =~ /id: 90\n/) {
        $live = 1;
        publish_range('g', 91, 91, 4000, 1);
    }
    last if $raw =~ /id: 91\ndata: [^\n]*\n\n/;
}
@ev = Test::Nginx::SSE::_parse_events(($raw =~ /\r\n\r\n(.*)\z/s)[0] // '');
my @ids;
my $k = 0;
$k++ while $k < @ev && defined $ev[$k]{id} && $ev[$k]{id} == $k + 1;
ok($k >= 1 && $k < 30, "the first messages it had before stalling ($k)");
is($ev[$k]{event}, 'sse_gap', 'then a gap');
is($ev[$k]{data}, qq({"channel":"g","last_event_id":"$k","oldest_id":"61"}),
   'naming the last id it got and the oldest kept');
is(join(',', map { $_->{id} // '-' } @ev[$k + 1 .. $#ev]), join(',', 61 .. 91),
   'then 61..90 from history and 91 live');
is(scalar(grep { ($_->{data} // '') !~ /\A(m(\d+):x+|\{.*\})\z/ || (defined $2 && $2 != $_->{id}) } @ev), 0,
   'every message whole');
close $fh;
--- no_error_log
[alert]
[crit]



=== TEST 5: two channels resumed in small parts while both keep publishing on both workers: id order, no loss, no duplicate
--- workers: 2
--- http_config
sse_zone zone=ev:16m history=1000 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; sse_max_pending 8k; sse_keepalive off; }
    location /pub { sse_publish; }
}
--- config
location /pub { sse_publish; }
--- test
my ($OLD, $NEW, $SIZE) = (300, 200, 1000);
my $h = {'Content-Type' => 'text/plain'};
my $data = sub { my $i = shift; my $d = "m$i:"; $d . ('x' x ($SIZE - length $d)) };
for my $i (1 .. $OLD) {
    my $r = http('POST', '/pub?channel=' . ($i % 2 ? 'a' : 'b'), $data->($i), $h);
    die "publish $i" unless $r->{body} =~ /"id":"$i"/;
}
my @s = map { sse_open('/sub?channel=a,b', {'Last-Event-ID' => '0'}, port => port2()) } 1 .. 4;
for my $i ($OLD + 1 .. $OLD + $NEW) {
    my $r = http('POST', '/pub?channel=' . ($i % 2 ? 'a' : 'b'), $data->($i), $h,
                 port => ($i % 3 ? port() : port2()));
    die "publish $i" unless $r->{body} =~ /"id":"$i"/;
    sse_pump(\@s, 0.002);
}
my $last = $OLD + $NEW;
sse_pump(\@s, 10, sub { !grep { $_->body !~ /data: m$last:/ } @{$_[0]} });
my $bad = 0;
for my $c (@s) {
    my @e = $c->events;
    my $ok = join(',', map { $_->{id} } @e) eq join(',', 1 .. $last)
        && !grep { $_->{data} ne $data->($_->{id}) } @e;
    $bad++ unless $ok;
    diag('got ' . scalar(@e) . ' events: ' . join(',', map { $_->{id} // '-' } @e[0 .. ($#e < 20 ? $#e : 20)]))
        unless $ok;
}
is($bad, 0, "four resumers got m1..m$last once each, in id order, while it was published");
--- no_error_log
[alert]
[crit]



=== TEST 6: history dropped under readers on both workers: every event whole, ids increasing
--- workers: 2
--- http_config
sse_zone zone=ev:16m history=30 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; sse_max_pending 64k; sse_keepalive off; }
}
--- config
location /pub { sse_publish; client_max_body_size 1m; client_body_buffer_size 1m; }
--- test
my ($SIZE, $LAST) = (8000, 330);
publish_range('r', 1, 30, $SIZE, 10);
# a publisher on both workers drops history while readers read it
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    eval { publish_range('r', $_, $_ + 9, $SIZE, 10, port => ($_ % 20 ? port() : port2()))
           for map { 31 + 10 * $_ } 0 .. 29 };
    POSIX::_exit($@ ? 1 : 0);
}
my ($bad, $events, $gaps, $rounds, $status) = (0, 0, 0, 0);
while (!defined $status || $rounds < 3) {
    $status = $? >> 8 if !defined $status && waitpid($pid, POSIX::WNOHANG()) == $pid;
    $rounds++;
    my @s = map { sse_open('/sub?channel=r', {'Last-Event-ID' => '0'}, port => port2()) } 1 .. 4;
    sse_pump(\@s, 0.3);
    for my $c (@s) {
        my $prev = 0;
        for my $e ($c->events) {
            if (($e->{event} // '') eq 'sse_gap') { $gaps++; next; }
            $events++;
            $bad++ unless defined $e->{id} && $e->{id} > $prev
                && $e->{data} =~ /\Am(\d+):(x+)\z/ && $1 == $e->{id}
                && length($e->{data}) == $SIZE;
            $prev = $e->{id} // $prev;
        }
        $c->close;
    }
    last if $rounds > 200;
}
is($status, 0, 'the publisher got 200 for every batch');
cmp_ok($events, '>', 0, "readers read ($events events, $gaps gaps, $rounds rounds)");
is($bad, 0, 'every event whole and in id order');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 7: targeted messages, resume and replay read in small parts: only the user's, in order, the same as in one part
--- http_config
sse_zone zone=ev:4m history=1000;
--- config
location /sub {
    sse_subscribe; sse_auth_jwt attack-secret-0123456789abcdef0123;
    sse_max_pending 4k; sse_keepalive off;
}
location /replay {
    sse_subscribe; sse_auth_jwt attack-secret-0123456789abcdef0123;
    sse_max_pending 4k; sse_replay 10; sse_keepalive off;
}
location /pub { sse_publish; }
--- test
my @users = ('alex', 'bob', undef);
my @want;
for my $i (1 .. 90) {
    my $u = $users[$i % 3];
    my $m = { channel => 'u', data => "m$i:" . ('y' x 1000) };
    $m->{user} = $u if defined $u;
    my $r = http('POST', '/pub', JSON::PP::encode_json($m), {'Content-Type' => 'application/json'});
    die "publish $i" unless $r->{status} == 200;
    push @want, $i if !defined $u || $u eq 'alex';
}
my $s = sse_open('/sub?channel=u&token=' . token('alex'), {'Last-Event-ID' => '0'});
$s->read_until(qr/data: m90:y+\n\n/, 5);
is(join(',', map { $_->{id} } $s->events), join(',', @want), 'resume: alex gets his and the untargeted ones');
my $r = sse_open('/replay?channel=u&token=' . token('alex'));
$r->read_until(qr/data: m90:y+\n\n/, 5);
is(join(',', map { $_->{id} } $r->events), join(',', @want[-10 .. -1]), 'replay 10: the last ten he may see');
my $b = sse_open('/replay?channel=u&token=' . token('bob'), {'Last-Event-ID' => '80'});
$b->read_until(qr/data: m89:y+\n\n/, 5);
is(join(',', map { $_->{id} } $b->events), '82,83,85,86,88,89', 'bob resumed after 80: his and the untargeted');



=== TEST 8: sse_status "delivered" counts replayed and resumed events too
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /replay { sse_subscribe; sse_replay 2; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1 .. 5;
my $resume = sse_open('/sub?channel=a', {'Last-Event-ID' => '2'});
my $replay = sse_open('/replay?channel=a');
my $live = sse_open('/sub?channel=a');
$resume->read_until(qr/data: m5\n\n/, 2);
$replay->read_until(qr/data: m5\n\n/, 2);
is(status_field('delivered'), 5, 'resumed 3 + replayed 2');
http('POST', '/pub?channel=a', 'm6', $h);
$_->read_until(qr/data: m6\n\n/, 2) for $resume, $replay, $live;
is(join('|', map { join(',', map { $_->{id} } $_->events) } $resume, $replay, $live),
   '3,4,5,6|4,5,6|6', 'what each got');
is(status_field('delivered'), 8, 'then 3 live');



=== TEST 9: Last-Event-ID: the largest 64-bit id is accepted, one more is refused
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



=== TEST 10: HTTP/2 over TLS: a quiet stream's response head is on the wire at once, as over HTTP/1.1
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 ssl http2;
    ssl_certificate $TEST_NGINX_SSL_DIR/cert.pem;
    ssl_certificate_key $TEST_NGINX_SSL_DIR/key.pem;
    location /sub { sse_subscribe; sse_keepalive 30s; }
}
--- config
location /pub { sse_publish; }
--- test
my $p2 = port2();
my $wait = 3 * timeout_factor();
$wait = 20 if $wait > 20;    # well before the first keepalive (30 s)
for my $proto ('http2', 'http1.1') {
    my $out = server_root() . "/$proto.body";
    my $t0 = time;
    my $pid = open(my $curl, '-|', "exec curl -sk --no-buffer --$proto -v --max-time "
                   . ($wait + 2) . " -o $out https://127.0.0.1:$p2/sub?channel=$proto 2>&1")
        or die "curl: $!";
    my ($status, $t_head) = ('');
    my $sel = IO::Select->new($curl);
    my $buf = '';
    while (!defined $t_head && $sel->can_read($t0 + $wait - time)) {
        last unless sysread($curl, $buf, 4096, length $buf);
        $status = $1 if $buf =~ /^< (HTTP\/\S+ \d+)/m;
        $t_head = time - $t0 if $buf =~ /^< \r?\n/m;
    }
    ok(defined $t_head, "$proto: the response head arrived within ${wait}s, no event yet ("
                        . sprintf('%.2f s', $t_head // -1) . ")");
    like($status, qr/^HTTP\/(2|1\.1) 200$/, "$proto: 200");
    my $r = http('POST', "/pub?channel=$proto", 'hello', {'Content-Type' => 'text/plain'});
    like($r->{body}, qr/"subscribers":1\}/, "$proto: subscribed");
    sleep 0.3;
    kill 'TERM', $pid;
    close $curl;
    my $body = do { local $/; open my $f, '<', $out or die "$out: $!"; <$f> };
    is($body, "id: " . ($proto eq 'http2' ? 1 : 2) . "\ndata: hello\n\n",
       "$proto: the body is the event alone");
}
--- no_error_log
[alert]
[crit]



=== TEST 11: a resume gap found at subscribe time is checked again when history is first read: more left meanwhile, the gap names the oldest kept now
--- http_config
sse_zone zone=ev:4m history=20 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 sndbuf=4k;
    large_client_header_buffers 4 32k;
    location /sub {
        sse_subscribe;
        sse_channel $http_x_channels;
        sse_connected_event connected;
        sse_max_pending 16k;
        sse_keepalive off;
    }
}
--- config
location /pub { sse_publish; client_max_body_size 1m; client_body_buffer_size 1m; }
location /status { sse_status; }
--- test
# The connected event (32 names of 255 bytes, each '"' escaped: about 16k)
# is more than half of sse_max_pending and more than the socket buffers
# hold: the stalled stream reads no history until its client reads, long
# after it subscribed; the history drops 21..40 meanwhile.
publish_range('g', 1, 40, 100, 40);
my $names = join(',', 'g', map { ('"' x 252) . sprintf('%03d', $_) } 1 .. 31);
my $fh = stalled('/sub', port2(), "X-Channels: $names", 'Last-Event-ID: 5');
is(wait_subscribers(32, 5), 32, 'a stalled resumer of 32 channels');
sleep 0.3;
publish_range('g', 41, 60, 100, 20);

my $raw = '';
my $sel = IO::Select->new($fh);
my $deadline = time + 5 * timeout_factor();
while (time < $deadline && $raw !~ /id: 60\ndata: [^\n]*\n\n/) {
    last unless $sel->can_read($deadline - time);
    last unless sysread($fh, my $chunk, 65536);
    $raw .= $chunk;
}
my @ev = Test::Nginx::SSE::_parse_events(($raw =~ /\r\n\r\n(.*)\z/s)[0] // '');
is($ev[0]{event}, 'connected', 'the connected event first');
is($ev[1]{event}, 'sse_gap', 'then a gap');
is($ev[1]{data}, '{"channel":"g","last_event_id":"5","oldest_id":"41"}',
   'naming the oldest id kept when history was read, not when it subscribed');
is(join(',', map { $_->{id} // '-' } @ev[2 .. $#ev]), join(',', 41 .. 60),
   'then 41..60: no id lost without a gap');
close $fh;
--- no_error_log
[alert]
[crit]
