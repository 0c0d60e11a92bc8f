# HTTP/2 (cleartext, prior knowledge): streams, keepalives, client close and
# timeouts behave as over HTTP/1.1.  curl speaks HTTP/2 for the test.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: an HTTP/2 stream receives events, keepalives, and ends on timeout
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    location /sub { sse_subscribe; sse_keepalive 300ms; sse_subscriber_timeout 1200ms;
                    sse_connected_event connected; }
}
--- config
location /pub { sse_publish; }
--- test
my $p2 = port2();
my $out = server_root() . "/h2.out";
my $pid = fork();
if ($pid == 0) {
    exec('curl', '-sN', '--http2-prior-knowledge', '--max-time', '5', '-D', '-',
         '-o', $out, "http://127.0.0.1:$p2/sub?channel=h2") or exit 1;
}
select(undef, undef, undef, 0.4);
my $r = http('POST', '/pub?channel=h2', "over h2", {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":1/, 'the HTTP/2 subscriber is counted');
waitpid($pid, 0);
open(my $fh, '<', $out) or die "$out: $!";
my $body = do { local $/; <$fh> };
like($body, qr/^event: connected\ndata: \{"channels":\["h2"\],"last_event_id":"0"\}\n\n(: keepalive\n\n)*id: 1\ndata: over h2\n\n(: keepalive\n\n)+\z/,
     'connected event, the message, keepalives, then a clean end');
$r = http('GET', '/pub?channel=h2');
like($r->{body}, qr/"subscribers":0,/, 'ended stream no longer counted');



=== TEST 2: an HTTP/2 client that goes away is no longer counted
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    location /sub { sse_subscribe; }
}
--- config
location /pub { sse_publish; }
--- test
my $p2 = port2();
my @pids;
for (1..3) {
    my $pid = fork();
    if ($pid == 0) {
        exec('curl', '-sN', '--http2-prior-knowledge', '--max-time', '0.8', '-o', '/dev/null',
             "http://127.0.0.1:$p2/sub?channel=gone") or exit 1;
    }
    push @pids, $pid;
}
select(undef, undef, undef, 0.4);
my $r = http('GET', '/pub?channel=gone');
like($r->{body}, qr/"subscribers":3,/, 'three HTTP/2 subscribers');
waitpid($_, 0) for @pids;
select(undef, undef, undef, 0.3);
$r = http('GET', '/pub?channel=gone');
is($r->{status}, 404, 'all gone: the channel is freed');
--- no_error_log
[alert]



=== TEST 3: limit_rate on an HTTP/2 stream paces it: every event arrives, none is cut off as a send timeout
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    location /sub { sse_subscribe; sse_keepalive off; limit_rate 200; send_timeout 30s; }
}
--- config
location /pub { sse_publish; }
--- test
my $p2 = port2();
my $out = server_root() . "/h2rate.out";
my $pid = fork();
if ($pid == 0) {
    exec('curl', '-sN', '--http2-prior-knowledge', '--max-time', 6 * timeout_factor(),
         '-o', $out, "http://127.0.0.1:$p2/sub?channel=rate") or exit 1;
}
select(undef, undef, undef, 0.4);
for my $i (1 .. 4) {
    my $r = http('POST', '/pub?channel=rate', "m$i:" . ('x' x 150), {'Content-Type' => 'text/plain'});
    like($r->{body}, qr/"subscribers":1/, "message $i published to the stream");
}
my $body = '';
for (1 .. 60 * timeout_factor()) {
    if (open(my $fh, '<', $out)) { $body = do { local $/; <$fh> } }
    last if $body =~ /data: m4:/;
    select(undef, undef, undef, 0.1);
}
like($body, qr/data: m1:.*data: m2:.*data: m3:.*data: m4:/s, 'all four events arrive, paced by limit_rate');
kill 'TERM', $pid;
waitpid($pid, 0);
--- no_error_log
timed out
[alert]
