# Keep-alive and pipelining: every reply of the module, success or error,
# ends exactly where it says, and a request body the module refuses is
# still read, so that the next request on the connection is answered as
# itself (no request smuggling). The harness's probe follows every block's
# requests on their connection (see Test::Nginx::SSE, KEEP-ALIVE PROBE).
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: publisher replies pipelined: success, bad JSON, too large, bad channel, channel info, DELETE
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_max_message_size 10; }
--- requests eval
["POST /pub\n{\"channel\":\"a\",\"data\":\"one\"}",
 "POST /pub\n{\"channel\": \"a\", \"data\": ",
 "POST /pub\n{\"channel\":\"a\",\"data\":\"01234567890\"}",
 "POST /pub?channel=a%20b\nx",
 "GET /pub?channel=a",
 "DELETE /pub?channel=a",
 "GET /pub?channel=a"]
--- more_headers
Content-Type: application/json
--- pipeline
--- error_code: 404
--- response_body chomp
{"error":"unknown channel","status":404}
--- test
my @lines = access_log_text() =~ /^.*"(?:POST|GET|DELETE) \/pub.*$/mg;
is(join(',', map { /" (\d{3}) / ? $1 : '?' } @lines), '200,400,413,400,200,200,404',
   'seven requests in the access log, each answered in order, as itself');
my %conn = map { /conn=(\d+)/ ? ($1 => 1) : () } @lines;
is(scalar(keys %conn), 1, 'all on one connection');



=== TEST 2: the same replies one by one with http(), each followed by the probe
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_max_message_size 10; client_max_body_size 100; }
--- test
my $j = {'Content-Type' => 'application/json'};
my @cases = (
    ['POST', '/pub', '{"channel":"a","data":"one"}', 200],
    ['POST', '/pub', '{"channel": "a", "data": ', 400],
    ['POST', '/pub', '{"channel":"a"}', 400],
    ['POST', '/pub', '{"channel":"a","data":"01234567890"}', 413],
    ['POST', '/pub?channel=a', 'x' x 200, 413],
    ['PUT', '/pub?channel=a%0Ab', 'x', 400],
    ['GET', '/pub?channel=nobody', undef, 404],
    ['DELETE', '/pub?channel=a%20b', undef, 400],
);
for my $c (@cases) {
    my $r = http($c->[0], $c->[1], $c->[2], $j);
    is($r->{status}, $c->[3], "$c->[0] $c->[1]: $c->[3]");
    like($r->{body}, qr/^\{"error":".+","status":$c->[3]\}$|^\{"id"/, "$c->[0] $c->[1]: JSON");
}



=== TEST 3: subscriber errors pipelined, and HEAD leaves no body behind
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @r = http_pipeline([
    ['GET', '/sub?channel=a%20b'],
    ['GET', '/sub?channel=' . join(',', map { "c$_" } 1..33)],
    ['HEAD', '/sub?channel=a'],
    ['GET', '/sub?channel=a', undef, {'Last-Event-ID' => '12abc'}],
    ['GET', '/pub?channel=none'],
]);
is(join(',', map { $_->{status} // '-' } @r), '400,400,200,400,404', 'five replies, in order');
is($r[2]{body}, '', 'HEAD: no body');
is($r[4]{body}, '{"error":"unknown channel","status":404}', 'the last one is itself');



=== TEST 4: 405 of a subscriber location: the request body is read, not taken for a request
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @r = http_pipeline([
    ['POST', '/sub?channel=a', "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
    ['GET', '/pub?channel=none'],
]);
is(join(',', map { $_->{status} // '-' } @r), '405,404', 'two replies: the 405, then the GET');
unlike(access_log_text(), qr/smuggled/, 'the body was never parsed as a request');



=== TEST 5: 405 of a publisher location (PATCH with a body)
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- test
my @r = http_pipeline([
    ['PATCH', '/pub?channel=a', "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
    ['GET', '/pub?channel=none'],
]);
is(join(',', map { $_->{status} // '-' } @r), '405,404', 'two replies: the 405, then the GET');
unlike(access_log_text(), qr/smuggled/, 'the body was never parsed as a request');



=== TEST 6: 401 of a publisher without its API key
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key k1-secret; }
--- test
my @r = http_pipeline([
    ['POST', '/pub?channel=a', "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
    ['GET', '/pub?channel=a', undef, {'X-API-Key' => 'k1-secret'}],
]);
is(join(',', map { $_->{status} // '-' } @r), '401,404', 'two replies: the 401, then the GET');
unlike(access_log_text(), qr/smuggled/, 'the body was never parsed as a request');



=== TEST 7: 401 of the token endpoint without its API key
--- http_config
sse_zone zone=ev:1m;
--- config
location /token { sse_token s3cret-s3cret-s3cret-s3cret-s3cret; sse_api_key k1-secret; }
location /pub { sse_publish; }
--- test
my @r = http_pipeline([
    ['POST', '/token', "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
    ['GET', '/pub?channel=none'],
]);
is(join(',', map { $_->{status} // '-' } @r), '401,404', 'two replies: the 401, then the GET');
unlike(access_log_text(), qr/smuggled/, 'the body was never parsed as a request');



=== TEST 8: 405 of the status location (POST with a body)
--- http_config
sse_zone zone=ev:1m;
--- config
location /status { sse_status; }
--- test
my @r = http_pipeline([
    ['POST', '/status', "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"],
    ['GET', '/status'],
]);
is(join(',', map { $_->{status} // '-' } @r), '405,200', 'two replies: the 405, then the GET');
unlike(access_log_text(), qr/smuggled/, 'the body was never parsed as a request');
