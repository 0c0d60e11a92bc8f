# Delivery across workers: a publish on any worker reaches every subscriber
# on every worker, once, in id order.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: 24 subscribers over 4 workers, 60 publishes on any worker
--- workers: 4
--- http_config
sse_zone zone=ev:4m;
server {
    # reuseport: the kernel spreads connections over the workers
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; add_header X-Worker $pid; }
}
--- config
location /pub { sse_publish; add_header X-Worker $pid always; }
--- test
use Time::HiRes qw(time sleep);
my @subs = map { sse_open('/sub?channel=fan', undef, port => port2()) } 1..24;
is(scalar(grep { $_->status == 200 } @subs), 24, 'all 24 streams open');
my %workers = map { ($_->header('x-worker') => 1) } @subs;
cmp_ok(scalar(keys %workers), '>=', 3, 'subscribers spread over workers: '
       . join(',', sort keys %workers));
my $r = http('GET', '/pub?channel=fan');
like($r->{body}, qr/"subscribers":24,/, 'counted across workers');

my (%pub_workers, @lat);
for my $i (1..60) {
    my $t0 = time;
    $r = http('POST', '/pub?channel=fan', "msg $i t=$t0",
              {'Content-Type' => 'text/plain'});
    $pub_workers{$r->{headers}{'x-worker'}}++;
    # wait until every subscriber has it, to measure the fan-out latency
    sse_pump(\@subs, 3, sub {
        !grep { $_->body !~ /data: msg $i t=/ } @{$_[0]};
    });
    push @lat, time - $t0;
    sleep 0.005;
}
cmp_ok(scalar(keys %pub_workers), '>=', 2, 'publishes hit several workers');

my $bad = 0;
for my $s (@subs) {
    my @ids = map { $_->{id} } $s->events;
    $bad++ unless join(',', @ids) eq join(',', 1..60);
}
is($bad, 0, 'every subscriber got ids 1..60 once, in order');

@lat = sort { $a <=> $b } @lat;
diag(sprintf("fan-out to 24 subscribers on 4 workers: p50 %.2f ms, max %.2f ms",
             1000 * $lat[@lat / 2], 1000 * $lat[-1]));
cmp_ok($lat[-1], '<', 2 * timeout_factor(), 'each publish reached everyone');



=== TEST 2: a burst of 500 publishes in one batch, 2 workers
--- workers: 2
--- http_config
sse_zone zone=ev:8m history=1000;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; }
}
--- config
location /pub { sse_publish; }
--- test
my @subs = map { sse_open('/sub?channel=burst', undef, port => port2()) } 1..6;
my $batch = '[' . join(',', map { qq({"channel":"burst","data":"b$_"}) } 1..500) . ']';
my $r = http('POST', '/pub', $batch, {'Content-Type' => 'application/json'});
is($r->{status}, 200, 'batch accepted');
sse_pump(\@subs, 5, sub { !grep { $_->body !~ /data: b500\n/ } @{$_[0]} });
my $bad = 0;
for my $s (@subs) {
    my @d = map { $_->{data} } $s->events;
    $bad++ unless join(',', @d) eq join(',', map { "b$_" } 1..500);
}
is($bad, 0, 'all six got the 500 messages in order');



=== TEST 3: many channels, many subscribers, single process
--- http_config
sse_zone zone=ev:4m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @subs = map { sse_open("/sub?channel=c$_,all") } 1..20;
for my $i (1..20) {
    http('POST', "/pub?channel=c$i", "only $i", {'Content-Type' => 'text/plain'});
}
http('POST', '/pub?channel=all', 'everyone', {'Content-Type' => 'text/plain'});
sse_pump(\@subs, 3, sub { !grep { $_->body !~ /everyone/ } @{$_[0]} });
my $bad = 0;
for my $i (1..20) {
    my @d = map { $_->{data} } $subs[$i - 1]->events;
    $bad++ unless "@d" eq "only $i everyone";
}
is($bad, 0, 'each got its own channel and the shared one');



=== TEST 4: reloads move the workers' slots up and back down: every slot in use is still scanned (delivery on every worker, status counts them)
--- workers: 2
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; add_header X-Worker $pid; }
}
--- config
location /pub { sse_publish; }
location /status { sse_status; }
--- test
use JSON::PP;
my $h = {'Content-Type' => 'text/plain'};
for my $round (1..3) {
    # the new workers take free slots while the old ones still hold theirs
    # (slots 2 and 3 after the first reload, 0 and 1 after the second)
    my @subs = map { sse_open('/sub?channel=r', undef, port => port2()) } 1..12;
    is(scalar(grep { $_->status == 200 } @subs), 12, "round $round: 12 streams open");
    my %w = map { ($_->header('x-worker') => 1) } @subs;
    is(scalar(keys %w), 2, "round $round: on both workers");
    http('POST', '/pub?channel=r', "m$round", $h);
    sse_pump(\@subs, 3, sub { !grep { $_->body !~ /data: m$round\n/ } @{$_[0]} });
    is(scalar(grep { $_->body =~ /data: m$round\n/ } @subs), 12,
       "round $round: every subscriber got the message");
    is(decode_json(http('GET', '/status')->{body})->{workers}, 2,
       "round $round: two workers counted");
    last if $round == 3;
    ok(scalar(nginx_reload()), "round $round: reloaded");
    sse_pump(\@subs, 3, sub { !grep { !$_->closed } @{$_[0]} });
    # the old workers have left their slots
    my $deadline = time + 3 * timeout_factor();
    while (time < $deadline
           && decode_json(http('GET', '/status')->{body})->{workers} != 2) {
        select(undef, undef, undef, 0.05);
    }
}
--- no_error_log
[alert]
[crit]
