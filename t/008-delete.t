# DELETE on a publisher location: removes the channel and its messages and
# ends its subscribers' streams, on every worker.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: DELETE of an unknown channel
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
DELETE /pub?channel=nobody
--- error_code: 404
--- response_body chomp
{"error":"unknown channel","status":404}



=== TEST 2: DELETE removes the channel and its messages
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=d', "m$_", $h) for 1..3;
my $r = http('DELETE', '/pub?channel=d');
is($r->{status}, 200, 'deleted');
is($r->{body}, '{"channel":"d","deleted":true,"subscribers":0}', 'reply');
$r = http('GET', '/pub?channel=d');
is($r->{status}, 404, 'gone');
$r = http('POST', '/pub?channel=d', 'again', $h);
like($r->{body}, qr/^\{"id":"\d+","channel":"d","subscribers":0\}$/, 'can be used again');
$r = http('GET', '/pub?channel=d');
like($r->{body}, qr/"messages":1,/, 'a fresh channel with one message');



=== TEST 3: DELETE ends the subscribers' streams after what they hold
--- workers: 2
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; }
}
--- config
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my @s = map { sse_open('/sub?channel=gone', undef, port => port2()) } 1..6;
my $other = sse_open('/sub?channel=stays', undef, port => port2());
http('POST', '/pub?channel=gone', 'last words', $h);
my $r = http('DELETE', '/pub?channel=gone');
is($r->{body}, '{"channel":"gone","deleted":true,"subscribers":6}', 'six subscribers reported');
sse_pump(\@s, 3, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @s), 6, 'all six streams ended');
is(scalar(grep { $_->body eq "id: 1\ndata: last words\n\n" } @s), 6,
   'each got the message published before the delete');
ok(!$other->closed, 'other channels untouched');
http('POST', '/pub?channel=stays', 'still here', $h);
my ($body) = $other->read_until(qr/still here/, 2);
like($body, qr/data: still here/, 'other channel still delivers');
$r = http('GET', '/pub?channel=gone');
is($r->{status}, 404, 'no trace left');



=== TEST 4: a subscriber of several channels ends when one is deleted
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=a,b');
my $r = http('DELETE', '/pub?channel=b');
is($r->{body}, '{"channel":"b","deleted":true,"subscribers":1}', 'deleted');
$s->read_until(qr/never/, 2);
ok($s->closed, 'stream ended');
$r = http('GET', '/pub?channel=a');
is($r->{status}, 404, 'a freed too: no subscriber, no message');



=== TEST 5: resuming on a deleted channel signals a gap
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=x', "m$_", $h) for 1..3;
http('DELETE', '/pub?channel=x');
my $s = sse_open('/sub?channel=x', {'Last-Event-ID' => '1'});
my ($body) = $s->read_until(qr/\n\n/, 2);
like($body, qr/^event: sse_gap\ndata: \{"channel":"x","last_event_id":"1","oldest_id":"\d+"\}\n\n$/,
     'the client learns it must refetch');



=== TEST 6: DELETE with an invalid channel name
--- http_config
sse_zone zone=ev:1m;
--- config
location /pub { sse_publish; }
--- request
DELETE /pub?channel=a%0Ab
--- error_code: 400
--- response_body chomp
{"error":"invalid channel name","status":400}
--- no_error_log
[alert]
