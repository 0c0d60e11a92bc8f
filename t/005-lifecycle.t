# Reloads and shutdowns with subscribers connected.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: reload keeps history and ids; old streams end after their events
--- workers: 2
--- http_config
sse_zone zone=ev:2m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @subs = map { sse_open('/sub?channel=r') } 1..4;
my $h = {'Content-Type' => 'text/plain'};
http('POST', '/pub?channel=r', "m$_", $h) for 1..5;
sse_pump(\@subs, 3, sub { !grep { $_->body !~ /data: m5\n/ } @{$_[0]} });
my @new = nginx_reload();
ok(scalar(@new) >= 2, 'new workers started');
sse_pump(\@subs, 3, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @subs), 4, 'old streams ended');
my $bad = grep { join(',', map { $_->{id} } $_->events) ne '1,2,3,4,5' } @subs;
is($bad, 0, 'each had received everything before the end');
my $r = http('GET', '/pub?channel=r');
like($r->{body}, qr/"messages":5,"last_event_id":"5"/, 'history survived');
my $s = sse_open('/sub?channel=r');
$r = http('POST', '/pub?channel=r', 'after', $h);
like($r->{body}, qr/"id":"6"/, 'ids go on');
my ($body) = $s->read_until(qr/data: after/, 3);
like($body, qr/id: 6\ndata: after\n\n/, 'new worker delivers');
--- no_error_log
[alert]
[crit]



=== TEST 2: graceful quit ends streams at once
--- workers: 2
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
--- test
use Time::HiRes qw(time);
my @subs = map { sse_open('/sub?channel=q') } 1..4;
my $t0 = time;
nginx_signal('QUIT');
sse_pump(\@subs, 5, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @subs), 4, 'all ended');
cmp_ok(time - $t0, '<', 2 * timeout_factor(), 'promptly, not at worker_shutdown_timeout');
--- no_error_log
[alert]
open socket



=== TEST 3: subscribers counted per worker are released on worker exit
--- workers: 2
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
my @subs = map { sse_open('/sub?channel=k') } 1..3;
my $r = http('GET', '/pub?channel=k');
like($r->{body}, qr/"subscribers":3,/, 'three');
nginx_reload();
sse_pump(\@subs, 3, sub { !grep { !$_->closed } @{$_[0]} });
select(undef, undef, undef, 0.3);
$r = http('GET', '/pub?channel=k');
is($r->{status}, 404, 'no subscribers and no messages: the channel is gone');
