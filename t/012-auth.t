# Access control: API keys, HS256 subscriber tokens, the token endpoint,
# per-user targeting, and nginx's limit_req in front of subscribers.
use lib 't/lib';
use Test::Nginx::SSE;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url decode_base64url);
use JSON::PP;

our $SECRET = 'test-secret-0123456789abcdef0123456789';

# make_jwt(\%claims, %opt): opt secret, header (hashref), sig (raw override)
sub make_jwt {
    my ($claims, %o) = @_;
    my $json = JSON::PP->new->canonical;
    my $h = encode_base64url($json->encode($o{header} || {alg => 'HS256', typ => 'JWT'}));
    my $p = encode_base64url(ref $claims ? $json->encode($claims) : $claims);
    my $sig = exists $o{sig} ? $o{sig}
            : encode_base64url(hmac_sha256("$h.$p", $o{secret} // $SECRET));
    return "$h.$p.$sig";
}

sub sub_status {
    my ($uri, $headers) = @_;
    my $r = http('GET', $uri, undef, $headers, timeout => 1);
    return $r;
}

run_tests();

__DATA__

=== TEST 1: publisher without an API key
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key k1-secret; }
--- request
POST /pub?channel=a
x
--- error_code: 401
--- response_body chomp
{"error":"missing or wrong API key","status":401}



=== TEST 2: wrong API key
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key k1-secret; }
--- request
POST /pub?channel=a
x
--- more_headers
X-API-Key: k1-secreT
--- error_code: 401
--- response_body chomp
{"error":"missing or wrong API key","status":401}



=== TEST 3: X-API-Key and Authorization: Bearer both work; several keys
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key first-key second-key; }
--- test
my $r = http('POST', '/pub?channel=a', 'x', {'X-API-Key' => 'first-key'});
is($r->{status}, 200, 'X-API-Key');
$r = http('POST', '/pub?channel=a', 'x', {'Authorization' => 'Bearer second-key'});
is($r->{status}, 200, 'Bearer, second key');
$r = http('GET', '/pub?channel=a', undef, {'Authorization' => 'Basic second-key'});
is($r->{status}, 401, 'not Bearer');
$r = http('DELETE', '/pub?channel=a');
is($r->{status}, 401, 'DELETE needs the key too');
$r = http('GET', '/pub?channel=a', undef, {'X-API-Key' => 'second-key'});
is($r->{status}, 200, 'GET with the key');



=== TEST 4: keys from a file, one a line, comments and blanks skipped
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key file=keys.txt; }
--- user_files
>>> conf/keys.txt
# publishers
alpha-key

  beta-key  
--- test
is(http('POST', '/pub?channel=a', 'x', {'X-API-Key' => 'alpha-key'})->{status}, 200, 'first');
is(http('POST', '/pub?channel=a', 'x', {'X-API-Key' => 'beta-key'})->{status}, 200, 'trimmed');
is(http('POST', '/pub?channel=a', 'x', {'X-API-Key' => '# publishers'})->{status}, 401, 'comment is no key');
is(http('POST', '/pub?channel=a', 'x', {'X-API-Key' => ''})->{status}, 401, 'empty');



=== TEST 5: a missing key file fails nginx -t
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key file=/nonexistent/keys.txt; }
--- must_die
--- error_log
cannot open "/nonexistent/keys.txt" for "sse_api_key"



=== TEST 6: a key file without keys fails nginx -t
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_api_key file=empty.txt; }
--- user_files
>>> conf/empty.txt
# nothing here
--- must_die
--- error_log
sse_api_key file "empty.txt" holds no key



=== TEST 7: subscriber token: success via ?token=, Bearer and cookie
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /pub { sse_publish; }
--- test
my $t = main::make_jwt({sub => 'alex', exp => time + 600, channel => 'room'});
for my $way (['query', "/sub?channel=room&token=$t", {}],
             ['bearer', '/sub?channel=room', {Authorization => "Bearer $t"}],
             ['cookie', '/sub?channel=room', {Cookie => "a=b; sse_token=$t"}]) {
    my $s = sse_open($way->[1], $way->[2]);
    is($s->status, 200, "token by $way->[0]");
    $s->close;
}



=== TEST 8: every way a token can be wrong answers 401 JSON
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $now = time;
my %bad = (
    'missing token'          => undef,
    'alg none'               => main::make_jwt({exp => $now + 60}, header => {alg => 'none'}, sig => ''),
    'alg none with sig'      => main::make_jwt({exp => $now + 60}, header => {alg => 'none'}),
    'alg HS512'              => main::make_jwt({exp => $now + 60}, header => {alg => 'HS512'}),
    'alg RS256'              => main::make_jwt({exp => $now + 60}, header => {alg => 'RS256'}),
    'no alg'                 => main::make_jwt({exp => $now + 60}, header => {typ => 'JWT'}),
    'bad signature'          => main::make_jwt({exp => $now + 60}, secret => 'another-secret'),
    'truncated signature'    => substr(main::make_jwt({exp => $now + 60}), 0, -2),
    'signature with padding' => main::make_jwt({exp => $now + 60}) . '=',
    'expired'                => main::make_jwt({exp => $now - 1}),
    'missing exp'            => main::make_jwt({sub => 'alex'}),
    'exp not a number'       => main::make_jwt({exp => "" . ($now + 60) . "x"}),
    'nbf in future'          => main::make_jwt({exp => $now + 600, nbf => $now + 300}),
    'two parts'              => 'abc.def',
    'four parts'             => main::make_jwt({exp => $now + 60}) . '.x',
    'not base64'             => 'a!b.c$d.e%f',
    'payload not JSON'       => main::make_jwt('not json'),
    'payload an array'       => main::make_jwt('[1,2]'),
    'oversized token'        => main::make_jwt({exp => $now + 60, pad => 'x' x 5000}),
);
my %why = (
    'missing token' => 'missing token', 'expired' => 'token expired',
    'missing exp' => 'token has no exp', 'nbf in future' => 'token not yet valid',
    'bad signature' => 'invalid token signature', 'oversized token' => 'token too large',
    'alg none' => 'token algorithm must be HS256', 'alg HS512' => 'token algorithm must be HS256',
    'alg RS256' => 'token algorithm must be HS256', 'no alg' => 'token algorithm must be HS256',
    'alg none with sig' => 'token algorithm must be HS256',
);
for my $case (sort keys %bad) {
    my $uri = '/sub?channel=room' . (defined $bad{$case} ? "&token=$bad{$case}" : '');
    my $r = main::sub_status($uri);
    is($r->{status}, 401, "$case: 401");
    like($r->{body}, qr/^\{"error":"[^"]+","status":401\}$/, "$case: JSON");
    is($r->{body}, qq({"error":"$why{$case}","status":401}), "$case: says why")
        if $why{$case};
}
my $log = error_log_text();
unlike($log, qr/eyJ/, 'no token in the log');
--- no_error_log
[crit]
[alert]



=== TEST 9: the channel claim limits channels: 403 otherwise
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $exp = time + 600;
my $one = main::make_jwt({exp => $exp, channel => 'room'});
my $two = main::make_jwt({exp => $exp, channel => ['room', 'lobby']});
my $any = main::make_jwt({exp => $exp, channel => '*'});
my $anyarr = main::make_jwt({exp => $exp, channel => ['x', '*']});
my $none = main::make_jwt({exp => $exp});
is(main::sub_status("/sub?channel=other&token=$one")->{status}, 403, 'string claim, other channel');
is(main::sub_status("/sub?channel=other&token=$one")->{body},
   '{"error":"channel not allowed by the token","status":403}', 'JSON 403');
is(main::sub_status("/sub?channel=room,other&token=$two")->{status}, 403, 'one of two not allowed');
is(sse_open("/sub?channel=room,lobby&token=$two")->status, 200, 'both allowed');
is(sse_open("/sub?channel=anything&token=$any")->status, 200, '"*"');
is(sse_open("/sub?channel=anything&token=$anyarr")->status, 200, '"*" in an array');
is(sse_open("/sub?channel=anything&token=$none")->status, 200, 'no claim: any channel');
is(main::sub_status("/sub?channel=room&token=" . main::make_jwt({exp => $exp, channel => 5}))->{status},
   401, 'a channel claim of the wrong type');



=== TEST 10: targeting: a message for a user reaches only that user
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; sse_replay all; }
location /pub { sse_publish; }
--- test
my $exp = time + 600;
my $alex = sse_open('/sub?channel=team&token=' . main::make_jwt({exp => $exp, sub => 'alex'}));
my $bo = sse_open('/sub?channel=team&token=' . main::make_jwt({exp => $exp, userId => 'bo'}));
my $h = {'Content-Type' => 'application/json'};
http('POST', '/pub', '{"channel":"team","data":"for alex","user":"alex"}', $h);
http('POST', '/pub', '{"channel":"team","data":"for bo","user":"bo"}', $h);
http('POST', '/pub', '{"channel":"team","data":"for all","user":"*"}', $h);
http('POST', '/pub', '{"channel":"team","data":"for all too"}', $h);
$_->read_until(qr/for all too/, 2) for $alex, $bo;
is_deeply([map { $_->{data} } $alex->events], ['for alex', 'for all', 'for all too'], 'alex');
is_deeply([map { $_->{data} } $bo->events], ['for bo', 'for all', 'for all too'], 'bo (userId claim)');
# replayed from history too
my $late = sse_open('/sub?channel=team&token=' . main::make_jwt({exp => $exp, sub => 'bo'}));
$late->read_until(qr/for all too/, 2);
is_deeply([map { $_->{data} } $late->events], ['for bo', 'for all', 'for all too'], 'replay honours the user');
my $resume = sse_open('/sub?channel=team&token=' . main::make_jwt({exp => $exp, sub => 'alex'}),
                      {'Last-Event-ID' => '1'});
$resume->read_until(qr/for all too/, 2);
is_deeply([map { $_->{data} } $resume->events], ['for all', 'for all too'], 'resume honours the user');



=== TEST 11: the stream ends when the token expires
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $s = sse_open('/sub?channel=a&token=' . main::make_jwt({exp => time + 2}));
is($s->status, 200, 'accepted');
$s->read_until(qr/never/, 4);
ok($s->closed, 'ended by the server when exp passed');



=== TEST 12: sse_auth_jwt_token takes the token from elsewhere
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789;
                sse_auth_jwt_token $http_x_token; }
--- test
my $t = main::make_jwt({exp => time + 60});
is(sse_open('/sub?channel=a', {'X-Token' => $t})->status, 200, 'from X-Token');
is(main::sub_status("/sub?channel=a&token=$t")->{status}, 401, '?token= no longer looked at');



=== TEST 13: secret from a file
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt file=jwt.secret; }
--- user_files
>>> conf/jwt.secret
test-secret-0123456789abcdef0123456789
--- test
is(sse_open('/sub?channel=a&token=' . main::make_jwt({exp => time + 60}))->status, 200, 'file secret');



=== TEST 14: sse_auth_jwt off in an inner location
--- http_config
sse_zone zone=ev:1m;
sse_auth_jwt test-secret-0123456789abcdef0123456789;
--- config
location /sub { sse_subscribe; }
location /open { sse_subscribe; sse_auth_jwt off; }
--- test
is(main::sub_status('/sub?channel=a')->{status}, 401, 'inherited');
is(sse_open('/open?channel=a')->status, 200, 'off');



=== TEST 15: the token endpoint issues tokens that subscribers accept
--- http_config
sse_zone zone=ev:1m;
--- config
location /token { sse_token test-secret-0123456789abcdef0123456789; sse_api_key ctl-key; }
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /pub { sse_publish; }
--- test
my $r = http('POST', '/token', '{"userId":"alex","channel":"chat","exp":120}',
             {'Content-Type' => 'application/json', 'X-API-Key' => 'ctl-key'});
is($r->{status}, 200, 'issued');
my $j = JSON::PP::decode_json($r->{body});
like($j->{token}, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT');
ok(abs($j->{expires} - (time + 120)) <= 2, 'expires in 120s');
my ($h, $p) = split /\./, $j->{token};
my $claims = JSON::PP::decode_json(MIME::Base64::decode_base64url($p));
is($claims->{sub}, 'alex', 'sub');
is($claims->{channel}, 'chat', 'channel');
is(JSON::PP::decode_json(MIME::Base64::decode_base64url($h))->{alg}, 'HS256', 'HS256');
my $s = sse_open("/sub?channel=chat&token=$j->{token}");
is($s->status, 200, 'subscriber accepted');
is(main::sub_status("/sub?channel=other&token=$j->{token}")->{status}, 403, 'other channel refused');
http('POST', '/pub', '{"channel":"chat","data":"hi alex","user":"alex"}', {'Content-Type' => 'application/json'});
my ($body) = $s->read_until(qr/hi alex/, 2);
like($body, qr/data: hi alex/, 'targeted message reaches the token user');
# form body, several channels, default exp
$r = http('POST', '/token', 'userId=bo&channel=a,b', {'X-API-Key' => 'ctl-key',
          'Content-Type' => 'application/x-www-form-urlencoded'});
$j = JSON::PP::decode_json($r->{body});
ok(abs($j->{expires} - (time + 86400)) <= 2, 'default exp: a day');
is(sse_open("/sub?channel=a,b&token=$j->{token}")->status, 200, 'form token, two channels');
# errors
is(http('POST', '/token', '{}', {'Content-Type' => 'application/json'})->{status}, 401, 'API key required');
is(http('GET', '/token', undef, {'X-API-Key' => 'ctl-key'})->{status}, 405, 'GET not allowed');
$r = http('POST', '/token', '{"channel":"a","exp":-5}', {'Content-Type' => 'application/json', 'X-API-Key' => 'ctl-key'});
is($r->{status}, 400, 'bad exp');
is($r->{body}, '{"error":"\"exp\" must be whole seconds from now, 1 to 315360000","status":400}', 'says why');
$r = http('POST', '/token', '{"channel":"a b"}', {'Content-Type' => 'application/json', 'X-API-Key' => 'ctl-key'});
is($r->{status}, 400, 'bad channel');
$r = http('POST', '/token', 'not json', {'Content-Type' => 'application/json', 'X-API-Key' => 'ctl-key'});
is($r->{status}, 400, 'not JSON');



=== TEST 16: sse_token and sse_subscribe in one location
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_token s3cret-s3cret-s3cret-s3cret-s3cret; }
--- must_die
--- error_log
"sse_token" in a location that already has "sse_subscribe"



=== TEST 17: limit_req throttles connects, in front of the module
--- http_config
sse_zone zone=ev:1m;
limit_req_zone $binary_remote_addr zone=sse_connect:1m rate=30r/m;
--- config
location /sub {
    limit_req zone=sse_connect burst=3 nodelay;
    limit_req_status 429;
    sse_subscribe;
}
--- test
my @ok;
my @codes;
for my $i (1..6) {
    my $s = sse_open('/sub?channel=a');
    push @codes, $s->status;
    push @ok, $s if $s->status == 200;
}
is(join(',', @codes), '200,200,200,200,429,429', 'one plus a burst of 3, then 429');
my $r = http('GET', '/sub?channel=a');
is($r->{status}, 429, 'still throttled');
is($r->{body}, '{"error":"too many requests","status":429}', 'as JSON');
is(scalar(@ok), 4, 'the admitted streams are open');



=== TEST 18: an empty secret is refused
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt ""; }
--- must_die
--- error_log
empty secret in "sse_auth_jwt"
