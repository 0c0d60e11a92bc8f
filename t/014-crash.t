# A worker killed with SIGKILL: the master's new worker serves, counts are
# corrected, no lock stays held, and reconnecting clients lose nothing.
use lib 't/lib';
use Test::Nginx::SSE;
use JSON::PP;
use IO::Select;
use IO::Socket::INET;

# One request on a kept-alive connection $c (a body of Content-Type
# $type), its response ({status,
# headers, body}; Content-Length bodies only).
sub ka_req {
    my ($c, $method, $uri, $body, $type) = @_;
    $body //= '';
    syswrite($c, "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
             . ($type ? "Content-Type: $type\r\n" : '')
             . "Content-Length: " . length($body) . "\r\n\r\n$body") or return undef;
    my ($raw, $sel) = ('', IO::Select->new($c));
    my $deadline = time + 10 * timeout_factor();
    while (time < $deadline && $sel->can_read(1)) {
        sysread($c, my $buf, 65536) or last;
        $raw .= $buf;
        if ($raw =~ /\AHTTP\/1\.1 (\d+)[^\r\n]*\r\n(.*?)\r\n\r\n/s) {
            my ($st, $head) = ($1, $2);
            my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head;
            my $len = $h{'content-length'} // 0;
            my $start = $+[0];
            return { status => $st, headers => \%h, body => substr($raw, $start, $len) }
                if length($raw) >= $start + $len;
        }
    }
    return undef;
}

# A keep-alive connection that worker $pid does not serve: a stopped
# worker takes its share of new connections (the kernel wakes one waiting
# worker, and it may be the stopped one), so requests made while it is
# stopped go on a connection opened before.
sub conn_not_on {
    my ($pid) = @_;
    for (1 .. 50) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                      Timeout => 5) or next;
        my $r = ka_req($c, 'GET', '/status');
        return $c if $r && ($r->{headers}{'x-worker'} // '') ne $pid;
        close $c;
    }
    return undef;
}

run_tests();

__DATA__

=== TEST 1: SIGKILL a worker with subscribers
--- workers: 2
--- killed_workers
--- http_config
sse_zone zone=ev:2m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; add_header X-Worker $pid; }
}
--- config
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my @s = map { sse_open('/sub?channel=k', undef, port => port2()) } 1..12;
my %by = map { ($_->header('x-worker') => 1) } @s;
my ($victim) = sort keys %by;
my @dead = grep { $_->header('x-worker') eq $victim } @s;
my @live = grep { $_->header('x-worker') ne $victim } @s;
ok(@dead >= 1 && @live >= 1, 'subscribers on both workers: ' . scalar(@dead) . ' + ' . scalar(@live));
http('POST', '/pub?channel=k', "m$_", $h) for 1..5;
sse_pump(\@s, 3, sub { !grep { $_->body !~ /data: m5\n/ } @{$_[0]} });

is(kill('KILL', $victim), 1, "SIGKILL sent to worker $victim");
sse_pump(\@dead, 3, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @dead), scalar(@dead), "the killed worker's streams dropped");

# the worker is really gone and replaced: the master logged its death by
# SIGKILL, and that is the only death it logged
my @after;
for (1..100) {
    @after = worker_pids();
    last if @after == 2 && !grep { $_ == $victim } @after;
    select(undef, undef, undef, 0.05);
}
ok(!grep({ $_ == $victim } @after), "worker $victim is gone");
is(scalar(@after), 2, 'the master started a new one: ' . join(',', @after));
like(error_log_text(), qr/worker process $victim exited on signal 9\b/, 'the master saw it die of SIGKILL');
my @deaths = error_log_text() =~ /(exited on signal \d+)/g;
is(scalar(@deaths), 1, 'no other process died');

# the master starts a new worker; it takes the dead worker's slot back
my $n;
for (1..50) {
    select(undef, undef, undef, 0.1);
    $n = decode_json(http('GET', '/status')->{body})->{subscribers};
    last if $n == @live;
}
is($n, scalar(@live), 'subscriber count corrected');
like(error_log_text(), qr/worker $victim is gone, its \d+ subscribers are no longer counted/, 'logged');

# no lock stays held: publishing works on every worker
my $ok = 0;
for my $i (6..15) {
    my $r = http('POST', '/pub?channel=k', "m$i", $h, port => ($i % 2 ? port() : port2()));
    $r = http('POST', '/pub?channel=k', "m$i", $h) if $r->{status} == 404;
    $ok++ if $r->{status} == 200;
}
is($ok, 10, 'publishes go through');

# the dropped clients reconnect with their Last-Event-ID and lose nothing
my @back = map { sse_open('/sub?channel=k', {'Last-Event-ID' => '5'}, port => port2()) } @dead;
sse_pump([@live, @back], 3, sub { !grep { $_->body !~ /data: m15\n/ } @{$_[0]} });
my $bad = grep { join(',', map { $_->{data} } $_->events) ne join(',', map { "m$_" } 1..15) } @live;
is($bad, 0, 'survivors got m1..m15 once, in order');
$bad = grep { join(',', map { $_->{data} } $_->events) ne join(',', map { "m$_" } 6..15) } @back;
is($bad, 0, 'reconnected clients resumed m6..m15');
--- expect_alert
exited on signal 9
--- no_error_log
[emerg]



=== TEST 2: workers killed again and again while publishing
--- workers: 2
--- killed_workers
--- http_config
sse_zone zone=ev:2m history=1000;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; }
}
--- config
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'application/json'};
my ($sent, @killed) = (0);
for my $round (1..5) {
    for my $i (1..20) {
        my $r = http('POST', '/pub', '[' . join(',', map { qq({"channel":"x$_","data":"d"}) } 1..10) . ']', $h);
        $sent += 10 if $r->{status} == 200;
    }
    # two workers run again (the one killed last round was replaced)
    my @w;
    for (1..100) {
        @w = worker_pids();
        last if @w == 2 && !grep { my $p = $_; grep { $_ == $p } @killed } @w;
        select(undef, undef, undef, 0.05);
    }
    is(scalar(@w), 2, "round $round: two workers");
    my $victim = $w[$round % 2];
    is(kill('KILL', $victim), 1, "round $round: worker $victim killed");
    push @killed, $victim;
    select(undef, undef, undef, 0.2);
}
select(undef, undef, undef, 0.5);
my %dead = map { ($_ => 1) } error_log_text() =~ /worker process (\d+) exited on signal 9\b/g;
is(join(',', sort grep { $dead{$_} } @killed), join(',', sort @killed),
   'the master saw each of the five die of SIGKILL');
my @deaths = error_log_text() =~ /(exited on signal \d+)/g;
is(scalar(@deaths), 5, 'and no other death');
my $r = http('POST', '/pub?channel=after', 'alive', {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'still publishing after five kills');
my $j = decode_json(http('GET', '/status')->{body});
is($j->{published}, $sent + 1, 'every accepted publish counted once');
is($j->{subscribers}, 0, 'no ghost subscribers');
my $s = sse_open('/sub?channel=after', {'Last-Event-ID' => '0'}, port => port2());
my ($body) = $s->read_until(qr/data: alive/, 3);
like($body, qr/data: alive/, 'history intact');
--- expect_alert
exited on signal 9



=== TEST 3: a worker killed before it saw what was published: taking its slot back frees those messages at once
--- workers: 2
--- killed_workers
--- http_config
sse_zone zone=ev:4m history=1 ttl=0;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; add_header X-Worker $pid; }
}
--- config
location /pub { sse_publish; client_max_body_size 1m; client_body_buffer_size 1m; }
location /status { sse_status; add_header X-Worker $pid; }
--- test
my $s = sse_open('/sub?channel=k', undef, port => port2());
my $victim = $s->header('x-worker');
ok($victim, "a subscriber on worker $victim");
my $c = conn_not_on($victim);
ok($c, 'a keep-alive connection on the other worker');
my $used = sub { my $r = ka_req($c, 'GET', '/status'); $r ? decode_json($r->{body})->{shm}{used} : -1 };
my $base = $used->();
# stopped, the worker sees nothing: what is published stays in the pending
# log for it (history=1 keeps one message)
is(kill('STOP', $victim), 1, "worker $victim stopped");
my $big = '[' . join(',', map { qq({"channel":"k","data":"m$_:) . ('x' x 2000) . '"}' } 1 .. 500) . ']';
my $r = ka_req($c, 'POST', '/pub', $big, 'application/json');
is($r && $r->{status}, 200, '500 messages of 2k published');
my $held = $used->();
ok($held > $base + 900_000, "held for the stopped worker: $base -> $held bytes");
is(kill('KILL', $victim), 1, "worker $victim killed");
my @after;
for (1..100) {
    @after = worker_pids();
    last if @after == 2 && !grep { $_ == $victim } @after;
    select(undef, undef, undef, 0.05);
}
is(scalar(grep { $_ != $victim } @after), 2, 'the master started a new worker');
close $c;
$used = sub { decode_json(http('GET', '/status')->{body})->{shm}{used} };
my $now;
for (1..50) {
    $now = $used->();
    last if $now < $base + 100_000;
    select(undef, undef, undef, 0.1);
}
ok($now < $base + 100_000, "freed when its slot was taken back, nothing published since: $held -> $now bytes (before: $base)");
like(error_log_text(), qr/worker $victim is gone, its 1 subscribers are no longer counted/, 'the slot was taken back');
--- expect_alert
exited on signal 9
--- no_error_log
[emerg]
