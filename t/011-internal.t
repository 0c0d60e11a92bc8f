# Publishing through internal locations: X-Accel-Redirect from an upstream
# app, error_page and mirror publish the original request's body.
use lib 't/lib';
use Test::Nginx::SSE;

# 40000 bytes of numbered lines (the last without its line feed): big enough
# for a temp file with client_body_buffer_size 1k, and any truncation or
# reordering shows.
sub big_body {
    my $b = join('', map { sprintf("%07d\n", $_) } 1..5000);
    chop $b;
    return $b;
}

run_tests();

__DATA__

=== TEST 1: X-Accel-Redirect with a JSON body: the publish reply goes to the client, the subscriber gets the data
--- http_config
sse_zone zone=ev:1m;
server {
    # the "upstream app": tells nginx to publish the request it was sent
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/ { add_header X-Accel-Redirect "/_publish"; return 200 ""; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /_publish { internal; sse_publish; }
--- test
my $s = sse_open('/sub?channel=jobs');
my $r = http('POST', '/app/job', '{"channel":"jobs","data":{"job":7}}',
             {'Content-Type' => 'application/json'});
is($r->{status}, 200, 'status 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'application/json');
is($r->{body}, '{"id":"1","channel":"jobs","subscribers":1}', 'the publish reply');
my ($body, $ok) = $s->read_until(qr/\n\n/, 3);
is($body, qq(id: 1\ndata: {"job":7}\n\n), 'the subscriber got the data');
$r = http('POST', '/app/batch', '[{"channel":"jobs","event":"a","data":"1"},{"channel":"jobs","event":"b","data":"2"}]',
          {'Content-Type' => 'application/json'});
is($r->{body}, '[{"id":"2","channel":"jobs","subscribers":1},{"id":"3","channel":"jobs","subscribers":1}]',
   'a batch through the redirect');
($body, $ok) = $s->read_until(qr/id: 3\n.*\n\n/s, 3);
like($body, qr/id: 2\nevent: a\ndata: 1\n\nid: 3\nevent: b\ndata: 2\n\n\z/, 'both events');
--- no_error_log
[alert]
[crit]
[error]



=== TEST 2: X-Accel-Redirect with a raw body: channel and event from the redirect URI's arguments
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/done { add_header X-Accel-Redirect "/_publish?channel=jobs&event=done"; return 204; }
    location /app/form { add_header X-Accel-Redirect "/_publish?channel=ignored"; return 200 ""; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /_publish { internal; sse_publish; }
--- test
my $s = sse_open('/sub?channel=jobs,forms');
my $r = http('POST', '/app/done?channel=wrong&event=wrong', "job 7\nfinished", {'Content-Type' => 'text/plain'});
is($r->{status}, 200, '200 (not the upstream 204)');
is($r->{body}, '{"id":"1","channel":"jobs","subscribers":1}', 'published on the channel of the redirect URI');
$r = http('POST', '/app/form', 'channel=forms&event=f&data=a+b', {'Content-Type' => 'application/x-www-form-urlencoded'});
is($r->{body}, '{"id":"2","channel":"forms","subscribers":1}', 'a form body through the redirect');
my ($body) = $s->read_until(qr/id: 2\n.*\n\n/s, 3);
is($body, "id: 1\nevent: done\ndata: job 7\ndata: finished\n\nid: 2\nevent: f\ndata: a b\n\n",
   'event and data as published');
--- no_error_log
[alert]
[crit]
[error]



=== TEST 3: a direct request to the internal publisher: nginx's 404, as JSON, nothing published
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
location /_publish { internal; sse_publish; }
--- test
my $r = http('POST', '/_publish?channel=jobs', 'sneaky', {'Content-Type' => 'text/plain'});
is($r->{status}, 404, 'POST: 404');
like($r->{headers}{'content-type'}, qr{^application/json}, 'application/json');
is($r->{body}, '{"error":"not found","status":404}', 'JSON error');
$r = http('GET', '/_publish?channel=jobs');
is($r->{status}, 404, 'GET: 404');
is($r->{body}, '{"error":"not found","status":404}', 'JSON error');
$r = http('DELETE', '/_publish?channel=jobs');
is($r->{status}, 404, 'DELETE: 404');
$r = http('GET', '/pub?channel=jobs');
is($r->{status}, 404, 'the channel does not exist: nothing was published');
--- no_error_log
[alert]
[crit]



=== TEST 4: mirror publishes a copy of the request body; the client gets the upstream's reply
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /api { return 200 "api ok\n"; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /api { mirror /_mirror_pub; proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location = /_mirror_pub { internal; sse_publish; sse_channel mirrored; }
--- test
my $s = sse_open('/sub?channel=mirrored');
my $r = http('POST', '/api/orders', 'order 42 placed', {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'status 200');
is($r->{body}, "api ok\n", "the upstream's reply");
my ($body, $ok) = $s->read_until(qr/\n\n/, 3);
is($body, "id: 1\ndata: order 42 placed\n\n", 'the mirror published the body');
$r = http('POST', '/api/json', '{"event":"order","data":{"n":43}}', {'Content-Type' => 'application/json'});
is($r->{body}, "api ok\n", "the upstream's reply");
($body, $ok) = $s->read_until(qr/id: 2\n.*\n\n/s, 3);
like($body, qr/id: 2\nevent: order\ndata: \{"n":43\}\n\n\z/, 'a JSON body, channel from sse_channel');
$s->read_for(0.3);
is(scalar(my @e = $s->events), 2, 'each published once');
$r = http('GET', '/pub?channel=mirrored');
like($r->{body}, qr/"messages":2,"last_event_id":"2"/, 'two messages');
--- no_error_log
[alert]
[crit]
[error]



=== TEST 5: error_page 502 = /_pub_err publishes the original body
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
# nothing listens on port 1: connection refused, 502
location /broken { proxy_pass http://127.0.0.1:1; error_page 502 = /_pub_err; }
location /_pub_err { internal; sse_publish; sse_channel errors; sse_event failed; }
--- test
my $s = sse_open('/sub?channel=errors');
my $r = http('POST', '/broken/job', 'job 8 could not be delivered', {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'the status of the publisher (error_page =)');
is($r->{body}, '{"id":"1","channel":"errors","subscribers":1}', 'the publish reply');
my ($body) = $s->read_until(qr/\n\n/, 3);
is($body, "id: 1\nevent: failed\ndata: job 8 could not be delivered\n\n", 'the original body');
$r = http('POST', '/broken/x', '{"channel":"errors","event":"json","data":[1,2]}', {'Content-Type' => 'application/json'});
is($r->{body}, '{"id":"2","channel":"errors","subscribers":1}', 'a JSON body');
($body) = $s->read_until(qr/id: 2\n.*\n\n/s, 3);
like($body, qr/id: 2\nevent: json\ndata: \[1,2\]\n\n\z/, 'published as JSON');
--- error_log
connect() failed (111: Connection refused)
--- no_error_log
[alert]
[crit]



=== TEST 6: a 40k body in a temp file (client_body_buffer_size 1k) through X-Accel-Redirect, mirror and error_page
--- http_config
sse_zone zone=ev:4m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/ { add_header X-Accel-Redirect "/_publish?channel=big&event=xa"; return 204; }
    location /api/ { return 200 "api ok\n"; }
}
--- config
client_body_buffer_size 1k;
location /sub { sse_subscribe; sse_keepalive off; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /_publish { internal; sse_publish; }
location /api/ { mirror /_mirror_pub; proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location = /_mirror_pub { internal; sse_publish; sse_channel big; sse_event mirror; }
location /broken { proxy_pass http://127.0.0.1:1; error_page 502 = /_pub_err; }
location /_pub_err { internal; sse_publish; sse_channel big; sse_event err; }
--- test
my $big = big_body();
my $s = sse_open('/sub?channel=big');
my $r = http('POST', '/app/x', $big, {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"1","channel":"big","subscribers":1}', 'X-Accel-Redirect');
$r = http('POST', '/api/x', $big, {'Content-Type' => 'text/plain'});
is($r->{body}, "api ok\n", 'mirror');
$r = http('POST', '/broken', $big, {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"3","channel":"big","subscribers":1}', 'error_page');
my $json = '{"data":' . ('"' . ('j' x 39990) . '"') . '}';
$r = http('POST', '/app/json', $json, {'Content-Type' => 'application/json'});
is($r->{body}, '{"id":"4","channel":"big","subscribers":1}', 'X-Accel-Redirect, JSON');
$s->read_until(qr/id: 4\n.*\n\n/s, 5);
my @e = $s->events;
is(join(' ', map { ($_->{id} // '-') . '/' . ($_->{event} // '') } @e), '1/xa 2/mirror 3/err 4/',
   'four events');
my $same = grep { defined $_->{data} && $_->{data} eq $big } @e[0..2];
is($same, 3, 'each carries the whole 40k body, unchanged');
is(length($e[3]{data} // ''), 39990, 'the JSON one too');
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[alert]
[crit]
cannot read the request body



=== TEST 7: X-Accel-Redirect and data larger than sse_max_message_size: 413, nothing published
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/ { add_header X-Accel-Redirect "/_publish?channel=jobs"; return 204; }
}
--- config
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /pub { sse_publish; }
location /_publish { internal; sse_publish; sse_max_message_size 1k; }
--- test
my $r = http('POST', '/app/x', 'y' x 2000, {'Content-Type' => 'text/plain'});
is($r->{status}, 413, 'status 413');
is($r->{body}, '{"error":"data is larger than sse_max_message_size","status":413}', 'JSON error');
is(http('GET', '/pub?channel=jobs')->{status}, 404, 'nothing published');
$r = http('POST', '/app/x', 'y' x 1000, {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"1","channel":"jobs","subscribers":0}', 'a smaller one is');
--- no_error_log
[alert]
[crit]



=== TEST 8: proxy_request_buffering off: a body already streamed to the app is not published empty
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/ { add_header X-Accel-Redirect "/_publish?channel=jobs"; return 204; }
}
--- config
client_body_buffer_size 1k;
location /sub { sse_subscribe; sse_keepalive off; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; proxy_request_buffering off; }
location /_publish { internal; sse_publish; }
--- test
# The body was streamed to the upstream and is no longer held by nginx when
# the X-Accel-Redirect arrives. Publishing it whole is impossible; what must
# not happen is a 200 with an empty (or truncated) message published.
my $s = sse_open('/sub?channel=jobs');
my $r = http('POST', '/app/x', 'a' x 5000, {'Content-Type' => 'text/plain'});
$s->read_for(0.5);
my @e = $s->events;
my $bad = grep { length($_->{data} // '') != 5000 } @e;
is($bad, 0, 'no empty or truncated message published');
ok((@e == 1 && $r->{status} == 200) || (!@e && $r->{status} >= 400),
   "either the whole body is published or the publish is refused (got $r->{status}, "
   . scalar(@e) . ' events)');



=== TEST 9: a request without a body redirected to the publisher publishes nothing (SPEC: the original method decides; empty body is 400)
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location /app/ { add_header X-Accel-Redirect "/_publish?channel=jobs&event=done"; return 204; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /_publish { internal; sse_publish; }
--- test
my $s = sse_open('/sub?channel=jobs');
my $r = http('GET', '/app/x');
is($r->{status}, 200, 'GET redirected to the publisher: the channel info (the original method decides)');
is($r->{body}, '{"channel":"jobs","subscribers":1,"messages":0,"last_event_id":"0"}', 'info, nothing published');
$r = http('POST', '/app/x', '', {'Content-Type' => 'text/plain'});
is($r->{status}, 400, 'empty POST redirected to the publisher: 400');
$s->read_for(0.3);
is(scalar(my @e = $s->events), 0, 'no empty message published');
like(http('GET', '/pub?channel=jobs')->{body}, qr/"messages":0,/, 'no message kept');
