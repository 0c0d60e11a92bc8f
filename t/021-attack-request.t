# Attacks on the request plumbing, replayed on real sockets:
#   - request smuggling: an error reply sent before the request body was read
#     or discarded let nginx take the body for the next request on a
#     keep-alive connection (also through a keep-alive front proxy);
#   - tokens in logs: ?token= values in error.log and access.log's $request;
#   - error_page to the publisher when nginx has not read the body and has
#     turned the method into GET.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::Raw;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;

our $SECRET = 'attack-secret-0123456789abcdef01234567';

sub make_jwt {
    my ($claims) = @_;
    my $json = JSON::PP->new->canonical;
    my $h = encode_base64url($json->encode({alg => 'HS256', typ => 'JWT'}));
    my $p = encode_base64url($json->encode($claims));
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $SECRET));
}

# The request an attacker hides in a body: if nginx ever parses it, it is
# answered "SMUGGLED" and shows in access.log.
our $SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

sub chunked {
    my ($data) = @_;
    return sprintf("%x\r\n%s\r\n0\r\n\r\n", length $data, $data);
}


run_tests();

__DATA__

=== TEST 1: every early reply discards a Content-Length body: the request hidden in it is never served
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /sub { sse_subscribe; sse_keepalive off; }
location /jwt_sub { sse_subscribe; sse_auth_jwt attack-secret-0123456789abcdef01234567; }
location /pub { sse_publish; sse_max_message_size 8; }
location /pub_key { sse_publish; sse_api_key k1-secret; }
location /token { sse_token attack-secret-0123456789abcdef01234567; }
location /token_key { sse_token attack-secret-0123456789abcdef01234567; sse_api_key k1-secret; }
location /status { sse_status; }
location /status_key { sse_status; sse_api_key k1-secret; }
--- test
my $S = $main::SMUGGLED;
my @cases = (
    # what, method, uri, headers, status, JSON error
    ['subscribe: 405', 'POST', '/sub?channel=a', [], 405, 'method not allowed: subscribe with GET'],
    ['subscribe: 400 (33 channels)', 'GET', '/sub?channel=' . join(',', 1..33), [], 400, undef],
    ['subscribe: 401 (no token)', 'GET', '/jwt_sub?channel=a', [], 401, 'missing token'],
    ['publish: 401 (no key)', 'POST', '/pub_key?channel=a', ['Content-Type: text/plain'], 401, 'missing or wrong API key'],
    ['publish: 401 (wrong key)', 'POST', '/pub_key?channel=a', ['X-API-Key: nope'], 401, 'missing or wrong API key'],
    ['publish: 405 (PATCH)', 'PATCH', '/pub?channel=a', [], 405, undef],
    ['publish: 405 (OPTIONS)', 'OPTIONS', '/pub?channel=a', [], 405, undef],
    ['info: 400 (invalid channel)', 'GET', '/pub?channel=a%20b', [], 400, 'invalid channel name'],
    ['info: 404 (unknown channel)', 'GET', '/pub?channel=nope', [], 404, 'unknown channel'],
    ['delete: 404 (unknown channel)', 'DELETE', '/pub?channel=nope', [], 404, 'unknown channel'],
    ['delete: 401 (no key)', 'DELETE', '/pub_key?channel=a', [], 401, 'missing or wrong API key'],
    ['token: 405 (PUT)', 'PUT', '/token', [], 405, 'method not allowed: ask for a token with POST'],
    ['token: 401 (no key)', 'POST', '/token_key', ['Content-Type: application/json'], 401, 'missing or wrong API key'],
    ['status: 405 (POST)', 'POST', '/status', [], 405, 'method not allowed: read the status with GET'],
    ['status: 401 (no key)', 'GET', '/status_key', [], 401, 'missing or wrong API key'],
);
for my $c (@cases) {
    my ($what, $method, $uri, $headers, $status, $error) = @$c;
    my $x = main::exchange([main::req($method, $uri, $headers, $S) . main::closing()]);
    is(main::statuses($x), "$status 200", "$what: the reply, then the next request's (not the hidden one)");
    is($x->{responses}[-1]{body}, "hello\n", "$what: the next request is answered");
    is($x->{rest}, '', "$what: nothing else on the wire");
    if (defined $error) {
        is($x->{responses}[0]{body}, qq({"error":"$error","status":$status}), "$what: JSON error");
    }
}
# after reading the body: a bad JSON body (400) and data over sse_max_message_size (413)
my $x = main::exchange([main::req('POST', '/pub?channel=a', ['Content-Type: application/json'], '{"data":') . main::closing()]);
is(main::statuses($x), '400 200', 'publish: 400 after reading, then the next request');
$x = main::exchange([main::req('POST', '/pub?channel=a', ['Content-Type: text/plain'], $S) . main::closing()]);
is(main::statuses($x), '413 200', 'publish: 413 (sse_max_message_size) after reading, then the next request');
is($x->{responses}[0]{body}, '{"error":"data is larger than sse_max_message_size","status":413}', 'JSON 413');
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
like(main::access_log(), qr{"POST /sub\?channel=a HTTP/1.1" 405 }, 'access.log has the requests that were sent');
--- no_error_log
[alert]
[crit]



=== TEST 2: the same with chunked bodies
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /pub_key { sse_publish; sse_api_key k1-secret; }
location /token { sse_token attack-secret-0123456789abcdef01234567; }
location /status { sse_status; }
--- test
my $body = main::chunked($main::SMUGGLED);
my @cases = (
    ['subscribe: 405', 'POST', '/sub?channel=a', 405],
    ['info: 404', 'GET', '/pub?channel=nope', 404],
    ['publish: 401', 'POST', '/pub_key?channel=a', 401],
    ['publish: 405', 'PATCH', '/pub?channel=a', 405],
    ['delete: 404', 'DELETE', '/pub?channel=nope', 404],
    ['token: 405', 'GET', '/token', 405],
    ['status: 405', 'PUT', '/status', 405],
);
for my $c (@cases) {
    my ($what, $method, $uri, $status) = @$c;
    my $x = main::exchange([main::req($method, $uri, ['Transfer-Encoding: chunked'], $body)
                            . main::closing()]);
    is(main::statuses($x), "$status 200", "$what: the reply, then the next request's");
    is($x->{responses}[-1]{body}, "hello\n", "$what: the next request is answered");
}
# a chunked body split in two writes, the second after the reply
my $x = main::exchange([main::req('POST', '/pub_key?channel=a', ['Transfer-Encoding: chunked'], substr($body, 0, 10)),
                        0.3, substr($body, 10) . main::closing()]);
is(main::statuses($x), '401 200', 'a body finished after the reply is discarded too');
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
--- no_error_log
[alert]
[crit]



=== TEST 3: the body arrives after the reply (Expect: 100-continue or a slow client): still discarded
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /sub { sse_subscribe; sse_keepalive off; }
location /pub_key { sse_publish; sse_api_key k1-secret; }
location /status { sse_status; }
--- test
my $S = $main::SMUGGLED;
# Expect: 100-continue: the 401 comes at once, without "100 Continue"; a
# client that sends the body anyway does not get it served
my $x = main::exchange([main::req('POST', '/pub_key?channel=a',
                                  ['Expect: 100-continue', 'Content-Length: ' . length $S]),
                        0.3, $S . main::closing()]);
is(main::statuses($x), '401 200', 'Expect: 100-continue: 401 (no 100 Continue), then the next request');
# the headers, a pause (the reply is sent), then the body
for my $c (['POST', '/sub?channel=a', 405], ['POST', '/status', 405], ['POST', '/pub_key', 401]) {
    $x = main::exchange([main::req($c->[0], $c->[1], ['Content-Length: ' . length $S]),
                         0.3, substr($S, 0, 7), 0.2, substr($S, 7) . main::closing()]);
    is(main::statuses($x), "$c->[2] 200", "$c->[1]: body after the reply, discarded");
}
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
--- no_error_log
[alert]
[crit]



=== TEST 4: bodies that cannot be kept or discarded: too large, bad chunked encoding: the reply, then the connection closes
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
client_max_body_size 100;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /pub { sse_publish; }
location /pub_key { sse_publish; sse_api_key k1-secret; }
location /sub { sse_subscribe; }
--- test
my $S = $main::SMUGGLED;
my $big = ('x' x 200) . $S;
# Content-Length over client_max_body_size: nginx's 413 (as JSON), before reading
my $x = main::exchange([main::req('POST', '/pub?channel=a', [], $big) . main::closing()]);
is(main::statuses($x), '413', 'Content-Length too large: 413, connection closed');
is($x->{responses}[0]{body}, '{"error":"request body is larger than client_max_body_size","status":413}', 'JSON 413');
ok($x->{eof}, 'closed');
# chunked over client_max_body_size: found while reading
$x = main::exchange([main::req('POST', '/pub?channel=a', ['Transfer-Encoding: chunked'], main::chunked($big))
                     . main::closing()]);
is(main::statuses($x), '413', 'chunked too large: 413 while reading, connection closed');
ok($x->{eof}, 'closed');
# bad chunked encoding while publishing: 400
$x = main::exchange([main::req('POST', '/pub?channel=a', ['Transfer-Encoding: chunked'], "zz\r\n" . $S)
                     . main::closing()]);
is(main::statuses($x), '400', 'bad chunked body while reading: 400, connection closed');
# bad chunked encoding on an early reply: the reply, then the connection closes
for my $c (['POST', '/pub_key?channel=a', 401], ['POST', '/sub?channel=a', 405]) {
    $x = main::exchange([main::req($c->[0], $c->[1], ['Transfer-Encoding: chunked'], "zz\r\n" . $S)
                         . main::closing()]);
    is(main::statuses($x), $c->[2], "$c->[1]: bad chunked body: its reply only");
    ok($x->{eof}, "$c->[1]: closed");
}
unlike(main::access_log(), qr{/smuggled|/hello}, 'access.log: nothing after those requests was served');
--- error_log
client intended to send too large body
client intended to send too large chunked body
client sent invalid chunked body
--- no_error_log
[alert]
[crit]



=== TEST 5: pipelined requests with bodies: each answered once, in order, nothing hidden served
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /pub_key { sse_publish; sse_api_key k1-secret; }
location /status { sse_status; }
--- test
my $S = $main::SMUGGLED;
my $x = main::exchange([join('',
    main::req('POST', '/pub?channel=p', ['Content-Type: text/plain'], 'one'),
    main::req('POST', '/sub?channel=p', [], $S),
    main::req('POST', '/pub_key?channel=p', [], $S),
    main::req('GET', '/pub?channel=p', [], $S),
    main::req('PATCH', '/pub?channel=p', ['Transfer-Encoding: chunked'], main::chunked($S)),
    main::req('POST', '/status', [], $S),
    main::req('PUT', '/pub?channel=p', ['Content-Type: application/json'], '{"data":"two"}'),
    main::closing())]);
is(main::statuses($x), '200 405 401 200 405 405 200 200', 'eight requests, eight replies in order');
is($x->{responses}[0]{body}, '{"id":"1","channel":"p","subscribers":0}', 'the first publish');
is($x->{responses}[3]{body}, '{"channel":"p","subscribers":0,"messages":1,"last_event_id":"1"}',
   'the info between them');
is($x->{responses}[6]{body}, '{"id":"2","channel":"p","subscribers":0}', 'the second publish');
my $log = main::access_log();
unlike($log, qr{/smuggled}, 'access.log: no hidden request was served');
is(scalar(() = $log =~ /HTTP\/1\.1" \d{3} /g), 8, 'access.log: eight requests');
--- no_error_log
[alert]
[crit]



=== TEST 6: behind a keep-alive front proxy that exposes only /events, a body cannot publish to or delete from a publisher allowed to 127.0.0.1
--- http_config
sse_zone zone=ev:1m;
upstream backend {
    server 127.0.0.1:$TEST_NGINX_PORT2;
    keepalive 4;
}
server {
    # the SSE server, reached only through the front proxy
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    access_log logs/backend.log;
    location /events { sse_subscribe; sse_keepalive off; }
    location /publish_local { allow 127.0.0.1; deny all; sse_publish; }
}
--- config
# the front proxy: the Internet's only way in
access_log logs/front.log;
location /events {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
}
--- test
my $p2 = port2();
# the operator's own publisher: from this host it works
my $r = http('POST', '/publish_local?channel=keep', 'kept', {'Content-Type' => 'text/plain'}, port => $p2);
is($r->{status}, 200, 'the local publisher works from 127.0.0.1');
# from elsewhere it is refused (127.0.0.2 plays another host, when it can)
my $far = main::exchange([main::req('POST', '/publish_local?channel=victim', ['Connection: close'], 'x')],
                         port => $p2, local => '127.0.0.2');
SKIP: {
    skip 'cannot bind 127.0.0.2', 1 unless @{ $far->{responses} };
    is(main::statuses($far), '403', 'from another address: 403');
}
# through the front proxy only /events exists
is(http('POST', '/publish_local?channel=victim', 'x')->{status}, 404, 'the front has no publisher');

my $publish = main::req('POST', '/publish_local?channel=victim',
                        ['Content-Type: text/plain'], 'pwned');
my $delete = main::req('DELETE', '/publish_local?channel=keep', []);
for my $hidden (['publish', $publish], ['delete', $delete]) {
    for my $how (['Content-Length', sub { main::req('POST', '/events?channel=x', [], $_[0]) }],
                 ['chunked', sub { main::req('POST', '/events?channel=x', ['Transfer-Encoding: chunked'],
                                                main::chunked($_[0])) }],
                 ['GET with a body', sub { main::req('GET', '/events?channel=x', [], $_[0]) }]) {
        my $x = main::exchange([$how->[1]->($hidden->[1]) . main::closing()], timeout => 1);
        if ($how->[0] eq 'GET with a body') {
            is($x->{responses}[0]{status}, 200, "$hidden->[0], $how->[0]: the stream opens");
        } else {
            is($x->{responses}[0]{status}, 405, "$hidden->[0], $how->[0]: 405 from /events");
            is($x->{responses}[0]{body}, '{"error":"method not allowed: subscribe with GET","status":405}',
               "$hidden->[0], $how->[0]: the JSON error");
        }
        sleep 0.2;
        $r = http('GET', '/publish_local?channel=victim', undef, undef, port => $p2);
        is($r->{status}, 404, "$hidden->[0], $how->[0]: nothing was published on the victim channel");
        $r = http('GET', '/publish_local?channel=keep', undef, undef, port => $p2);
        like($r->{body}, qr/"messages":1,/, "$hidden->[0], $how->[0]: the channel was not deleted");
    }
}
my $log = main::access_log('backend.log');
is(scalar(() = $log =~ m{"(?:POST|DELETE) /publish_local[^"]*" 200 }g), 1,
   'backend access.log: only the operator\'s publish reached the publisher');
--- no_error_log
[alert]
[crit]



=== TEST 7: ?token= values never reach error.log or access.log (HTTP/1.1 and HTTP/2, valid and invalid tokens)
--- http_config
sse_zone zone=ev:1m;
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
log_format req '$request';
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    access_log logs/access.log req;
    location /sub { sse_subscribe; sse_auth_jwt attack-secret-0123456789abcdef01234567; }
}
--- config
access_log logs/access.log req;
# $request read before the subscriber location is found: read again
set $early $request;
location /sub { sse_subscribe; sse_keepalive off;
                sse_auth_jwt attack-secret-0123456789abcdef01234567; }
location /limited { sse_subscribe; limit_req zone=one nodelay;
                    sse_auth_jwt attack-secret-0123456789abcdef01234567; }
location /pub { sse_publish; }
location /old_events { rewrite ^ /sub last; }
--- test
my $good = main::make_jwt({exp => time + 600, channel => '*'});
my @secrets;
my $n = 0;
my sub secret { push @secrets, 'SECRET' . ++$n . 'x' x 8; return $secrets[-1] }
# valid tokens: the subscriber goes away ("client prematurely closed connection")
for my $uri ("/sub?channel=a&token=$good", "/sub?token=$good&channel=a",
             "/sub?TOKEN=$good&channel=a") {
    my $s = sse_open($uri);
    is($s->status, 200, "$uri: subscribed");
    $s->close;
}
# invalid ones, in every place and spelling
for my $q ('channel=a&token=' . secret(), 'token=' . secret() . '&channel=a',
           'token=' . secret() . '&token=' . secret() . '&channel=a',
           'x=1;token=' . secret() . '&channel=a', '%74oken=' . secret() . '&channel=a',
           'tOkEn=' . secret() . '&channel=a', 'channel=a&token=' . secret() . '&x=1') {
    my $r = http('GET', "/sub?$q");
    is($r->{status}, 401, "?$q: 401");
}
# odd spellings: all-encoded name, empty arguments, no value, an absolute
# URI, a rewrite to the subscriber location
for my $q ('%74%6F%6B%65%6E=' . secret() . '&channel=a', '&&token=' . secret() . '&channel=a',
           'token&token=&channel=a&token=' . secret()) {
    is(http('GET', "/sub?$q")->{status}, 401, "?$q: 401");
}
is(http('GET', '/old_events?channel=a&token=' . secret())->{status}, 401, 'rewritten to the subscriber: 401');
my $abs = secret();
my $x = main::exchange(["GET http://localhost/sub?channel=a&token=$abs HTTP/1.1\r\nHost: localhost\r\n"
                        . "Connection: close\r\n\r\n"]);
is(main::statuses($x), '401', 'an absolute URI: 401');
# limit_req logs the request line before the handler runs
my $s = sse_open('/limited?channel=a&token=' . $good);
my $r = http('GET', '/limited?channel=a&token=' . secret());
is($r->{status}, 503, 'limit_req: 503');
$s->close;
# HTTP/2
my $p2 = port2();
my $pid = fork();
if ($pid == 0) {
    exec('curl', '-sN', '--http2-prior-knowledge', '--max-time', '0.6', '-o', '/dev/null',
         "http://127.0.0.1:$p2/sub?channel=h2&token=$good") or exit 1;
}
waitpid($pid, 0);
system('curl', '-s', '--http2-prior-knowledge', '--max-time', '2', '-o', '/dev/null',
       "http://127.0.0.1:$p2/sub?channel=h2&token=" . secret());
sleep 0.3;
my $err = error_log_text();
my $acc = main::access_log();
for my $t ($good, @secrets) {
    my $short = substr($t, 0, 12) . '...';
    ok(index($err, $t) < 0, "error.log does not have $short");
    ok(index($acc, $t) < 0, "access.log does not have $short");
}
# an HTTP/1.1 stream let its request go (detached): its lines carry no
# request line at all, so no token either
like($err, qr/client prematurely closed connection while sending events to client, client: \S+, server: [^,]+$/m,
     'error.log: the HTTP/1.1 client close line (detached stream) has no request line');
like($err, qr/client prematurely closed connection.*request: "GET \/sub\?channel=h2&token=\[redacted\] HTTP\/2.0"/,
     'error.log: the HTTP/2 client close line shows [redacted]');
like($err, qr/limiting requests.*request: "GET \/limited\?channel=a&token=\[redacted\] HTTP\/1.1"/,
     'error.log: the limit_req line shows [redacted]');
my @lines = grep { !m{^GET /__harness_probe } } split /\n/, $acc;
is(scalar(grep { /\[redacted\]/ } @lines), scalar(@lines), 'every access.log line shows [redacted]');
like($acc, qr{^GET /sub\?token=\[redacted\]&token=\[redacted\]&channel=a HTTP/1.1$}m, 'several tokens');
like($acc, qr{^GET /sub\?x=1;token=\[redacted\]&channel=a HTTP/1.1$}m, 'after ";"');
like($acc, qr{^GET /sub\?%74oken=\[redacted\]&channel=a HTTP/1.1$}m, 'a percent-encoded name');
like($acc, qr{^GET /sub\?TOKEN=\[redacted\]&channel=a HTTP/1.1$}m, 'any case');
like($acc, qr{^GET /sub\?channel=a&token=\[redacted\]&x=1 HTTP/1.1$}m, 'between other arguments');
like($acc, qr{^GET /sub\?channel=h2&token=\[redacted\] HTTP/2.0$}m, 'HTTP/2');
like($acc, qr{^GET /sub\?%74%6F%6B%65%6E=\[redacted\]&channel=a HTTP/1.1$}m, 'an all-encoded name');
like($acc, qr{^GET /sub\?&&token=\[redacted\]&channel=a HTTP/1.1$}m, 'empty arguments before');
like($acc, qr{^GET /sub\?token&token=&channel=a&token=\[redacted\] HTTP/1.1$}m,
     'no value, an empty value, then a token');
like($acc, qr{^GET /old_events\?channel=a&token=\[redacted\] HTTP/1.1$}m, 'rewritten to the subscriber');
like($acc, qr{^GET http://localhost/sub\?channel=a&token=\[redacted\] HTTP/1.1$}m, 'an absolute URI');
--- no_error_log
[alert]
[crit]



=== TEST 8: a slow subscriber's line (the module's own) never shows its token
--- http_config
sse_zone zone=ev:4m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 sndbuf=16k;
    access_log logs/access.log;
    location /sub { sse_subscribe; sse_max_pending 64k; sse_keepalive off;
                    sse_auth_jwt attack-secret-0123456789abcdef01234567; }
}
--- config
location /pub { sse_publish; client_body_buffer_size 64k; }
--- test
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF sockaddr_in inet_aton);
my $good = main::make_jwt({exp => time + 600, channel => '*'});
socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($fh, SOL_SOCKET, SO_RCVBUF, 4096) or die "setsockopt: $!";
connect($fh, sockaddr_in(port2(), inet_aton('127.0.0.1'))) or die "connect: $!";
syswrite($fh, "GET /sub?channel=slow&token=$good HTTP/1.1\r\nHost: localhost\r\n\r\n");
sleep 0.3;
for (1 .. 20) {
    http('POST', '/pub?channel=slow', 'y' x 32768, {'Content-Type' => 'text/plain'});
}
my $deadline = time + 3 * timeout_factor();
sleep 0.1 while time < $deadline && error_log_text() !~ /slow subscriber/;
close $fh;
sleep 0.2;
my $err = error_log_text();
# the stream let its request go (detached): no request line, no token
like($err, qr/slow subscriber.* while sending events to client, client: \S+, server: [^,]+$/m,
     'the slow-subscriber line (detached stream) has no request line');
ok(index($err, $good) < 0, 'error.log does not have the token');
ok(index(main::access_log(), $good) < 0, 'access.log does not have the token');
like(main::access_log(), qr/token=\[redacted\]/, 'access.log shows [redacted]');
--- no_error_log
[alert]
[crit]



=== TEST 9: error_page 404 = /publish after "return 404": POST and PUT publish the unread body, raw and JSON; GET and HEAD answer info
--- http_config
sse_zone zone=ev:4m;
--- config
access_log logs/access.log;
client_body_buffer_size 1k;
location = /hello { return 200 "hello\n"; }
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /gone { error_page 404 = /internal/publish?$args; return 404; }
location /gone_fixed { error_page 404 = /internal/fixed; return 404; }
location /internal/publish { internal; sse_publish; }
location /internal/fixed { internal; sse_publish; sse_channel jobs; sse_event fixed; }
location /gone_named { error_page 404 = @pub; return 404; }
location /gone_key { error_page 404 = /internal/key?$args; return 404; }
location /internal/key { internal; sse_publish; sse_api_key k1-secret; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location @pub { sse_publish; sse_channel jobs; sse_event named; }
--- test
my $s = sse_open('/sub?channel=jobs');
my $r = http('POST', '/gone?channel=jobs&event=raw', "job 1\ndone", {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'POST, raw body: 200');
is($r->{body}, '{"id":"1","channel":"jobs","subscribers":1}', 'published');
$r = http('PUT', '/gone', '{"channel":"jobs","event":"json","data":{"n":2}}',
          {'Content-Type' => 'application/json'});
is($r->{body}, '{"id":"2","channel":"jobs","subscribers":1}', 'PUT, JSON body: published');
$r = http('POST', '/gone', '[{"channel":"jobs","data":"3"},{"channel":"jobs","data":"4"}]',
          {'Content-Type' => 'application/json'});
is($r->{body}, '[{"id":"3","channel":"jobs","subscribers":1},{"id":"4","channel":"jobs","subscribers":1}]',
   'POST, a JSON batch');
$r = http('POST', '/gone?channel=jobs', 'event=form&data=five', {'Content-Type' => 'application/x-www-form-urlencoded'});
is($r->{body}, '{"id":"5","channel":"jobs","subscribers":1}', 'POST, a form');
my $big = join('', map { sprintf("%07d\n", $_) } 1..2000);
chop $big;
$r = http('POST', '/gone?channel=jobs&event=big', $big, {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"6","channel":"jobs","subscribers":1}', 'POST, a 16k body (temp file)');
$r = http('POST', '/gone_named', 'named', {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"7","channel":"jobs","subscribers":1}', 'error_page to a named location');
$r = http('POST', '/gone_fixed', 'nine', {'Content-Type' => 'text/plain'});
is($r->{body}, '{"id":"8","channel":"jobs","subscribers":1}', 'error_page 404 = /internal/fixed (no arguments)');
# chunked, then a pipelined request on the same connection
my $x = main::exchange([main::req('POST', '/gone?channel=jobs&event=chunked',
                                  ['Content-Type: text/plain', 'Transfer-Encoding: chunked'],
                                  main::chunked('eight')) . main::closing()]);
is(main::statuses($x), '200 200', 'chunked body published, then the next request answered');
is($x->{responses}[0]{body}, '{"id":"9","channel":"jobs","subscribers":1}', 'published');
my ($body) = $s->read_until(qr/id: 9\n.*\n\n/s, 5);
my @e = $s->events;
is(join(' ', map { "$_->{id}/" . ($_->{event} // '') } @e),
   '1/raw 2/json 3/ 4/ 5/form 6/big 7/named 8/fixed 9/chunked', 'nine events, in order');
is($e[0]{data}, "job 1\ndone", 'the raw body');
is($e[1]{data}, '{"n":2}', 'the JSON data');
is($e[5]{data}, $big, 'the 16k body, whole');
# a key missing after the redirect: 401, the unread body discarded, not served
$x = main::exchange([main::req('POST', '/gone_key?channel=jobs', ['Content-Type: text/plain'],
                               $main::SMUGGLED) . main::closing()]);
is(main::statuses($x), '401 200', 'error_page to a publisher with sse_api_key: 401, then the next request');
$x = main::exchange([main::req('POST', '/gone_key?channel=jobs', ['Content-Type: text/plain', 'X-API-Key: k1-secret'],
                               'ten') . main::closing()]);
is($x->{responses}[0]{body}, '{"id":"10","channel":"jobs","subscribers":1}', 'with the key: published');
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
# GET and HEAD through the same error_page: channel info, nothing published
$r = http('GET', '/gone?channel=jobs');
is($r->{status}, 200, 'GET: 200');
is($r->{body}, '{"channel":"jobs","subscribers":1,"messages":10,"last_event_id":"10"}', 'GET: the channel info');
$r = http('GET', '/gone?channel=nope');
is($r->{status}, 404, 'GET, unknown channel: 404');
$r = http('HEAD', '/gone?channel=jobs');
is($r->{status}, 200, 'HEAD: 200');
is($r->{body}, '', 'HEAD: no body');
# DELETE becomes GET through error_page: info, the channel stays
$r = http('DELETE', '/gone?channel=jobs');
is($r->{status}, 200, 'DELETE through error_page: 200');
like($r->{body}, qr/"messages":10,/, 'DELETE through error_page: info, nothing deleted');
# a POST without a body: 400, nothing published
$r = http('POST', '/gone?channel=jobs', '', {'Content-Type' => 'text/plain'});
is($r->{status}, 400, 'empty POST: 400');
$s->read_for(0.3);
is(scalar(@e = $s->events), 10, 'nothing more was published');
--- no_error_log
[alert]
[crit]
[error]
