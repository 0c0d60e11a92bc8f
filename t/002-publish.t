# Publishing: JSON, form and raw bodies, replies, channel info, bad input.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: JSON publish with object data
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"user_123","event":"workflow_update","data":{"status":"processing","progress":45}}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp
{"id":"1","channel":"user_123","subscribers":0}
--- no_error_log
[error]



=== TEST 2: ids grow across channels; channel info reports them
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- requests eval
["POST /pub\n{\"channel\":\"a\",\"data\":\"1\"}",
 "POST /pub\n{\"channel\":\"b\",\"data\":\"2\"}",
 "POST /pub\n{\"channel\":\"a\",\"data\":\"3\"}",
 "GET /pub?channel=a"]
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body chomp
{"channel":"a","subscribers":0,"messages":2,"last_event_id":"3"}



=== TEST 3: a batch is published in order, the reply is an array
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
[{"channel":"a","data":"x"},{"channel":["b","c"],"event":"e","data":[1,2]}]
--- more_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
[{"id":"1","channel":"a","subscribers":0},{"id":"2","channel":"b","subscribers":0},{"id":"3","channel":"c","subscribers":0}]



=== TEST 4: a channel array alone also answers an array
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":["a","b"],"data":"x"}
--- more_headers
Content-Type: application/json
--- response_body chomp
[{"id":"1","channel":"a","subscribers":0},{"id":"2","channel":"b","subscribers":0}]



=== TEST 5: a batch with one bad message publishes none and names it
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- requests eval
["POST /pub\n[{\"channel\":\"a\",\"data\":\"x\"},{\"channel\":\"a\"}]",
 "GET /pub?channel=a"]
--- more_headers
Content-Type: application/json
--- error_code: 404
--- response_body chomp
{"error":"unknown channel","status":404}



=== TEST 6: the bad message is named
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
[{"channel":"a","data":"x"},{"channel":"a","data":"y"},{"channel":"a"}]
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"message 3: \"data\" is missing","status":400}



=== TEST 7: channel defaults to sse_channel, then global
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- requests eval
["POST /pub?channel=fromarg\n{\"data\":\"x\"}",
 "POST /pub\n{\"data\":\"y\"}"]
--- more_headers
Content-Type: application/json
--- response_body chomp
{"id":"2","channel":"global","subscribers":0}



=== TEST 8: form body, with payload and userId aliases
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
channel=user_123&event=workflow_update&payload=half+way%21&userId=alex
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body chomp
{"id":"1","channel":"user_123","subscribers":0}



=== TEST 9: raw body uses ?channel= and ?event=
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub?channel=raw&event=report
anything at all { not json
--- more_headers
Content-Type: text/plain
--- response_body chomp
{"id":"1","channel":"raw","subscribers":0}



=== TEST 10: PUT publishes too
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
PUT /pub?channel=p
hello
--- response_body chomp
{"id":"1","channel":"p","subscribers":0}



=== TEST 11: invalid JSON
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel": "a", "data": 
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"body is not valid JSON","status":400}



=== TEST 12: empty body
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request eval
"POST /pub\n"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"empty body","status":400}



=== TEST 13: data missing
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"\"data\" is missing","status":400}



=== TEST 14: channel of the wrong type
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":12,"data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"\"channel\" must be a string or an array of strings","status":400}



=== TEST 15: event of the wrong type
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a","event":true,"data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"\"event\" must be a string","status":400}



=== TEST 16: a message that is not an object
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
"just a string"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"a message must be a JSON object","status":400}



=== TEST 17: channel with white space
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a b","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 18: channel with a comma
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a,b","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 19: channel with a control character
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a\u0007","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 20: channel longer than 255 bytes
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request eval
"POST /pub\n{\"channel\":\"" . ("c" x 256) . "\",\"data\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 21: a 255-byte channel is fine
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request eval
"POST /pub\n{\"channel\":\"" . ("c" x 255) . "\",\"data\":\"x\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200



=== TEST 22: empty channel string
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: invalid channel name



=== TEST 23: event name with LF (field injection)
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a","event":"x\ndata: evil","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"event name must not contain CR, LF or NUL","status":400}



=== TEST 24: event name with CR
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a","event":"x\revil","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"event name must not contain CR, LF or NUL","status":400}



=== TEST 25: NUL anywhere in a JSON string is refused
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a","event":"x\u0000y","data":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"NUL characters are not allowed: \\u0000 at offset 25","status":400}



=== TEST 26: an escaped backslash before u0000 is not a NUL
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
{"channel":"a","data":"\\u0000"}
--- more_headers
Content-Type: application/json
--- error_code: 200



=== TEST 27: form event name with CR LF
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
channel=a&event=x%0D%0Ay&data=1
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body chomp
{"error":"event name must not contain CR, LF or NUL","status":400}



=== TEST 28: raw publish with an event carrying LF
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub?channel=a&event=x%0Ay
body
--- more_headers
Content-Type: text/plain
--- error_code: 400
--- response_body_like: event name must not contain CR, LF or NUL



=== TEST 29: form without data
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
channel=a&event=b
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body chomp
{"error":"\"data\" is missing","status":400}



=== TEST 30: form with a broken escape
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
POST /pub
channel=a&data=50%ZZ
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body chomp
{"error":"bad %-escape in field \"data\"","status":400}



=== TEST 31: data larger than sse_max_message_size
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_max_message_size 10; }
--- request
POST /pub
{"channel":"a","data":"01234567890"}
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_body chomp
{"error":"data is larger than sse_max_message_size","status":413}



=== TEST 32: data exactly sse_max_message_size
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; sse_max_message_size 10; }
--- request
POST /pub
{"channel":"a","data":"0123456789"}
--- more_headers
Content-Type: application/json
--- error_code: 200



=== TEST 33: the default limit is 64k
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request eval
"POST /pub?channel=a\n" . ("x" x 65537)
--- more_headers
Content-Type: text/plain
--- error_code: 413
--- response_body_like: sse_max_message_size



=== TEST 34: body over client_max_body_size gets a JSON 413
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; client_max_body_size 100; }
--- request eval
"POST /pub?channel=a\n" . ("x" x 200)
--- more_headers
Content-Type: text/plain
--- error_code: 413
--- response_body chomp
{"error":"request body is larger than client_max_body_size","status":413}



=== TEST 35: a body kept in a temporary file is read whole
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; client_body_buffer_size 1k; client_body_in_file_only clean; sse_max_message_size 100k; }
--- request eval
"POST /pub\n{\"channel\":\"big\",\"data\":\"" . ("y" x 50000) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body chomp
{"id":"1","channel":"big","subscribers":0}



=== TEST 36: method not allowed
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
PATCH /pub
--- error_code: 405
--- response_body chomp
{"error":"method not allowed: publish with POST or PUT, read with GET, remove with DELETE","status":405}



=== TEST 37: GET of an unknown channel
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
GET /pub?channel=nobody
--- error_code: 404
--- response_body chomp
{"error":"unknown channel","status":404}



=== TEST 38: GET with an invalid channel name
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
GET /pub?channel=a%20b
--- error_code: 400
--- response_body_like: invalid channel name
--- no_error_log
[alert]
header already sent



=== TEST 39: sse_channel with variables on the publisher
--- http_config
sse_zone zone=ev:1m;
--- config
location ~ ^/pub/(?<ch>\w+)$ { sse_publish; sse_channel $ch; sse_event fixed; }
--- request
POST /pub/room7
hi
--- more_headers
Content-Type: text/plain
--- response_body chomp
{"id":"1","channel":"room7","subscribers":0}



=== TEST 40: history is bounded by history=
--- http_config
sse_zone zone=ev:1m history=3;
--- config
location /pub { sse_publish; }
--- requests eval
[(map { "POST /pub?channel=h\nm$_" } 1..5), "GET /pub?channel=h"]
--- more_headers
Content-Type: text/plain
--- response_body chomp
{"channel":"h","subscribers":0,"messages":3,"last_event_id":"5"}



=== TEST 41: history=0 keeps nothing, the channel goes away
--- http_config
sse_zone zone=ev:1m history=0;
--- config
location /pub { sse_publish; }
--- requests eval
["POST /pub?channel=h\nm1", "GET /pub?channel=h"]
--- more_headers
Content-Type: text/plain
--- error_code: 404



=== TEST 42: messages expire after ttl
--- http_config
sse_zone zone=ev:1m ttl=300ms;
--- config
location /pub { sse_publish; }
--- test
my $r = http('POST', '/pub?channel=t', 'x', {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'published');
$r = http('GET', '/pub?channel=t');
like($r->{body}, qr/"messages":1/, 'kept');
select(undef, undef, undef, 0.6);
$r = http('GET', '/pub?channel=t');
is($r->{status}, 404, 'expired, channel gone');



=== TEST 43: a JSON string data is sent as it is, other values compact
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
location /sub { sse_subscribe; }
--- subscribe
GET /sub?channel=a
--- requests eval
["POST /pub\n{\"channel\":\"a\",\"data\":\"plain \\\"q\\\"\"}",
 "POST /pub\n{\"channel\":\"a\",\"data\":{ \"k\" : [ 1 , true , null ] }}",
 "POST /pub\n{\"channel\":\"a\",\"data\":42}"]
--- more_headers
Content-Type: application/json
--- stream_until: id: 3
--- stream_body eval
"id: 1\ndata: plain \"q\"\n\nid: 2\ndata: {\"k\":[1,true,null]}\n\nid: 3\ndata: 42\n\n"



=== TEST 44: allow/deny on the publisher answers JSON too
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; deny all; }
--- request
POST /pub?channel=a
x
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"forbidden","status":403}



=== TEST 45: a chunked body over client_max_body_size
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; client_max_body_size 100; }
--- raw_request eval
"POST /pub?channel=a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nc8\r\n" . ("x" x 200) . "\r\n0\r\n\r\n"
--- error_code: 413
--- response_body chomp
{"error":"request body is larger than client_max_body_size","status":413}



=== TEST 46: a chunked body in many small pieces is read whole
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; client_body_buffer_size 1k; }
location /sub { sse_subscribe; }
--- test
my $json = '{"channel":"pieces","data":"' . ('0123456789' x 300) . '"}';
my $chunks = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } ($json =~ /(.{1,7})/gs)) . "0\r\n\r\n";
my $r = http(undef, undef, undef, undef, raw =>
    "POST /pub HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" . $chunks);
is($r->{status}, 200, 'published');
is($r->{body}, '{"id":"1","channel":"pieces","subscribers":0}', 'reply');
$r = http('GET', '/pub?channel=pieces');
like($r->{body}, qr/"messages":1/, 'kept');
