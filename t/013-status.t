# sse_status: JSON and Prometheus figures, right across workers and reloads.
use lib 't/lib';
use Test::Nginx::SSE;
use JSON::PP;

run_tests();

__DATA__

=== TEST 1: the JSON figures
--- http_config
sse_zone zone=events:1m history=2;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my @s = map { sse_open("/sub?channel=c$_") } 1..3;
my $h = {'Content-Type' => 'text/plain'};
http('POST', "/pub?channel=c1", "m$_", $h) for 1..4;
http('POST', "/pub?channel=other", "x", $h);
$s[0]->read_until(qr/data: m4/, 2);
my $r = http('GET', '/status');
is($r->{status}, 200, '200');
is($r->{headers}{'content-type'}, 'application/json', 'JSON');
like($r->{body}, qr/^\{"zone":"events","channels":4,"subscribers":3,"messages":3,"published":5,"delivered":4,"shm":\{"size":1048576,"used":\d+\},"workers":1\}$/,
     'exactly the SPEC fields');
my $j = decode_json($r->{body});
ok($j->{shm}{used} > 0 && $j->{shm}{used} < $j->{shm}{size}, 'used is within size');



=== TEST 2: Prometheus text, by argument or by Accept
--- http_config
sse_zone zone=events:1m;
--- config
location /status { sse_status; }
location /pub { sse_publish; }
--- test
http('POST', '/pub?channel=a', 'x', {'Content-Type' => 'text/plain'});
for my $way (['?format=prometheus', {}], ['', {'Accept' => 'text/plain'}]) {
    my $r = http('GET', "/status$way->[0]", undef, $way->[1]);
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4$}, "type ($way->[0])");
    like($r->{body}, qr/^# HELP sse_subscribers .*\n# TYPE sse_subscribers gauge\nsse_subscribers\{zone="events"\} 0$/m,
         'HELP, TYPE and a zone label');
    like($r->{body}, qr/^sse_published_total\{zone="events"\} 1$/m, 'counter');
    for my $m (qw(sse_channels sse_messages sse_delivered_total sse_shm_size_bytes sse_shm_used_bytes sse_workers)) {
        like($r->{body}, qr/^# TYPE $m (gauge|counter)\n$m\{zone="events"\} \d+$/m, $m);
    }
}
my $r = http('GET', '/status', undef, {'Accept' => 'application/json, text/plain'});
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON when JSON is acceptable');
$r = http('GET', '/status?format=json', undef, {'Accept' => 'text/plain'});
like($r->{headers}{'content-type'}, qr{^application/json}, 'format=json wins');



=== TEST 3: API key and methods
--- http_config
sse_zone zone=events:1m;
--- config
location /status { sse_status zone=events; sse_api_key mon-key; }
--- test
is(http('GET', '/status')->{status}, 401, 'key required');
is(http('GET', '/status', undef, {'X-API-Key' => 'mon-key'})->{status}, 200, 'with the key');
my $r = http('POST', '/status', 'x', {'X-API-Key' => 'mon-key'});
is($r->{status}, 405, 'POST');
is($r->{body}, '{"error":"method not allowed: read the status with GET","status":405}', 'JSON');
is(http('HEAD', '/status', undef, {'X-API-Key' => 'mon-key'})->{status}, 200, 'HEAD, as a health check');



=== TEST 4: figures across 2 workers and a reload
--- workers: 2
--- http_config
sse_zone zone=events:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; }
}
--- config
location /status { sse_status; }
location /pub { sse_publish; }
--- test
my @s = map { sse_open('/sub?channel=w', undef, port => port2()) } 1..8;
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=w', "m$_", $h) for 1..5;
sse_pump(\@s, 3, sub { !grep { $_->body !~ /data: m5/ } @{$_[0]} });
my $j = decode_json(http('GET', '/status')->{body});
is($j->{subscribers}, 8, 'subscribers of both workers');
is($j->{workers}, 2, 'two workers');
is($j->{published}, 5, 'published');
is($j->{delivered}, 40, 'delivered: 8 x 5');
nginx_reload();
sse_pump(\@s, 3, sub { !grep { !$_->closed } @{$_[0]} });
select(undef, undef, undef, 0.5);
$j = decode_json(http('GET', '/status')->{body});
is($j->{subscribers}, 0, 'old streams ended, none counted');
is($j->{published}, 5, 'counters survive the reload');
is($j->{delivered}, 40, 'delivered too');
is($j->{messages}, 5, 'and the history');



=== TEST 5: several zones need zone=
--- http_config
sse_zone zone=a:1m;
sse_zone zone=b:1m;
--- config
location /status { sse_status; }
--- must_die
--- error_log
"sse_status" needs "zone=": 2 sse_zone are declared



=== TEST 6: status of the second zone
--- http_config
sse_zone zone=a:1m;
sse_zone zone=b:2m;
--- config
location /status { sse_status zone=b; }
--- request
GET /status
--- response_body_like: ^\{"zone":"b","channels":0,"subscribers":0,"messages":0,"published":0,"delivered":0,"shm":\{"size":2097152,"used":\d+\},"workers":1\}$



=== TEST 7: a zone name is escaped, in the JSON and in the Prometheus label
--- http_config
sse_zone "zone=q\"z\\w:1m";
--- config
location /status { sse_status; }
--- test
require JSON::PP;
my $r = http('GET', '/status');
is($r->{status}, 200, 'status');
my $json = eval { JSON::PP::decode_json($r->{body}) };
ok($json, 'the reply is JSON') or diag($r->{body});
is($json && $json->{zone}, 'q"z\\w', 'the zone name, whole');
$r = http('GET', '/status?format=prometheus');
like($r->{body}, qr/^sse_channels\{zone="q\\"z\\\\w"\} 0$/m, 'label value escaped');
