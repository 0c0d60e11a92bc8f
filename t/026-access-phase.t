# Access checks in nginx's access phase: sse_api_key and sse_auth_jwt
# combine with allow/deny ("satisfy any|all"), run after auth_request, and
# after limit_req (preaccess); their refusals stay the module's JSON, and
# an unread body is discarded before them (no request hidden in it is
# served on a keep-alive connection).  A second client address is
# 127.0.0.2 (a socket bound to it) or X-Real-IP through realip.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::Raw;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;

our $SECRET = 'access-secret-0123456789abcdef012345678';

sub make_jwt {
    my ($claims) = @_;
    my $json = JSON::PP->new->canonical;
    my $h = encode_base64url($json->encode({alg => 'HS256', typ => 'JWT'}));
    my $p = encode_base64url($json->encode($claims));
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $SECRET));
}

our $SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";


run_tests();

__DATA__

=== TEST 1: satisfy any: allow 127.0.0.1 or sse_api_key, on publisher, status and token locations
--- http_config
sse_zone zone=ev:1m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /pub {
    satisfy any;
    allow 127.0.0.1;
    deny all;
    sse_publish;
    sse_api_key k1-secret;
}
location /status {
    satisfy any;
    allow 127.0.0.1;
    deny all;
    sse_status;
    sse_api_key k1-secret;
}
location /token {
    satisfy any;
    allow 127.0.0.1;
    deny all;
    sse_token access-secret-0123456789abcdef012345678;
    sse_api_key k1-secret;
}
--- test
my $S = $main::SMUGGLED;
my $json = 'Content-Type: application/json';
my @cases = (
    # what, from, method, uri, headers, body, status, JSON error
    ['publish from the allowed address, no key', '127.0.0.1', 'POST', '/pub?channel=a', [], 'hi', 200, undef],
    ['publish from elsewhere, no key', '127.0.0.2', 'POST', '/pub?channel=a', [], $S, 401, 'missing or wrong API key'],
    ['publish from elsewhere, wrong key', '127.0.0.2', 'POST', '/pub?channel=a', ['X-API-Key: nope'], $S, 401, 'missing or wrong API key'],
    ['publish from elsewhere, the key', '127.0.0.2', 'POST', '/pub?channel=a', ['X-API-Key: k1-secret'], 'hi', 200, undef],
    ['publish from elsewhere, Bearer key', '127.0.0.2', 'POST', '/pub?channel=a', ['Authorization: Bearer k1-secret'], 'hi', 200, undef],
    ['delete from elsewhere, no key', '127.0.0.2', 'DELETE', '/pub?channel=a', [], $S, 401, 'missing or wrong API key'],
    ['status from the allowed address, no key', '127.0.0.1', 'GET', '/status', [], undef, 200, undef],
    ['status from elsewhere, no key', '127.0.0.2', 'GET', '/status', [], undef, 401, 'missing or wrong API key'],
    ['status from elsewhere, the key', '127.0.0.2', 'GET', '/status', ['X-API-Key: k1-secret'], undef, 200, undef],
    ['status POST from the allowed address: the handler\'s 405', '127.0.0.1', 'POST', '/status', [], $S, 405, 'method not allowed: read the status with GET'],
    ['status POST from elsewhere: deny\'s 403', '127.0.0.2', 'POST', '/status', [], $S, 403, 'forbidden'],
    ['token from the allowed address, no key', '127.0.0.1', 'POST', '/token', [$json], '{"userId":"u","channel":"a"}', 200, undef],
    ['token from elsewhere, no key', '127.0.0.2', 'POST', '/token', [$json], $S, 401, 'missing or wrong API key'],
    ['token from elsewhere, the key', '127.0.0.2', 'POST', '/token', [$json, 'X-API-Key: k1-secret'], '{"userId":"u","channel":"a"}', 200, undef],
);
for my $c (@cases) {
    my ($what, $from, $method, $uri, $headers, $body, $status, $error) = @$c;
    my $x = main::exchange([main::req($method, $uri, $headers, $body) . main::closing()], local => $from);
    is(main::statuses($x), "$status 200", "$what: $status, then the next request (keep-alive)");
    is($x->{responses}[-1]{body}, "hello\n", "$what: the next request is answered");
    is($x->{rest}, '', "$what: nothing else on the wire");
    if (defined $error) {
        is($x->{responses}[0]{body}, qq({"error":"$error","status":$status}), "$what: JSON error");
        like($x->{responses}[0]{headers}{'content-type'} // '', qr{^application/json$}, "$what: JSON type");
    }
}
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
--- no_error_log
[alert]
[crit]



=== TEST 2: satisfy all: allow 127.0.0.1 and sse_api_key, both needed
--- http_config
sse_zone zone=ev:1m;
--- config
location = /hello { return 200 "hello\n"; }
location /pub {
    satisfy all;
    allow 127.0.0.1;
    deny all;
    sse_publish;
    sse_api_key k1-secret;
}
location /status {
    allow 127.0.0.1;
    deny all;
    sse_status;
    sse_api_key k1-secret;
}
--- test
my @cases = (
    ['allowed address, no key', '127.0.0.1', '/pub?channel=a', [], 401, 'missing or wrong API key'],
    ['allowed address, the key', '127.0.0.1', '/pub?channel=a', ['X-API-Key: k1-secret'], 200, undef],
    ['other address, the key', '127.0.0.2', '/pub?channel=a', ['X-API-Key: k1-secret'], 403, 'forbidden'],
    ['other address, no key', '127.0.0.2', '/pub?channel=a', [], 403, 'forbidden'],
    ['status (satisfy all by default), other address, the key', '127.0.0.2', '/status', ['X-API-Key: k1-secret'], 403, 'forbidden'],
    ['status, allowed address, no key', '127.0.0.1', '/status', [], 401, 'missing or wrong API key'],
);
for my $c (@cases) {
    my ($what, $from, $uri, $headers, $status, $error) = @$c;
    my $x = main::exchange([main::req('POST', $uri, $headers, 'hi') . main::closing()], local => $from)
        if $uri =~ /pub/;
    $x = main::exchange([main::req('GET', $uri, $headers) . main::closing()], local => $from)
        unless $uri =~ /pub/;
    is(main::statuses($x), "$status 200", "$what: $status, then the next request");
    is($x->{responses}[0]{body}, qq({"error":"$error","status":$status}), "$what: JSON error")
        if defined $error;
}
--- error_log
access forbidden by rule
--- no_error_log
[alert]
[crit]



=== TEST 3: subscribers: satisfy any with allow 10.0.0.0/8 (realip) or sse_auth_jwt; the token's claims reach the stream
--- http_config
sse_zone zone=ev:1m;
--- config
set_real_ip_from 127.0.0.1;
real_ip_header X-Real-IP;
location /events {
    satisfy any;
    allow 10.0.0.0/8;
    deny all;
    sse_subscribe;
    sse_auth_jwt access-secret-0123456789abcdef012345678;
}
location /pub { sse_publish; }
--- test
my $exp = time + 600;
my $inside = sse_open('/events?channel=news', {'X-Real-IP' => '10.1.2.3'});
is($inside->status, 200, 'an allowed address needs no token');
my $alice = sse_open('/events?channel=news', {'X-Real-IP' => '192.0.2.1',
    Authorization => 'Bearer ' . main::make_jwt({exp => $exp, sub => 'alice', channel => 'news'})});
is($alice->status, 200, 'another address with a good token');
my $carol = sse_open('/events?channel=news', {'X-Real-IP' => '10.1.2.4',
    Authorization => 'Bearer ' . main::make_jwt({exp => $exp, sub => 'carol'})});
is($carol->status, 200, 'an allowed address with a good token');
my $junk = sse_open('/events?channel=news', {'X-Real-IP' => '10.1.2.5',
    Authorization => 'Bearer ' . main::make_jwt({exp => time - 10, sub => 'carol'})});
is($junk->status, 200, 'an allowed address with an expired token: let in, with no user');
my $r = http('GET', '/events?channel=sport', undef, {'X-Real-IP' => '10.1.2.3',
    Authorization => 'Bearer ' . main::make_jwt({exp => $exp, channel => 'news'})});
is($r->{status}, 403, 'an allowed address with a good token for other channels: the token\'s 403');
$r = http('GET', '/events?channel=news', undef, {'X-Real-IP' => '192.0.2.1'});
is($r->{status}, 401, 'another address without a token: 401');
is($r->{body}, '{"error":"missing token","status":401}', 'the JSON names it');
$r = http('GET', '/events?channel=news', undef, {'X-Real-IP' => '192.0.2.1',
    Authorization => 'Bearer ' . main::make_jwt({exp => time - 10, channel => 'news'})});
is($r->{status}, 401, 'an expired token: 401');
is($r->{body}, '{"error":"token expired","status":401}', 'the JSON names it');
$r = http('GET', '/events?channel=sport', undef, {'X-Real-IP' => '192.0.2.1',
    Authorization => 'Bearer ' . main::make_jwt({exp => $exp, channel => 'news'})});
is($r->{status}, 403, 'a channel the token does not name: 403');
is($r->{body}, '{"error":"channel not allowed by the token","status":403}', 'the JSON names it');
$r = http('POST', '/events?channel=news', 'x', {'X-Real-IP' => '10.1.2.3'});
is($r->{status}, 405, 'POST from an allowed address: the handler\'s 405');
my $h = {'Content-Type' => 'application/json'};
http('POST', '/pub', '{"channel":"news","data":"for bob","user":"bob"}', $h);
http('POST', '/pub', '{"channel":"news","data":"for alice","user":"alice"}', $h);
http('POST', '/pub', '{"channel":"news","data":"for carol","user":"carol"}', $h);
http('POST', '/pub', '{"channel":"news","data":"for all"}', $h);
$_->read_until(qr/for all/, 2) for $inside, $alice, $carol, $junk;
is_deeply([map { $_->{data} } $alice->events], ['for alice', 'for all'],
          'the token\'s user (verified once, in the access phase) targets the stream');
is_deeply([map { $_->{data} } $inside->events], ['for all'],
          'a subscriber let in by address has no user');
is_deeply([map { $_->{data} } $carol->events], ['for carol', 'for all'],
          'let in by address, a good token still names the user');
is_deeply([map { $_->{data} } $junk->events], ['for all'],
          'let in by address, a bad token names no one');
--- no_error_log
[alert]
[crit]



=== TEST 4: auth_request runs before sse_auth_jwt (satisfy all), and either suffices with satisfy any
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location = /auth {
        if ($cookie_session = s-ok) { return 204; }
        return 403;
    }
}
--- config
location = /_auth {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2/auth;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}
location /all {
    auth_request /_auth;
    sse_subscribe;
    sse_auth_jwt access-secret-0123456789abcdef012345678;
}
location /any {
    satisfy any;
    auth_request /_auth;
    sse_subscribe;
    sse_auth_jwt access-secret-0123456789abcdef012345678;
}
--- test
my $tok = 'Bearer ' . main::make_jwt({exp => time + 600, channel => 'news'});
my $r = http('GET', '/all?channel=news', undef, {Cookie => 'session=s-bad'});
is($r->{status}, 403, 'all: the app says no, no token: the app\'s 403 (auth_request first)');
is($r->{body}, '{"error":"forbidden","status":403}', 'all: JSON 403');
$r = http('GET', '/all?channel=news', undef, {Cookie => 'session=s-bad', Authorization => $tok});
is($r->{status}, 403, 'all: the app says no, a good token: 403');
$r = http('GET', '/all?channel=news', undef, {Cookie => 'session=s-ok'});
is($r->{status}, 401, 'all: the app says yes, no token: 401');
is($r->{body}, '{"error":"missing token","status":401}', 'all: JSON 401');
is(sse_open('/all?channel=news', {Cookie => 'session=s-ok', Authorization => $tok})->status, 200,
   'all: both: 200');
is(sse_open('/any?channel=news', {Cookie => 'session=s-ok'})->status, 200,
   'any: the app says yes, no token: 200');
is(sse_open('/any?channel=news', {Cookie => 'session=s-bad', Authorization => $tok})->status, 200,
   'any: the app says no, a good token: 200');
$r = http('GET', '/any?channel=news', undef, {Cookie => 'session=s-bad'});
is($r->{status}, 401, 'any: neither: 401 (nginx prefers 401 to 403)');
is($r->{body}, '{"error":"missing token","status":401}', 'any: the token\'s reason');
--- no_error_log
[alert]
[crit]



=== TEST 5: limit_req (preaccess) still comes before the API key: 429 as JSON, its body discarded
--- http_config
sse_zone zone=ev:1m;
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
access_log logs/access.log;
location = /hello { return 200 "hello\n"; }
location = /smuggled { return 200 "SMUGGLED\n"; }
location /pub {
    limit_req zone=one;
    limit_req_status 429;
    sse_publish;
    sse_api_key k1-secret;
}
--- test
my $S = $main::SMUGGLED;
my $x = main::exchange([main::req('POST', '/pub?channel=a', [], $S) . main::closing()]);
is(main::statuses($x), '401 200', 'first request: 401 (the key), then the next request');
$x = main::exchange([main::req('POST', '/pub?channel=a', ['X-API-Key: k1-secret'], $S) . main::closing()]);
is(main::statuses($x), '429 200', 'second request, with the key: 429 (limit_req first)');
is($x->{responses}[0]{body}, '{"error":"too many requests","status":429}', 'JSON 429');
$x = main::exchange([main::req('POST', '/pub?channel=a', [], $S) . main::closing()]);
is(main::statuses($x), '429 200', 'third request, no key: 429, not 401');
unlike(main::access_log(), qr{/smuggled}, 'access.log: no hidden request was served');
--- no_error_log
[alert]
[crit]



=== TEST 6: limit_except: the methods it names reach the module, after its own access rules
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub {
    sse_publish;
    limit_except POST { allow 127.0.0.1; deny all; }
}
location /pub2 {
    sse_publish;
    limit_except POST { deny all; }
}
location /sub {
    sse_subscribe;
    sse_keepalive off;
    limit_except GET { deny all; }
}
location /token {
    sse_token access-secret-0123456789abcdef012345678;
    limit_except GET { allow 127.0.0.1; deny all; }
}
--- test
is(http('POST', '/pub?channel=a', 'one')->{status}, 200, 'POST (not limited): published');
my $r = http('GET', '/pub?channel=a');
is($r->{status}, 200, 'GET through limit_except, allowed: the module answers');
like($r->{body}, qr/"messages":1/, '... with the channel info');
$r = http('DELETE', '/pub?channel=a');
is($r->{status}, 200, 'DELETE through limit_except, allowed: the module deletes (not nginx 405)');
like($r->{body}, qr/"channel":"a"/, '... and says so in JSON');
is(http('GET', '/pub?channel=a')->{status}, 404, '... the channel is gone');
is(http('DELETE', '/pub2?channel=a')->{status}, 403, 'limit_except deny all: 403');
is(http('POST', '/pub2?channel=b', 'x')->{status}, 200, '... POST still publishes');
is(http('POST', '/sub?channel=b', 'x')->{status}, 403, 'subscriber: POST denied by limit_except');
my $s = sse_open('/sub?channel=b');
is($s->status, 200, 'subscriber: GET streams');
$r = http('POST', '/token', '{"channel":"a","userId":"u"}', {'Content-Type' => 'application/json'});
is($r->{status}, 200, 'token: POST through limit_except, allowed: minted');
like($r->{body}, qr/"token":"/, '... a token');
--- no_error_log
[alert]
[crit]
