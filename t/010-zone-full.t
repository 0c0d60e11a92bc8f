# A full zone: 507, logged at most once a minute, nothing half-written, and
# the zone recovers after a DELETE or once messages expire.
use lib 't/lib';
use Test::Nginx::SSE;

sub big () { 'x' x 8192 }
sub full_json () { '{"error":"sse_zone \"small\" is full","status":507}' }

# Publishes 8k raw messages on $channel until one is refused; returns
# (number accepted, the refusing response).
sub fill {
    my ($channel) = @_;
    my ($n, $r) = (0);
    for (1..64) {
        $r = http('POST', "/pub?channel=$channel", big(), {'Content-Type' => 'text/plain'});
        last unless $r->{status} == 200;
        $n++;
    }
    return ($n, $r);
}

sub full_lines {
    my @l = error_log_text() =~ /sse_zone "small" is full/g;
    return scalar @l;
}

run_tests();

__DATA__

=== TEST 1: the smallest zone fills up: 507 JSON, logged once, the server keeps serving
--- http_config
sse_zone zone=small:128k ttl=0 history=100000;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; sse_max_message_size 16k; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $s = sse_open('/sub?channel=watch');
my $r = http('POST', '/pub?channel=watch', 'before', $h);
is($r->{body}, '{"id":"1","channel":"watch","subscribers":1}', 'published before');
my ($n, $full) = fill('x');
cmp_ok($n, ">=", 2, "some 8k messages fit ($n)");
is($full->{status}, 507, 'then 507');
is($full->{body}, full_json(), 'with the JSON error');
like($full->{headers}{'content-type'}, qr{^application/json}, 'application/json');
for (1..4) {
    $r = http('POST', '/pub?channel=x', big(), $h);
    is($r->{status}, 507, "still full ($_)");
}
$r = http('GET', '/pub?channel=x');
is($r->{body}, sprintf('{"channel":"x","subscribers":0,"messages":%d,"last_event_id":"%d"}', $n, $n + 1),
   'the refused publishes left nothing');
is(full_lines(), 1, 'logged once for five refusals');
($s->read_until(qr/data: before\n\n/, 2))[1] or fail('subscriber got the first event');
ok(!$s->closed, 'the subscriber is still connected');
like(error_log_text(), qr/\[error\] .*sse_zone "small" is full even after dropping expired messages/, 'logged at error level');
--- no_error_log
[alert]
[crit]
[emerg]
exited on signal



=== TEST 2: a batch that does not fit publishes nothing, not even a new channel; ids are not used up
--- http_config
sse_zone zone=small:128k ttl=0 history=100000;
--- config
location /pub { sse_publish; sse_max_message_size 16k; }
--- test
my $j = {'Content-Type' => 'application/json'};
my ($n, $full) = fill('x');
is($full->{status}, 507, "full after $n messages");
my $before = http('GET', '/pub?channel=x')->{body};
like($before, qr/"messages":$n,"last_event_id":"$n"/, 'x before');

my $batch = qq([{"channel":"x","data":"small 1"},{"channel":"fresh","data":"small 2"},)
          . qq({"channel":"x","data":"${\big()}"}]);
my $r = http('POST', '/pub', $batch, $j);
is($r->{status}, 507, 'batch: 507');
is($r->{body}, full_json(), 'batch: JSON error');
is(http('GET', '/pub?channel=x')->{body}, $before, 'x unchanged after the batch');
is(http('GET', '/pub?channel=fresh')->{status}, 404, 'the new channel of the batch was not created');

$r = http('POST', '/pub', qq({"channel":["y","x"],"data":"${\big()}"}), $j);
is($r->{status}, 507, 'one message on two channels: 507');
is(http('GET', '/pub?channel=x')->{body}, $before, 'x unchanged');
is(http('GET', '/pub?channel=y')->{status}, 404, 'y not created');

# a small message alone still fits: the batch above was refused as a whole
$r = http('POST', '/pub', '{"channel":"x","data":"small 1"}', $j);
is($r->{body}, sprintf('{"id":"%d","channel":"x","subscribers":0}', $n + 1),
   'a small message fits, with the next id: the refused ones used none');
is(full_lines(), 1, 'logged once');
--- no_error_log
[alert]
[crit]



=== TEST 3: DELETE of the channel frees the zone; a subscriber elsewhere keeps receiving
--- http_config
sse_zone zone=small:128k ttl=0 history=100000;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; sse_max_message_size 16k; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $s = sse_open('/sub?channel=watch');
http('POST', '/pub?channel=watch', 'w1', $h);
my ($n, $full) = fill('x');
is($full->{status}, 507, "full after $n messages");
is(http('POST', '/pub?channel=x', big(), $h)->{status}, 507, 'still full');
my $r = http('DELETE', '/pub?channel=x');
is($r->{status}, 200, 'DELETE in a full zone: 200');
is($r->{body}, '{"channel":"x","deleted":true,"subscribers":0}', 'DELETE reply');
is(http('GET', '/pub?channel=x')->{status}, 404, 'x is gone');
my ($m) = fill('x');
cmp_ok($m, '>=', $n, "as many 8k messages fit again ($m)");
http('DELETE', '/pub?channel=x');
$r = http('POST', '/pub?channel=watch', 'w2', $h);
is($r->{status}, 200, 'publish after the DELETE');
my ($body, $ok) = $s->read_until(qr/data: w2\n\n/, 3);
ok($ok, 'the subscriber keeps receiving');
is(join(' ', map { $_->{data} } $s->events), 'w1 w2', 'exactly its two events');
ok(!$s->closed, 'and is still connected');
is(full_lines(), 1, 'logged once for both fills');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 4: ttl=1s: the zone recovers by itself once messages expire (2 workers)
--- workers: 2
--- http_config
sse_zone zone=small:128k ttl=1s history=100000;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /pub { sse_publish; sse_max_message_size 16k; add_header X-Worker $pid always; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; sse_max_message_size 16k; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $s = sse_open('/sub?channel=x');
my ($n, $full) = fill('x');
is($full->{status}, 507, "full after $n messages");
is($full->{body}, full_json(), 'JSON error');
# refused by both workers: reuseport spreads the connections over them
my ($refused, $other, %workers) = (0, 0);
for (1..40) {
    my $r = http('POST', '/pub?channel=x', big(), $h, port => port2());
    if ($r->{status} == 507) { $refused++; $workers{ $r->{headers}{'x-worker'} } = 1 }
    else { $other++ }
    last if keys %workers >= 2 && $refused >= 6;
}
is($other, 0, 'every publish refused while nothing has expired');
is(scalar(keys %workers), 2, "refused by both workers ($refused refusals)");
($s->read_until(qr/id: $n\n/, 3))[1] or fail("subscriber got the $n accepted messages");
select(undef, undef, undef, 1.3);
my $r = http('POST', '/pub?channel=x', 'after expiry', $h);
is($r->{status}, 200, 'publish succeeds once the messages expired');
is($r->{body}, sprintf('{"id":"%d","channel":"x","subscribers":1}', $n + 1),
   'with the next id');
$r = http('GET', '/pub?channel=x');
like($r->{body}, qr/"messages":1,/, 'the expired messages were dropped');
my ($m) = fill('x');
cmp_ok($m, '>=', $n - 1, "the zone holds 8k messages again ($m)");
my ($body, $ok) = $s->read_until(qr/id: ${\($n + 1 + $m)}\n/, 3);
ok($ok, 'the subscriber received everything after the recovery');
is(join(',', map { $_->{id} } $s->events), join(',', 1 .. $n + 1 + $m),
   'every accepted message once, in order, nothing from the refused ones');
ok(!$s->closed, 'still connected');
is(full_lines(), 1, 'logged once across workers and fills');
--- no_error_log
[alert]
[crit]
exited on signal
