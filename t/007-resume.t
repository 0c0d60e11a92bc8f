# Resume from Last-Event-ID, replay for new subscribers, and sse_gap when
# history no longer reaches back.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: Last-Event-ID header resumes after that id, in id order
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..5;
my $s = sse_open('/sub?channel=a', {'Last-Event-ID' => '3'});
my ($body) = $s->read_until(qr/data: m5\n\n/, 2);
is($body, "id: 4\ndata: m4\n\nid: 5\ndata: m5\n\n", 'messages after 3');



=== TEST 2: ?last_event_id= works as well (EventSource cannot set headers)
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..4;
my $s = sse_open('/sub?channel=a&last_event_id=2');
my ($body) = $s->read_until(qr/data: m4\n\n/, 2);
is($body, "id: 3\ndata: m3\n\nid: 4\ndata: m4\n\n", 'resumed from the argument');



=== TEST 3: the header wins over the argument
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..4;
my $s = sse_open('/sub?channel=a&last_event_id=1', {'Last-Event-ID' => '3'});
my ($body) = $s->read_until(qr/data: m4\n\n/, 2);
is($body, "id: 4\ndata: m4\n\n", 'header used');



=== TEST 4: one id resumes several channels, merged in id order, then live
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_connected_event connected; sse_retry 1s; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', "/pub?channel=$_->[0]", $_->[1], $h)
    for (['a', 'a1'], ['b', 'b2'], ['c', 'c3'], ['a', 'a4'], ['b', 'b5'], ['a', 'a6']);
my $s = sse_open('/sub?channel=a,b', {'Last-Event-ID' => '1'});
$s->read_until(qr/data: a6\n\n/, 2);
http('POST', '/pub?channel=b', 'live', $h);
my ($body) = $s->read_until(qr/data: live\n\n/, 2);
is($body, "retry: 1000\n\nevent: connected\ndata: {\"channels\":[\"a\",\"b\"],\"last_event_id\":\"6\"}\n\n"
        . "id: 2\ndata: b2\n\nid: 4\ndata: a4\n\nid: 5\ndata: b5\n\nid: 6\ndata: a6\n\n"
        . "id: 7\ndata: live\n\n",
   'retry, connected, resumed history in id order, then live');



=== TEST 5: resuming at the newest id sends nothing old
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..3;
my $s = sse_open('/sub?channel=a', {'Last-Event-ID' => '3'});
http('POST', '/pub?channel=a', 'new', $h);
my ($body) = $s->read_until(qr/data: new\n\n/, 2);
is($body, "id: 4\ndata: new\n\n", 'only the new one');



=== TEST 6: sse_gap when history no longer reaches back
--- http_config
sse_zone zone=ev:1m history=3;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=g', "m$_", $h) for 1..8;
my $s = sse_open('/sub?channel=g', {'Last-Event-ID' => '2'});
my ($body) = $s->read_until(qr/data: m8\n\n/, 2);
is($body, "event: sse_gap\ndata: {\"channel\":\"g\",\"last_event_id\":\"2\",\"oldest_id\":\"6\"}\n\n"
        . "id: 6\ndata: m6\n\nid: 7\ndata: m7\n\nid: 8\ndata: m8\n\n",
   'gap event first (no id line), then what is kept');



=== TEST 7: no gap when the history still reaches the id
--- http_config
sse_zone zone=ev:1m history=3;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=g', "m$_", $h) for 1..8;
my $s = sse_open('/sub?channel=g', {'Last-Event-ID' => '5'});
my ($body) = $s->read_until(qr/data: m8\n\n/, 2);
is($body, "id: 6\ndata: m6\n\nid: 7\ndata: m7\n\nid: 8\ndata: m8\n\n", 'no gap');



=== TEST 8: gap after messages expired
--- http_config
sse_zone zone=ev:1m ttl=200ms;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $keep = sse_open('/sub?channel=other');   # keeps nothing alive but proves nothing leaks
http('POST', '/pub?channel=t', "m$_", $h) for 1..2;
select(undef, undef, undef, 0.4 * timeout_factor());
my $s = sse_open('/sub?channel=t', {'Last-Event-ID' => '1'});
my ($body) = $s->read_until(qr/sse_gap.*\n\n/s, 2);
is($body, "event: sse_gap\ndata: {\"channel\":\"t\",\"last_event_id\":\"1\",\"oldest_id\":\"3\"}\n\n",
   'gap: message 2 expired, even though the channel record was freed');



=== TEST 9: gap per channel, only for the channel that lost messages
--- http_config
sse_zone zone=ev:1m history=2;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=busy', "b$_", $h) for 1..4;   # ids 1..4
http('POST', '/pub?channel=calm', 'c5', $h);             # id 5
my $s = sse_open('/sub?channel=calm,busy', {'Last-Event-ID' => '1'});
my ($body) = $s->read_until(qr/data: c5\n\n/, 2);
is($body, "event: sse_gap\ndata: {\"channel\":\"busy\",\"last_event_id\":\"1\",\"oldest_id\":\"3\"}\n\n"
        . "id: 3\ndata: b3\n\nid: 4\ndata: b4\n\nid: 5\ndata: c5\n\n",
   'one gap, for busy');



=== TEST 10: an id ahead of the zone (a restarted server) is a gap
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=z', 'one', $h);
my $s = sse_open('/sub?channel=z', {'Last-Event-ID' => '900'});
http('POST', '/pub?channel=z', 'two', $h);
my ($body) = $s->read_until(qr/data: two\n\n/, 2);
is($body, "event: sse_gap\ndata: {\"channel\":\"z\",\"last_event_id\":\"900\",\"oldest_id\":\"1\"}\n\n"
        . "id: 2\ndata: two\n\n",
   'gap, then live events still arrive');



=== TEST 11: an invalid Last-Event-ID
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
GET /sub?channel=a
--- more_headers
Last-Event-ID: 12abc
--- error_code: 400
--- response_body chomp
{"error":"invalid Last-Event-ID: ids are decimal numbers","status":400}



=== TEST 12: an overflowing Last-Event-ID
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
--- request
GET /sub?channel=a&last_event_id=99999999999999999999999
--- error_code: 400



=== TEST 13: sse_replay N: the last N of each channel for a new subscriber
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_replay 2; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', "/pub?channel=$_->[0]", $_->[1], $h)
    for (['a', 'a1'], ['a', 'a2'], ['b', 'b3'], ['a', 'a4'], ['b', 'b5'], ['b', 'b6']);
my $s = sse_open('/sub?channel=a,b');
my ($body) = $s->read_until(qr/data: b6\n\n/, 2);
is($body, "id: 2\ndata: a2\n\nid: 4\ndata: a4\n\nid: 5\ndata: b5\n\nid: 6\ndata: b6\n\n",
   'last two of a and of b, in id order');
my $r = sse_open('/sub?channel=a', {'Last-Event-ID' => '3'});
($body) = $r->read_until(qr/data: a4\n\n/, 2);
is($body, "id: 4\ndata: a4\n\n", 'with a Last-Event-ID, resume wins over replay');



=== TEST 14: sse_replay all
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_replay all; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..5;
my $s = sse_open('/sub?channel=a');
my ($body) = $s->read_until(qr/data: m5\n\n/, 2);
is(scalar(my @e = $s->events), 5, 'all five');



=== TEST 15: sse_replay off (the default) sends no history
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..3;
my $s = sse_open('/sub?channel=a');
http('POST', '/pub?channel=a', 'live', $h);
my ($body) = $s->read_until(qr/data: live\n\n/, 2);
is($body, "id: 4\ndata: live\n\n", 'live only');



=== TEST 16: sse_last_event_id from another place
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_last_event_id $cookie_lid; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=a', "m$_", $h) for 1..3;
my $s = sse_open('/sub?channel=a', {'Cookie' => 'lid=2', 'Last-Event-ID' => '0'});
my ($body) = $s->read_until(qr/data: m3\n\n/, 2);
is($body, "id: 3\ndata: m3\n\n", 'the cookie, not the header');



=== TEST 17: bad sse_replay value
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_replay some; }
--- must_die
--- error_log
invalid value "some" in sse_replay, use a number, "all" or "off"



=== TEST 18: resume across workers: published on any worker, resumed on any
--- workers: 2
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; }
    location /pub { sse_publish; }
}
--- config
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=w', "m$_", $h, port => ($_ % 2 ? port() : port2())) for 1..20;
my @s = map { sse_open('/sub?channel=w', {'Last-Event-ID' => '10'}, port => port2()) } 1..6;
sse_pump(\@s, 3, sub { !grep { $_->body !~ /data: m20\n\n/ } @{$_[0]} });
my $bad = grep { join(',', map { $_->{id} } $_->events) ne join(',', 11..20) } @s;
is($bad, 0, 'six resumed subscribers got 11..20');



=== TEST 19: history=0 keeps nothing: a resume from before the newest id is a gap, never silence
--- http_config
sse_zone zone=ev:1m history=0;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $hold = sse_open('/sub?channel=held');    # keeps the channel record
http('POST', "/pub?channel=$_", 'one', $h) for 'held', 'freed';    # ids 1, 2
http('POST', "/pub?channel=$_", 'two', $h) for 'held', 'freed';    # ids 3, 4
http('POST', "/pub?channel=$_", 'three', $h) for 'held', 'freed';  # ids 5, 6
my $held = sse_open('/sub?channel=held', {'Last-Event-ID' => '1'});
my $freed = sse_open('/sub?channel=freed', {'Last-Event-ID' => '2'});
my $now = sse_open('/sub?channel=held', {'Last-Event-ID' => '5'});
http('POST', "/pub?channel=$_", 'live', $h) for 'held', 'freed';   # ids 7, 8
my ($body) = $held->read_until(qr/data: live\n\n/, 2);
is($body, qq(event: sse_gap\ndata: {"channel":"held","last_event_id":"1","oldest_id":"7"}\n\n)
        . "id: 7\ndata: live\n\n",
   'a channel with subscribers: gap (nothing kept: oldest_id is the next id), then live');
($body) = $freed->read_until(qr/data: live\n\n/, 2);
is($body, qq(event: sse_gap\ndata: {"channel":"freed","last_event_id":"2","oldest_id":"7"}\n\n)
        . "id: 8\ndata: live\n\n",
   'a channel whose record was freed: gap as well');
($body) = $now->read_until(qr/data: live\n\n/, 2);
is($body, "id: 7\ndata: live\n\n", 'resuming at the newest id of the channel: no gap');
