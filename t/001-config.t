# Configuration: every error fails `nginx -t` with a precise message.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: a valid configuration loads
--- http_config
sse_zone zone=ev:1m history=10 ttl=30s;
--- config
location /sub { sse_subscribe; sse_keepalive off; sse_retry 2s;
                sse_connected_event hello; sse_subscriber_timeout 1h;
                sse_max_subscribers 10; sse_max_pending 64k; }
location /pub { sse_publish zone=ev; sse_max_message_size 1k;
                sse_channel $arg_c; sse_event $arg_e; }
--- request
GET /pub?channel=none
--- error_code: 404
--- response_body chomp
{"error":"unknown channel","status":404}



=== TEST 2: sse_subscribe and sse_publish in one location
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_publish; }
--- must_die
--- error_log
"sse_publish" in a location that already has "sse_subscribe"



=== TEST 3: unknown zone
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe zone=nope; }
--- must_die
--- error_log
"sse_subscribe" names unknown sse_zone "nope"



=== TEST 4: no zone at all
--- config
location /x { sse_publish; }
--- must_die
--- error_log
"sse_publish" needs an sse_zone in the http block



=== TEST 5: two zones and no zone=
--- http_config
sse_zone zone=a:1m;
sse_zone zone=b:1m;
--- config
location /x { sse_subscribe; }
--- must_die
--- error_log
"sse_subscribe" needs "zone=": 2 sse_zone are declared



=== TEST 6: zone too small
--- http_config
sse_zone zone=ev:16k;
--- config
location /x { sse_subscribe; }
--- must_die
--- error_log
sse_zone "zone=ev:16k" is too small



=== TEST 7: bad zone size
--- http_config
sse_zone zone=ev:lots;
--- must_die
--- error_log
invalid zone size "zone=ev:lots" in sse_zone



=== TEST 8: zone without a size
--- http_config
sse_zone zone=ev;
--- must_die
--- error_log
invalid zone "zone=ev" in sse_zone



=== TEST 9: bad history
--- http_config
sse_zone zone=ev:1m history=-3;
--- must_die
--- error_log
invalid history "history=-3" in sse_zone



=== TEST 10: bad ttl
--- http_config
sse_zone zone=ev:1m ttl=soon;
--- must_die
--- error_log
invalid ttl "ttl=soon" in sse_zone



=== TEST 11: unknown parameter
--- http_config
sse_zone zone=ev:1m colour=blue;
--- must_die
--- error_log
invalid parameter "colour=blue" in sse_zone



=== TEST 12: zone declared twice
--- http_config
sse_zone zone=ev:1m;
sse_zone zone=ev:1m;
--- must_die
--- error_log
sse_zone "ev" is already declared



=== TEST 13: sse_zone without zone=
--- http_config
sse_zone history=3;
--- must_die
--- error_log
sse_zone needs "zone=NAME:SIZE"



=== TEST 14: bad keepalive time
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_keepalive never; }
--- must_die
--- error_log
invalid time "never" in "sse_keepalive"



=== TEST 15: bad retry time
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_retry 0; }
--- must_die
--- error_log
invalid time "0" in "sse_retry"



=== TEST 16: bad subscriber timeout
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_subscriber_timeout 5q; }
--- must_die
--- error_log
invalid time "5q" in "sse_subscriber_timeout"



=== TEST 17: connected event name with a space
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_connected_event "a b"; }
--- must_die
--- error_log
invalid event name "a b" in sse_connected_event



=== TEST 18: bad sse_subscribe parameter
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe ev; }
--- must_die
--- error_log
invalid parameter "ev" in "sse_subscribe", use zone=NAME



=== TEST 19: bad max message size
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_publish; sse_max_message_size big; }
--- must_die
--- error_log
"sse_max_message_size" directive invalid value



=== TEST 20: bad max subscribers
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_max_subscribers many; }
--- must_die
--- error_log
"sse_max_subscribers" directive invalid number



=== TEST 21: redis= with an unknown scheme (more in t/016-redis.t)
--- http_config
sse_zone zone=ev:1m redis=redis+tls://127.0.0.1:6379;
--- must_die
--- error_log
invalid redis URL "redis=redis+tls://127.0.0.1:6379" in sse_zone



=== TEST 22: sse_subscribe outside a location
--- http_config
sse_zone zone=ev:1m;
sse_subscribe;
--- must_die
--- error_log
"sse_subscribe" directive is not allowed here



=== TEST 23: duplicate sse_keepalive
--- http_config
sse_zone zone=ev:1m;
--- config
location /x { sse_subscribe; sse_keepalive 1s; sse_keepalive 2s; }
--- must_die
--- error_log
"sse_keepalive" directive is duplicate
