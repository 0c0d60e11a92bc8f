# Subscribing: headers, framing, keepalive, retry, connected event, several
# channels, timeouts, bad requests.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: response headers of a stream
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- subscribe
GET /sub?channel=a
--- stream_timeout: 0.3
--- stream_error_code: 200
--- stream_headers
Content-Type: text/event-stream
Cache-Control: no-cache
X-Accel-Buffering: no
Transfer-Encoding: chunked
!Content-Length
--- stream_body eval
""



=== TEST 2: a named event, then a default message event
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- subscribe
GET /sub?channel=user_123
--- requests eval
["POST /pub\n{\"channel\":\"user_123\",\"event\":\"workflow_update\",\"data\":{\"status\":\"processing\",\"progress\":45}}",
 "POST /pub\n{\"channel\":\"user_123\",\"event\":\"message\",\"data\":\"plain\"}"]
--- more_headers
Content-Type: application/json
--- stream_until: id: 2\n
--- stream_body eval
"id: 1\nevent: workflow_update\ndata: {\"status\":\"processing\",\"progress\":45}\n\nid: 2\ndata: plain\n\n"

--- no_error_log
[error]



=== TEST 3: payload line breaks LF, CRLF and lone CR each start a data line
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- subscribe
GET /sub?channel=a
--- request eval
"POST /pub?channel=a\none\ntwo\r\nthree\rfour\n\nsix"
--- more_headers
Content-Type: text/plain
--- stream_until: six
--- stream_body eval
"id: 1\ndata: one\ndata: two\ndata: three\ndata: four\ndata: \ndata: six\n\n"

=== TEST 4: retry and connected event open the stream
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_retry 2500ms; sse_connected_event connected; }
location /pub { sse_publish; }
--- requests eval
["POST /pub?channel=x\nbefore"]
--- subscribe
GET /sub?channel=b,a
--- stream_timeout: 0.3
--- stream_body eval
"retry: 2500\n\nevent: connected\ndata: {\"channels\":[\"b\",\"a\"],\"last_event_id\":\"0\"}\n\n"

=== TEST 5: connected event reports the newest id in the zone
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_connected_event hello; }
location /pub { sse_publish; }
--- test
for my $i (1..3) {
    http('POST', '/pub?channel=other', "m$i", {'Content-Type' => 'text/plain'});
}
my $s = sse_open('/sub?channel=mine');
is($s->status, 200, 'stream open');
my ($body, $ok) = $s->read_until(qr/\n\n/, 2);
is($body, qq{event: hello\ndata: {"channels":["mine"],"last_event_id":"3"}\n\n},
   'last_event_id is the zone newest');
$s->close;



=== TEST 6: several channels on one connection, no cross-talk
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $ab = sse_open('/sub?channel=a,b');
my $c = sse_open('/sub?channel=c');
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', 'to-a', $h);
http('POST', '/pub?channel=c', 'to-c', $h);
http('POST', '/pub?channel=b', 'to-b', $h);
$ab->read_until(qr/to-b/, 2);
$c->read_until(qr/to-c/, 2);
is_deeply([map { "$_->{id}:$_->{data}" } $ab->events], ['1:to-a', '3:to-b'], 'a,b');
is_deeply([map { "$_->{id}:$_->{data}" } $c->events], ['2:to-c'], 'c');



=== TEST 7: a repeated channel counts once
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=a,a,a');
my $r = http('POST', '/pub?channel=a', 'x', {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":1/, 'one subscriber');
$s->read_until(qr/data: x/, 2);
is(scalar(my @e = $s->events), 1, 'delivered once');



=== TEST 8: 32 channels are fine
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- subscribe eval
"GET /sub?channel=" . CORE::join(",", map { "c$_" } 1..32)
--- stream_timeout: 0.3
--- stream_error_code: 200



=== TEST 9: 33 channels are refused
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request eval
"GET /sub?channel=" . CORE::join(",", map { "c$_" } 1..33)
--- error_code: 400
--- response_body chomp
{"error":"more than 32 channels","status":400}



=== TEST 10: an invalid channel in the list
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
GET /sub?channel=a,,b
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 11: a channel with a space
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
GET /sub?channel=a%20b
--- error_code: 400
--- response_body_like: ^\{"error":"invalid channel name.*"status":400\}$



=== TEST 12: no channel means global
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- subscribe
GET /sub
--- request
POST /pub
{"data":"to everyone"}
--- more_headers
Content-Type: application/json
--- response_body chomp
{"id":"1","channel":"global","subscribers":1}
--- stream_until: everyone
--- stream_body eval
"id: 1\ndata: to everyone\n\n"

=== TEST 13: POST to a subscriber location
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
POST /sub?channel=a
x
--- error_code: 405
--- response_body chomp
{"error":"method not allowed: subscribe with GET","status":405}



=== TEST 14: HEAD gives the headers and ends
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
HEAD /sub?channel=a
--- error_code: 200
--- response_headers
Content-Type: text/event-stream
Cache-Control: no-cache
--- response_body eval
""



=== TEST 15: keepalive comments when quiet
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive 200ms; }
--- subscribe
GET /sub?channel=a
--- stream_timeout: 0.7
--- stream_body_like: ^(: keepalive\n\n){2,}$



=== TEST 16: no keepalive while events flow
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive 400ms; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=a');
for my $i (1..6) {
    http('POST', '/pub?channel=a', "m$i", {'Content-Type' => 'text/plain'});
    select(undef, undef, undef, 0.15);
}
$s->read_until(qr/data: m6\n\n/, 2);
is(scalar(my @c = $s->comments), 0, 'no keepalive between events 150ms apart');



=== TEST 17: sse_keepalive off sends nothing
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
--- subscribe
GET /sub?channel=a
--- stream_timeout: 0.5
--- stream_body eval
""



=== TEST 18: sse_subscriber_timeout ends the stream cleanly
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_subscriber_timeout 300ms; sse_retry 1s; }
--- test
my $s = sse_open('/sub?channel=a');
my $t0 = time;
$s->read_until(qr/never/, 3);
ok($s->closed, 'server ended the stream');
is($s->body, "retry: 1000\n\n", 'what was sent');
ok(time - $t0 < 2.5, 'within the timeout');



=== TEST 19: a closed client is no longer counted
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @s = map { sse_open('/sub?channel=cnt') } 1..3;
my $r = http('POST', '/pub?channel=cnt', 'x', {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":3/, 'three');
$_->close for @s[0, 1];
select(undef, undef, undef, 0.3);
$r = http('GET', '/pub?channel=cnt');
like($r->{body}, qr/"subscribers":1,/, 'one left');
$s[2]->close;
select(undef, undef, undef, 0.3);
$r = http('GET', '/pub?channel=cnt');
like($r->{body}, qr/"subscribers":0,/, 'none left');



=== TEST 20: never gzipped, even with gzip on for everything
--- http_config
sse_zone zone=ev:1m;
gzip on;
gzip_types *;
gzip_min_length 1;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- subscribe
GET /sub?channel=z
--- subscribe_headers
Accept-Encoding: gzip
--- request
POST /pub?channel=z
zipped?
--- more_headers
Content-Type: text/plain
--- stream_until: zipped
--- stream_headers
!Content-Encoding
--- stream_body eval
"id: 1\ndata: zipped?\n\n"

=== TEST 21: CORS headers from add_header reach the stream
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub {
    sse_subscribe;
    add_header Access-Control-Allow-Origin $http_origin always;
    add_header Access-Control-Allow-Credentials true always;
}
--- subscribe
GET /sub?channel=a
--- subscribe_headers
Origin: http://example.test
--- stream_timeout: 0.2
--- stream_headers
Access-Control-Allow-Origin: http://example.test
Access-Control-Allow-Credentials: true



=== TEST 22: UTF-8 passes untouched
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- subscribe
GET /sub?channel=u
--- request
POST /pub
{"channel":"u","data":"héllo → 世界"}
--- more_headers
Content-Type: application/json
--- stream_until: 界
--- stream_body eval
"id: 1\ndata: héllo → 世界\n\n"

=== TEST 23: sse_max_subscribers answers 503 beyond the limit
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_max_subscribers 2; }
--- test
my @s = map { sse_open('/sub?channel=lim') } 1..2;
is($_->status, 200, 'within the limit') for @s;
my $r = http('GET', '/sub?channel=lim');
is($r->{status}, 503, 'third refused');
is($r->{body}, '{"error":"too many subscribers on the channel (sse_max_subscribers)","status":503}', 'JSON error');
my $o = sse_open('/sub?channel=other');
is($o->status, 200, 'other channels unaffected');
$s[0]->close;
select(undef, undef, undef, 0.3);
my $again = sse_open('/sub?channel=lim');
is($again->status, 200, 'a place freed');



=== TEST 24: a slow subscriber beyond sse_max_pending is closed, others go on
--- http_config
sse_zone zone=ev:4m;
server {
    # a small send buffer, so that what the client does not read waits in nginx
    listen 127.0.0.1:$TEST_NGINX_PORT2 sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 64k; }
}
--- config
location /pub { sse_publish; }
--- test
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
# a client that never reads, with a small receive buffer
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port2(),
                                 Proto => 'tcp') or die;
setsockopt($slow, SOL_SOCKET, SO_RCVBUF, 4096);
print $slow "GET /sub?channel=big HTTP/1.1\r\nHost: localhost\r\n\r\n";
my $fast = sse_open('/sub?channel=big', undef, port => port2());
select(undef, undef, undef, 0.2);
my $payload = 'p' x 30000;
for my $i (1..40) {
    http('POST', '/pub?channel=big', $payload, {'Content-Type' => 'text/plain'});
    $fast->read_until(qr/^id: $i\n/m, 2);
}
$fast->read_until(qr/^id: 40\n.*\n\n/ms, 3);
my @ids = map { $_->{id} } $fast->events;
is(join(',', @ids), join(',', 1..40), 'the reading subscriber got all 40');
like(error_log_text(), qr/slow subscriber has more than sse_max_pending bytes waiting, closing/,
     'slow one closed and logged');
my $r = http('GET', '/pub?channel=big');
like($r->{body}, qr/"subscribers":1,/, 'only the fast one is left');



=== TEST 25: no BOM, empty data, and data ending in a line break
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=f');
http('POST', '/pub', '{"channel":"f","data":""}', {'Content-Type' => 'application/json'});
http('POST', '/pub', '{"channel":"f","data":"end\n"}', {'Content-Type' => 'application/json'});
http('POST', '/pub', '{"channel":"f","data":"\r\n\r\n"}', {'Content-Type' => 'application/json'});
my ($body) = $s->read_until(qr/^id: 3\n.*\n\n/ms, 2);
is($body, "id: 1\ndata: \n\nid: 2\ndata: end\ndata: \n\nid: 3\ndata: \ndata: \ndata: \n\n",
   'every line kept, as EventSource joins them back');
unlike($s->raw, qr/\xEF\xBB\xBF/, 'no BOM anywhere');
my @e = $s->events;
is_deeply([map { $_->{data} } @e], ["", "end\n", "\n\n"], 'the browser sees the original data');
