# Hostile bodies and tokens, read by cJSON with the module's checks around
# it: a NUL never cuts a name short, nothing may follow a JSON value,
# sse_token mints nothing a subscriber would refuse (4 KB, channel
# required), times are bounded before any conversion, duplicated keys are
# refused, deep nesting is a clean 400.  Every refusal is the JSON error,
# and nothing is published or minted.
use lib 't/lib';
use Test::Nginx::SSE;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url decode_base64url);
use JSON::PP;

our $SECRET = 'test-secret-0123456789abcdef0123456789';

# a token over raw JSON text (header and payload exactly as given)
sub jwt_raw {
    my ($payload, $header) = @_;
    $header //= '{"alg":"HS256","typ":"JWT"}';
    my $h = encode_base64url($header);
    my $p = encode_base64url($payload);
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $SECRET));
}

sub json_post {
    my ($uri, $body) = @_;
    return http('POST', $uri, $body, {'Content-Type' => 'application/json'});
}

sub form_post {
    my ($uri, $body) = @_;
    return http('POST', $uri, $body,
                {'Content-Type' => 'application/x-www-form-urlencoded'});
}

sub err_json {
    my ($status, $what) = @_;
    return JSON::PP->new->canonical->encode({error => $what, status => $status});
}

# a refusal: status, the exact JSON error, and no token in it
sub refused {
    my ($r, $status, $what, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    is($r->{body}, err_json($status, $what), "$name: says why");
    unlike($r->{body}, qr/"token"|eyJ/, "$name: nothing minted");
}

# a subscriber refused with 401 and this error
sub sub_refused {
    my ($token, $what, $name) = @_;
    my $r = http('GET', "/sub?channel=a&token=$token", undef, undef, timeout => 2);
    is($r->{status}, 401, "$name: 401");
    is($r->{body}, err_json(401, $what), "$name: $what");
}

sub published {
    my $r = http('GET', '/status');
    return $r->{body} =~ /"published":(\d+)/ ? $1 : -1;
}

sub claims {
    my ($reply) = @_;
    my $t = decode_json($reply->{body})->{token};
    return decode_json(decode_base64url((split /\./, $t)[1]));
}

# printable name of a test body
sub show {
    my ($s) = @_;
    $s = substr($s, 0, 60) . '...' if length $s > 60;
    return $s =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ger;
}

run_tests();

__DATA__

=== TEST 1: sse_token: a NUL or control character in userId or channel is a 400 naming it
--- http_config
sse_zone zone=ev:1m;
--- config
location /token { sse_token test-secret-0123456789abcdef0123456789; }
--- test
my $user = '"userId" must not contain control characters: it holds';
my $chan = 'invalid channel name: it holds';
my @json = (
    '{"userId":"alice\u0000evil","channel":"priv"}',
    '{"sub":"alice\u0000evil","channel":"priv"}',
    '{"userId":"\u0000","channel":"priv"}',
    '{"userId":"alice","channel":"a\u0000x"}',
    '{"userId":"alice","channel":["ok","a\u0000x"]}',
    '{"userId":"alice","channel":"\u0000"}',
    '{"userId":"alice","channel":"priv","x":"\u0000"}',
    '{"userId":"alice","ch\u0000":"priv","channel":"priv"}',
);
for my $b (@json) {
    my $at = index($b, '\u0000');
    main::refused(main::json_post('/token', $b), 400,
        "NUL characters are not allowed: \\u0000 at offset $at", "JSON $b");
}
main::refused(main::json_post('/token', qq({"userId":"alice\0evil","channel":"priv"})), 400,
    'NUL characters are not allowed: a NUL byte at offset 16', 'JSON, a raw NUL byte');
my @named = (
    ['{"userId":"al\u0007ice","channel":"priv"}', "$user a control character (U+0007) at byte 2"],
    ['{"userId":"a\nb","channel":"priv"}', "$user a line feed (U+000A) at byte 1"],
    ['{"userId":"a\rb","channel":"priv"}', "$user a carriage return (U+000D) at byte 1"],
    ['{"userId":"a\u007f","channel":"priv"}', "$user a DEL character (U+007F) at byte 1"],
    ['{"userId":"alice","channel":"a\tb"}', "$chan a tab (U+0009) at byte 1"],
    ['{"userId":"alice","channel":["ok","\u001fx"]}', "$chan a control character (U+001F) at byte 0"],
    ['{"userId":"alice","channel":"a b"}',
     'invalid channel name: it must be 1 to 255 bytes without control characters, commas or white space'],
    ['{"userId":"alice","channel":"' . ('c' x 256) . '"}',
     'invalid channel name: it must be 1 to 255 bytes without control characters, commas or white space'],
    ['{"userId":"' . ('u' x 256) . '","channel":"priv"}', '"userId" is longer than 255 bytes'],
);
for my $c (@named) {
    main::refused(main::json_post('/token', $c->[0]), 400, $c->[1], "JSON $c->[0]");
}
my @form = (
    ['userId=alice%00evil&channel=priv', "$user a NUL character (U+0000) at byte 5"],
    ['sub=alice%00evil&channel=priv', "$user a NUL character (U+0000) at byte 5"],
    ['userId=%00&channel=priv', "$user a NUL character (U+0000) at byte 0"],
    ['userId=alice&channel=a%00x', "$chan a NUL character (U+0000) at byte 1"],
    ['userId=alice&channel=ok,a%00x', "$chan a NUL character (U+0000) at byte 4"],
    ['userId=alice&channel=ok&channel=a%00x', "$chan a NUL character (U+0000) at byte 1"],
    ['userId=a%0Ab&channel=priv', "$user a line feed (U+000A) at byte 1"],
    ['userId=a%7F&channel=priv', "$user a DEL character (U+007F) at byte 1"],
);
for my $c (@form) {
    main::refused(main::form_post('/token', $c->[0]), 400, $c->[1], "form $c->[0]");
}
# the clean names mint, for exactly those names
my $r = main::json_post('/token', '{"userId":"alice","channel":"priv"}');
is($r->{status}, 200, 'clean JSON: minted');
is(main::claims($r)->{sub}, 'alice', 'sub alice');
is(main::claims($r)->{channel}, 'priv', 'channel priv');
$r = main::form_post('/token', 'userId=alice&channel=priv');
is($r->{status}, 200, 'clean form: minted');
is(main::claims($r)->{userId}, 'alice', 'userId alice');
# an escaped backslash before u0000 is not a NUL: the name is \u0000 as text
$r = main::json_post('/token', '{"userId":"a\\\\u0000b","channel":"priv"}');
is($r->{status}, 200, 'escaped backslash: minted');
is(main::claims($r)->{sub}, 'a\\u0000b', 'the user is the 8 characters a\\u0000b');
--- no_error_log
[alert]
[crit]



=== TEST 2: a signed token whose claims or header hold a NUL is invalid, never cut short
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /pub { sse_publish; }
--- test
my $exp = time + 60;
my %bad = (
    'sub with NUL'           => [qq({"exp":$exp,"sub":"alice\\u0000evil"})],
    'userId with NUL'        => [qq({"exp":$exp,"userId":"alice\\u0000evil"})],
    'channel with NUL'       => [qq({"exp":$exp,"channel":"a\\u0000x"})],
    'channel array with NUL' => [qq({"exp":$exp,"channel":["b","a\\u0000"]})],
    'a claim name with NUL'  => [qq({"exp":$exp,"e\\u0000":1})],
    'a raw NUL byte'         => [qq({"exp":$exp,"sub":"alice\0evil"})],
    'alg with NUL'           => [qq({"exp":$exp}), '{"alg":"HS256\u0000x","typ":"JWT"}'],
);
for my $case (sort keys %bad) {
    main::sub_refused(main::jwt_raw(@{$bad{$case}}), 'invalid token', $case);
}
# without the NUL: alice, and alice's messages reach her
my $alice = sse_open('/sub?channel=a&token=' . main::jwt_raw(qq({"exp":$exp,"sub":"alice"})));
is($alice->status, 200, 'alice subscribed');
is(main::json_post('/pub', '{"channel":"a","data":"for alice","user":"alice"}')->{status}, 200, 'published for alice');
my ($body) = $alice->read_until(qr/for alice/, 3);
like($body, qr/data: for alice/, 'alice got it');
--- no_error_log
[alert]
[crit]



=== TEST 3: publishing: a NUL anywhere in a JSON body is refused, nothing published
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my @json = (
    '{"channel":"a\u0000x","data":"d"}',
    '{"channel":["ok","a\u0000"],"data":"d"}',
    '{"channel":"a","event":"e\u0000x","data":"d"}',
    '{"channel":"a","user":"alice\u0000evil","data":"d"}',
    '{"channel":"a","userId":"alice\u0000evil","data":"d"}',
    '{"channel":"a","data":"cut\u0000here"}',
    '{"channel":"a","data":{"k":"cut\u0000here"}}',
    '{"channel":"a","data":{"k\u0000":1}}',
    '{"channel":"a","data":"\u0000"}',
    '[{"channel":"ok","data":"d"},{"channel":"a","data":"\u0000"}]',
);
for my $b (@json) {
    my $at = index($b, '\u0000');
    main::refused(main::json_post('/pub', $b), 400,
        "NUL characters are not allowed: \\u0000 at offset $at", "JSON $b");
}
main::refused(main::json_post('/pub', qq({"channel":"a","data":"a\0b"})), 400,
    'NUL characters are not allowed: a NUL byte at offset 24', 'a raw NUL byte in data');
main::refused(main::json_post('/pub', qq({\0"channel":"a","data":"d"})), 400,
    'NUL characters are not allowed: a NUL byte at offset 1', 'a raw NUL byte between tokens');
# form: %00 in a name is refused by the name's own check
main::refused(main::form_post('/pub', 'channel=a%00x&data=d'), 400,
    'invalid channel name: it must be 1 to 255 bytes without control characters, commas or white space',
    'form channel a%00x');
main::refused(main::form_post('/pub', 'channel=a&event=e%00x&data=d'), 400,
    'event name must not contain CR, LF or NUL', 'form event e%00x');
is(main::published(), 0, 'nothing published');
is(http('GET', '/pub?channel=a')->{status}, 404, 'channel a never made');
is(http('GET', '/pub?channel=ok')->{status}, 404, 'channel ok never made');
--- no_error_log
[alert]
[crit]



=== TEST 4: publishing: only white space may follow the JSON value; nothing published
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
location /sub { sse_subscribe; }
location /status { sse_status; }
--- test
my $s = sse_open('/sub?channel=global');
my $after = 'body is not valid JSON: only white space may follow the JSON value, at offset';
my @bad = (
    ['{"data":"a"}{"data":"b"}', "$after 12"],
    ['{"data":"a"} {"data":"b"}', "$after 13"],
    ['{"data":"a"}' . "\r\n" . '{"data":"b"}', "$after 14"],
    ['{"data":"a"} x', "$after 13"],
    ['[{"data":"a"}]]', "$after 14"],
    ['[{"data":"a"}],', "$after 14"],
    ['[{"data":"a"}][{"data":"b"}]', "$after 14"],
    ['"x" "y"', "$after 4"],
    ['1 2', "$after 2"],
    ['{"data":"a"}' . "\0", 'NUL characters are not allowed: a NUL byte at offset 12'],
    ['{"data":"a"}' . "\x01", 'body is not valid JSON: a control character at offset 12'],
    ['{"data":"a"}' . "\x0b", 'body is not valid JSON: a control character at offset 12'],
    ['{"data":"a"}' . "\f", 'body is not valid JSON: a control character at offset 12'],
    # cJSON would take these for white space, or skip them
    ["\x0b" . '[{"data":"a"}]', 'body is not valid JSON: a control character at offset 0'],
    ['{"data":' . "\x1f" . '"a"}', 'body is not valid JSON: a control character at offset 8'],
    ["\xef\xbb\xbf" . '[{"data":"a"}]', 'body is not valid JSON: a byte order mark (U+FEFF) at offset 0'],
);
for my $c (@bad) {
    main::refused(main::json_post('/pub', $c->[0]), 400, $c->[1], 'body ' . main::show($c->[0]));
}
is(main::published(), 0, 'nothing published');
my $r = main::json_post('/pub', qq({"data":"ok"} \t\r\n));
is($r->{status}, 200, 'trailing white space is fine');
is($r->{body}, '{"id":"1","channel":"global","subscribers":1}', 'published once, id 1');
$r = main::json_post('/pub', qq( \r\n\t[{"data":"ok2"}]\n));
is($r->{status}, 200, 'white space around an array is fine');
like($r->{body}, qr/^\[\{"id":"2"/, 'answered as an array');
my ($body) = $s->read_until(qr/ok2/, 3);
is($body, "id: 1\ndata: ok\n\nid: 2\ndata: ok2\n\n", 'only the good ones arrived');
--- no_error_log
[alert]
[crit]



=== TEST 5: sse_token: only white space may follow the JSON value; nothing minted
--- http_config
sse_zone zone=ev:1m;
--- config
location /token { sse_token test-secret-0123456789abcdef0123456789; }
--- test
my $after = 'body is not valid JSON: only white space may follow the JSON value, at offset';
main::refused(main::json_post('/token', '{"channel":"a"}{"channel":"*"}'), 400, "$after 15", 'a second object');
main::refused(main::json_post('/token', '{"userId":"a","channel":"a"} junk'), 400, "$after 29", 'junk');
main::refused(main::json_post('/token', '{"channel":"a"}' . "\0"), 400,
    'NUL characters are not allowed: a NUL byte at offset 15', 'a NUL');
main::refused(main::json_post('/token', '{"channel":"a"}' . "\x01"), 400,
    'body is not valid JSON: a control character at offset 15', 'a control byte');
main::refused(main::json_post('/token', '["a"]'), 400, 'body is not a JSON object', 'an array');
my $r = main::json_post('/token', qq(\r\n {"channel":"a"}\n\t ));
is($r->{status}, 200, 'white space around the object is fine');
is(main::claims($r)->{channel}, 'a', 'for channel a');
--- no_error_log
[alert]
[crit]



=== TEST 6: a token whose header or payload has data after the JSON value is invalid, even signed
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $exp = time + 60;
my %bad = (
    'payload, then another object' => [qq({"exp":$exp}{"exp":1})],
    'payload, then junk'           => [qq({"exp":$exp}x)],
    'payload, then a NUL'          => [qq({"exp":$exp}\0)],
    'payload, then a control byte' => [qq({"exp":$exp}\x0b)],
    'header, then another object'  => [qq({"exp":$exp}), '{"alg":"HS256"}{"alg":"none"}'],
    'header, then junk'            => [qq({"exp":$exp}), '{"alg":"HS256"},'],
    'header with a byte order mark' => [qq({"exp":$exp}), "\xef\xbb\xbf" . '{"alg":"HS256"}'],
);
for my $case (sort keys %bad) {
    main::sub_refused(main::jwt_raw(@{$bad{$case}}), 'invalid token', $case);
}
is(sse_open('/sub?channel=a&token=' . main::jwt_raw(qq( {"exp":$exp}\r\n), qq(\t{"alg":"HS256"} )))->status,
   200, 'white space around the header and the payload is fine');
--- no_error_log
[alert]
[crit]



=== TEST 7: sse_token never mints a token longer than subscribers accept
--- http_config
sse_zone zone=ev:1m;
--- config
client_max_body_size 8m;
location /token { sse_token test-secret-0123456789abcdef0123456789; }
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $long = 'the token would be longer than the 4096 bytes subscribers accept: ask for fewer or shorter channels';
my @chans = map { sprintf 'ch%04d', $_ } 1 .. 600;
main::refused(main::json_post('/token', encode_json({userId => 'u', channel => \@chans})), 400, $long,
              '600 channels, JSON');
# a form lists at most 32 channels (as a subscriber may): 20 long ones do not fit
main::refused(main::form_post('/token', 'userId=u&channel=' . join(',', map { sprintf '%0255d', $_ } 1 .. 20)),
              400, $long, '20 channels of 255 bytes, form');
my @many = map { "c$_" } 1 .. 100000;
main::refused(main::json_post('/token', encode_json({channel => \@many})), 400, $long, '100000 channels');
main::refused(main::json_post('/token', encode_json({userId => 'u' x 255, channel => [map { sprintf '%0255d', $_ } 1 .. 12]})),
              400, $long, '12 channels of 255 bytes');
# the largest token that mints is accepted by subscribers; one more channel is refused
my ($n, $token) = (0, undef);
for my $try (reverse 300 .. 420) {
    my $r = main::json_post('/token', encode_json({userId => 'u', channel => [@chans[0 .. $try - 1]]}));
    next unless $r->{status} == 200;
    ($n, $token) = ($try, decode_json($r->{body})->{token});
    last;
}
ok($n > 300, "largest mintable: $n channels");
ok(length($token) <= 4096, 'its token: ' . length($token) . ' bytes, at most 4096');
ok(length($token) > 4096 - 12, 'and close to the limit');
is(sse_open("/sub?channel=$chans[$n - 1]&token=$token")->status, 200, 'a subscriber accepts it');
main::refused(main::json_post('/token', encode_json({userId => 'u', channel => [@chans[0 .. $n]]})),
    400, $long, 'one more channel');
--- no_error_log
[alert]
[crit]



=== TEST 8: sse_token: channel is required ("*" explicit)
--- http_config
sse_zone zone=ev:1m;
--- config
location /token { sse_token test-secret-0123456789abcdef0123456789; }
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
--- test
my $missing = '"channel" is missing: name the channels the token allows ("*" for every channel)';
main::refused(main::json_post('/token', '{"userId":"alex"}'), 400, $missing, 'JSON without channel');
main::refused(main::json_post('/token', '{}'), 400, $missing, 'empty object');
main::refused(main::json_post('/token', '{"userId":"alex","channel":null}'), 400, $missing, 'channel null');
main::refused(main::json_post('/token', '{"userId":"alex","exp":60}'), 400, $missing, 'exp but no channel');
main::refused(main::json_post('/token', '{"channel":[]}'), 400, '"channel" is an empty array', 'empty array');
main::refused(main::json_post('/token', '{"channel":""}'), 400,
    'invalid channel name: it must be 1 to 255 bytes without control characters, commas or white space', 'empty string');
main::refused(main::form_post('/token', 'userId=alex'), 400, $missing, 'form without channel');
main::refused(main::form_post('/token', ''), 400, $missing, 'empty form');
main::refused(main::form_post('/token', 'userId=alex&channel='), 400, 'invalid channel name: it is empty', 'form channel=');
my $r = main::json_post('/token', '{"userId":"alex","channel":"*"}');
is($r->{status}, 200, 'channel "*" mints');
is(main::claims($r)->{channel}, '*', 'claim "*"');
is(sse_open('/sub?channel=anything&token=' . decode_json($r->{body})->{token})->status, 200,
   '"*" subscribes anywhere');
$r = main::form_post('/token', 'userId=alex&channel=*');
is($r->{status}, 200, 'form channel=* mints');
is(main::claims($r)->{channel}, '*', 'form: claim "*"');
--- no_error_log
[alert]
[crit]



=== TEST 9: exp and nbf are bounded before any conversion: no huge, negative or infinite time is cast
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /token { sse_token test-secret-0123456789abcdef0123456789; }
--- test
my $now = time;
my $exp = $now + 60;
my @bad = (
    qq({"exp":$exp,"nbf":-1e999}), qq({"exp":$exp,"nbf":1e999}), qq({"exp":$exp,"nbf":-1}),
    qq({"exp":$exp,"nbf":-0.5e1}), qq({"exp":$exp,"nbf":-0.999}), qq({"exp":$exp,"nbf":-9.3e18}),
    qq({"exp":$exp,"nbf":"0"}), qq({"exp":$exp,"nbf":null}), qq({"exp":$exp,"nbf":[0]}),
    qq({"exp":$exp,"nbf":99999999999999999999999}), qq({"exp":$exp,"nbf":253402300800}),
    '{"exp":-0.5}', '{"exp":1e999}', '{"exp":-1e999}', '{"exp":1e308}', '{"exp":-1}',
    '{"exp":9.3e18}', '{"exp":253402300800}', '{"exp":1e99999999999999999999}',
    '{"exp":"9999999999"}', '{"exp":true}', '{"exp":[1]}', '{"exp":null}', '{"exp":{}}',
);
for my $p (@bad) {
    main::sub_refused(main::jwt_raw($p), 'invalid token', $p);
}
my @good = (
    qq({"exp":$exp,"nbf":0}), qq({"exp":$exp,"nbf":1.5}), qq({"exp":$exp,"nbf":-0}),
    qq({"exp":$exp,"nbf":1e-999}), qq({"exp":$exp,"nbf":-1e-999}), qq({"exp":$exp.9}),
    qq({"exp":253402300799}), qq({"exp":2.53402300799e11}), qq({"exp":$exp,"nbf":${now}e0}),
);
for my $p (@good) {
    is(sse_open('/sub?channel=a&token=' . main::jwt_raw($p))->status, 200, "$p: accepted");
}
main::sub_refused(main::jwt_raw(qq({"exp":$exp,"nbf":2.53402300799e11})), 'token not yet valid',
                  'nbf at the end of year 9999');
main::sub_refused(main::jwt_raw(qq({"exp":$now.5})), 'token expired', 'exp now, with a fraction');
# exp in token requests: whole seconds, 1 to ten years
my $why = '"exp" must be whole seconds from now, 1 to 315360000';
for my $e ('1e999', '-1e999', '1.5', '"60"', '0', '-0', '-1', '315360001', '1e9', '9.3e18',
           '-9.3e18', 'true', '[60]', '{}') {
    main::refused(main::json_post('/token', qq({"channel":"a","exp":$e})), 400, $why, "token exp $e");
}
for my $e ('0', '-1', '1.5', '315360001', '1e3', '', '99999999999999999999999') {
    main::refused(main::form_post('/token', "channel=a&exp=$e"), 400, $why, "form token exp=$e");
}
for my $e (['1e3', 1000], ['60.0', 60], ['315360000', 315360000], ['6E+1', 60], ['1', 1]) {
    my $r = main::json_post('/token', qq({"channel":"a","exp":$e->[0]}));
    is($r->{status}, 200, "token exp $e->[0]: minted");
    ok(abs(decode_json($r->{body})->{expires} - (time + $e->[1])) <= 2, "token exp $e->[0]: $e->[1] s");
}
--- no_error_log
[alert]
[crit]



=== TEST 10: duplicated keys and aliases are refused, never guessed
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
location /token { sse_token test-secret-0123456789abcdef0123456789; }
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /status { sse_status; }
--- test
my @pub = (
    ['{"channel":"a","channel":"b","data":"x"}', '"channel" appears more than once'],
    ['{"channel":"a","data":"x","data":"y"}', '"data" appears more than once'],
    ['{"channel":"a","data":"x","d\u0061ta":"y"}', '"data" appears more than once'],
    ['{"channel":"a","event":"e","event":"f","data":"x"}', '"event" appears more than once'],
    ['{"channel":"a","user":"a","user":"b","data":"x"}', '"user" appears more than once'],
    ['{"channel":"a","userId":"a","userId":"b","data":"x"}', '"userId" appears more than once'],
    ['{"channel":"a","user":"a","userId":"b","data":"x"}', '"user" and "userId" are the same field: send one'],
    ['{"channel":"a","userId":"a","user":"a","data":"x"}', '"user" and "userId" are the same field: send one'],
    ['{"channel":"a","data":"x","data":null}', '"data" appears more than once'],
    ['[{"channel":"a","data":"x"},{"channel":"a","data":"x","data":"y"}]', 'message 2: "data" appears more than once'],
);
for my $c (@pub) {
    main::refused(main::json_post('/pub', $c->[0]), 400, $c->[1], "publish $c->[0]");
}
my @form = (
    ['channel=a&data=x&data=y', '"data" appears more than once'],
    ['channel=a&data=x&payload=y', '"data" and "payload" are the same field: send one'],
    ['channel=a&channel=b&data=x', '"channel" appears more than once'],
    ['channel=a&event=e&event=f&data=x', '"event" appears more than once'],
    ['channel=a&userId=u&user=v&data=x', '"userId" and "user" are the same field: send one'],
);
for my $c (@form) {
    main::refused(main::form_post('/pub', $c->[0]), 400, $c->[1], "publish form $c->[0]");
}
is(main::published(), 0, 'nothing published');
# other members (and their repeats) are passed over
is(main::json_post('/pub', '{"channel":"a","x":1,"x":2,"data":"ok"}')->{status}, 200, 'unknown members pass');
is(main::form_post('/pub', 'channel=a&x=1&x=2&data=ok')->{status}, 200, 'unknown form fields pass');
my @tok = (
    ['{"channel":"a","channel":"*"}', '"channel" appears more than once'],
    ['{"userId":"a","sub":"b","channel":"a"}', '"userId" and "sub" are the same field: send one'],
    ['{"sub":"a","sub":"a","channel":"a"}', '"sub" appears more than once'],
    ['{"exp":60,"exp":120,"channel":"a"}', '"exp" appears more than once'],
);
for my $c (@tok) {
    main::refused(main::json_post('/token', $c->[0]), 400, $c->[1], "token $c->[0]");
}
main::refused(main::form_post('/token', 'userId=a&sub=b&channel=a'), 400,
    '"userId" (or its alias "sub") appears more than once', 'token form userId and sub');
main::refused(main::form_post('/token', 'exp=1&exp=99999&channel=a'), 400, '"exp" appears more than once',
              'token form exp twice');
my $r = main::form_post('/token', 'channel=a&channel=b');
is($r->{status}, 200, 'token form: channel may repeat');
is_deeply(main::claims($r)->{channel}, ['a', 'b'], 'both channels');
# tokens: a claim given twice is invalid, whichever comes first
my $exp = time + 60;
for my $p (qq({"exp":$exp,"exp":1}), qq({"exp":1,"exp":$exp}), qq({"exp":$exp,"nbf":0,"nbf":0}),
           qq({"exp":$exp,"sub":"a","sub":"b"}), qq({"exp":$exp,"userId":"a","userId":"b"}),
           qq({"exp":$exp,"channel":"x","channel":"*"}),
           # sub and userId naming two users, or one not a string: not guessed at
           qq({"exp":$exp,"sub":"a","userId":"b"}), qq({"exp":$exp,"userId":"b","sub":"a"}),
           qq({"exp":$exp,"sub":"a","userId":1}), qq({"exp":$exp,"sub":"a","userId":"A"})) {
    main::sub_refused(main::jwt_raw($p), 'invalid token', "claims $p");
}
main::sub_refused(main::jwt_raw(qq({"exp":$exp}), '{"alg":"HS256","alg":"none"}'), 'invalid token', 'alg twice');
main::sub_refused(main::jwt_raw(qq({"exp":$exp}), '{"alg":"HS256","alg":"HS256"}'), 'invalid token', 'alg twice, same');
is(sse_open('/sub?channel=a&token=' . main::jwt_raw(qq({"exp":$exp,"sub":"a","userId":"a"})))->status, 200,
   'sub and userId once each (as sse_token mints them): fine');
--- no_error_log
[alert]
[crit]



=== TEST 11: deep nesting: 1000 levels are fine, deeper is a clean 400 (cJSON's limit)
--- http_config
sse_zone zone=ev:1m;
--- config
client_max_body_size 8m;
location /pub { sse_publish; sse_max_message_size 4m; }
location /sub { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /open { sse_subscribe; }
location /token { sse_token test-secret-0123456789abcdef0123456789; }
location /status { sse_status; }
--- test
my $deep = 'body is not valid JSON: nested deeper than 1000 levels';
my $s = sse_open('/open?channel=deep');
my $data = ('[' x 999) . (']' x 999);
my $r = main::json_post('/pub', qq({"channel":"deep","data":$data}));
is($r->{status}, 200, '1000 levels: the message and 999 in data');
my ($body) = $s->read_until(qr/\n\n/, 5);
is($body, "id: 1\ndata: $data\n\n", 'delivered as sent');
$data = ('[' x 1000) . (']' x 1000);
main::refused(main::json_post('/pub', qq({"channel":"deep","data":$data})), 400, $deep, '1001 levels');
main::refused(main::json_post('/pub', '[' x 100000), 400, $deep, '100000 [');
main::refused(main::json_post('/pub', '[' x 3000000), 400, $deep, '3 million [');
main::refused(main::json_post('/pub', '{"a":' x 500000), 400, $deep, 'half a million {"a":');
main::refused(main::json_post('/pub', ('[' x 100000) . (']' x 100000)), 400, $deep, '100000 levels, closed');
main::refused(main::json_post('/token', '{"channel":"a","x":' . ('[' x 5000) . (']' x 5000) . '}'), 400,
              $deep, 'token request');
main::sub_refused(main::jwt_raw('{"exp":' . (time + 60) . ',"x":' . ('[' x 1100) . (']' x 1100) . '}'),
                  'invalid token', 'token payload');
is(main::published(), 1, 'only the good one published');
--- no_error_log
[alert]
[crit]
