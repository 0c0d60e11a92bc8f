# redis= on sse_zone: two nginx servers sharing channels through one Redis.
#
# The file starts its own redis-server on a free 127.0.0.1 port (so that it
# can stop and restart it) and exports TEST_NGINX_REDIS_PORT; without
# redis-server (SSE_REDIS_SERVER, or redis-server in PATH), or when it does
# not start, the file fails, and so do the blocks that need it (their
# placeholder is not set): make test installs it.  Each block runs the
# harness's nginx (server A) and starts a second one itself (server B, two
# workers), stopped at the end of the block in every case.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::ServerB;
use Test::Nginx::SSE::Redis;
use JSON::PP;
use File::Path ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

sub tp { return {'Content-Type' => 'text/plain'} }

sub ids { join ',', map { $_->{id} // '-' } grep { defined $_->{id} } $_[0]->events }
sub datas { join ',', map { $_->{data} } grep { defined $_->{id} } $_[0]->events }

# the file's redis-server: $TEST_NGINX_REDIS_PORT (a failure, not a skip,
# when there is none)
redis_setup();

# every block uses a zone of its own: keys never meet

run_tests();

__DATA__

=== TEST 1: redis= with another scheme
--- http_config
sse_zone zone=ev:1m redis=http://127.0.0.1:6379;
--- config
--- must_die
--- error_log
invalid redis URL "redis=http://127.0.0.1:6379" in sse_zone, use redis://host:port[/db]



=== TEST 2: redis= with a bad port
--- http_config
sse_zone zone=ev:1m redis=redis://127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid port in redis URL "redis=redis://127.0.0.1:99999" in sse_zone



=== TEST 3: redis= with a bad database
--- http_config
sse_zone zone=ev:1m redis=redis://127.0.0.1:6379/x;
--- config
--- must_die
--- error_log
invalid database number in redis URL "redis=redis://127.0.0.1:6379/x" in sse_zone



=== TEST 4: redis= with a user but no password
--- http_config
sse_zone zone=ev:1m redis=redis://u@127.0.0.1:6379;
--- config
--- must_die
--- error_log
a user without a password in redis URL "redis=redis://u@127.0.0.1:6379" in sse_zone



=== TEST 5: cross-server delivery in one id space, counts of both servers
--- http_config
sse_zone zone=ev5:1m redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT/2;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=ev5:1m redis=redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}/2;",
                config => 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected (2 workers)');

my @a = map { sse_open('/sub?channel=news') } 1..2;
my @bs = map { sse_open('/sub?channel=news', undef, port => $b->{port}) } 1..3;
Time::HiRes::sleep(0.6 * timeout_factor());    # counts reach Redis

my $r = http('POST', '/pub?channel=news', 'one', tp());
is($r->{status}, 200, 'publish on A');
is_deeply(decode_json($r->{body}), {id => '1', channel => 'news', subscribers => 5},
          'the reply counts the subscribers of both servers');

$r = http('POST', '/pub?channel=news', 'two', tp(), port => $b->{port});
is_deeply(decode_json($r->{body}), {id => '2', channel => 'news', subscribers => 5},
          'publish on B: the next id');

$r = http('POST', '/pub', '[{"channel":["news","other"],"data":"three"},{"channel":"news","data":"four"}]',
          {'Content-Type' => 'application/json'});
is($r->{body}, '[{"id":"3","channel":"news","subscribers":5},{"id":"4","channel":"other","subscribers":0},'
             . '{"id":"5","channel":"news","subscribers":5}]', 'a batch on A');

sse_pump([@a, @bs], 5, sub { !grep { $_->body !~ /data: four\n/ } @{$_[0]} });
for my $s (@a, @bs) {
    is(ids($s) . ' ' . datas($s), '1,2,3,5 one,two,three,four', 'every subscriber: every message in id order');
}

$r = http('GET', '/pub?channel=news', undef, undef, port => $b->{port});
is_deeply(decode_json($r->{body}), {channel => 'news', subscribers => 5, messages => 4, last_event_id => '5'},
          'GET on B: its mirror and the subscribers of both');

$_->close for @a;
Time::HiRes::sleep(0.6 * timeout_factor());
$r = http('GET', '/pub?channel=news', undef, undef, port => $b->{port});
is(decode_json($r->{body})->{subscribers}, 3, 'A\'s subscribers left: counted no more');
$r = http('GET', '/pub?channel=none');
is($r->{status}, 404, 'unknown channel: 404');
$b->stop;
unlike($b->log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'B: no alert');
--- no_error_log
[alert]
[crit]



=== TEST 6: Last-Event-ID on B for messages published on A; sse_gap as on one server
--- http_config
sse_zone zone=ev6:1m history=3 redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=ev6:1m history=3 redis=redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};",
                config => 'location /sub { sse_subscribe; sse_keepalive off; sse_replay 2; }');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected');

for my $i (1..6) {
    is(http('POST', '/pub?channel=r', "m$i", tp())->{status}, 200, "publish m$i on A");
}
Time::HiRes::sleep(0.3 * timeout_factor());

my $s = sse_open('/sub?channel=r', {'Last-Event-ID' => '4'}, port => $b->{port});
$s->read_until(qr/data: m6\n/, 3);
is(ids($s), '5,6', 'resume on B after id 4');
is(scalar(grep { ($_->{event} // '') eq 'sse_gap' } $s->events), 0, 'no gap');

$s = sse_open('/sub?channel=r', {'Last-Event-ID' => '1'}, port => $b->{port});
$s->read_until(qr/data: m6\n/, 3);
my ($gap) = grep { ($_->{event} // '') eq 'sse_gap' } $s->events;
is_deeply($gap && decode_json($gap->{data}), {channel => 'r', last_event_id => '1', oldest_id => '4'},
          'sse_gap: messages after id 1 are gone');
is(ids($s), '4,5,6', 'then what is kept');

$s = sse_open('/sub?channel=r', undef, port => $b->{port});
$s->read_until(qr/data: m6\n/, 3);
is(ids($s), '5,6', 'sse_replay on B');
--- no_error_log
[alert]



=== TEST 7: DELETE on A ends the streams on B
--- http_config
sse_zone zone=ev7:1m redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=ev7:1m redis=redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};",
                config => 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected');

my @s = map { sse_open('/sub?channel=gone', undef, port => $b->{port}) } 1..2;
my $keep = sse_open('/sub?channel=kept', undef, port => $b->{port});
Time::HiRes::sleep(0.6 * timeout_factor());
http('POST', '/pub?channel=gone', 'before', tp());

my $r = http('DELETE', '/pub?channel=gone');
is($r->{status}, 200, 'DELETE on A');
is_deeply(decode_json($r->{body}), {channel => 'gone', deleted => JSON::PP::true, subscribers => 2},
          'counts the subscribers on B');
sse_pump(\@s, 5, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @s), 2, "B's streams of the channel ended");
is(datas($s[0]), 'before', 'after what they held');
ok(!$keep->closed, 'another channel stays');

Time::HiRes::sleep(0.3 * timeout_factor());
is(http('GET', '/pub?channel=gone', undef, undef, port => $b->{port})->{status}, 404, 'gone on B');
is(http('DELETE', '/pub?channel=nothing')->{status}, 404, 'DELETE of an unknown channel: 404');

$r = http('POST', '/pub?channel=gone', 'again', tp(), port => $b->{port});
is(decode_json($r->{body})->{id}, '3', 'the delete took an id: one id space');
--- no_error_log
[alert]



=== TEST 8: Redis stopped: 503 at once, streams stay; restarted: everything recovers
--- http_config
sse_zone zone=ev8:1m redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=ev8:1m redis=redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};",
                config => 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected');

my $sa = sse_open('/sub?channel=f');
my $sb = sse_open('/sub?channel=f', undef, port => $b->{port});
Time::HiRes::sleep(0.3 * timeout_factor());
http('POST', '/pub?channel=f', "m$_", tp()) for 1..3;
sse_pump([$sa, $sb], 3, sub { !grep { $_->body !~ /data: m3\n/ } @{$_[0]} });

redis_stop();
ok(wait_log(\&error_log_text, qr/redis \S+ lost/, 1), 'A logged the loss');

my $t0 = Time::HiRes::time();
my $r = http('POST', '/pub?channel=f', 'down', tp());
my $took = Time::HiRes::time() - $t0;
is($r->{status}, 503, 'publish: 503');
is($r->{body}, '{"error":"redis unavailable","status":503}', 'JSON error');
ok($took < 0.5 * timeout_factor(), sprintf('at once (%.3f s)', $took));
is(http('POST', '/pub?channel=f', 'down', tp(), port => $b->{port})->{status}, 503, '503 on B too');
is(http('GET', '/pub?channel=f')->{status}, 503, 'GET: 503');

Time::HiRes::sleep(1.5 * timeout_factor());    # several retries
sse_pump([$sa, $sb], 0.2);
ok(!$sa->closed && !$sb->closed, 'subscribers stay connected');

ok(redis_start(), 'Redis restarted on the same port (empty)');
ok(wait_log(\&error_log_text, qr/redis \S+ reconnected/, 1, 15), 'A reconnected');
ok(wait_log(sub { $b->log }, qr/redis \S+ reconnected/, 2, 15), 'B reconnected');

$r = http('POST', '/pub?channel=f', 'm4', tp());
is($r->{status}, 200, 'publish works again');
cmp_ok(decode_json($r->{body})->{id}, '>', 3, 'ids go on after what the servers saw');
http('POST', '/pub?channel=f', 'm5', tp(), port => $b->{port});
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: m5\n/ } @{$_[0]} });
is(datas($sa), 'm1,m2,m3,m4,m5', 'A: every message, once, in order');
is(datas($sb), 'm1,m2,m3,m4,m5', 'B: every message, once, in order');

my $log = error_log_text();
my @lost = $log =~ /redis \S+ lost/g;
my @unavail = $log =~ /redis \S+ unavailable/g;
is(scalar(@lost) + scalar(@unavail), 1, 'one line for the loss, none per retry');
--- no_error_log
[alert]



=== TEST 9: one server cut off: on reconnection it catches up from the log
--- http_config
sse_zone zone=ev9:1m redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $pport = Test::Nginx::SSE::_free_port();
my $proxy = start_proxy($pport, $main::REDIS_PORT);
my $b = start_b(http => "sse_zone zone=ev9:1m redis=redis://127.0.0.1:$pport;",
                config => 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected through the relay');

my $sb = sse_open('/sub?channel=c', undef, port => $b->{port});
Time::HiRes::sleep(0.3 * timeout_factor());
http('POST', '/pub?channel=c', "m$_", tp()) for 1..2;
$sb->read_until(qr/data: m2\n/, 3);

kill 'KILL', $proxy;
waitpid($proxy, 0);
ok(wait_log(sub { $b->log }, qr/redis \S+ lost/, 1), 'B lost Redis');

for my $i (3..6) {
    is(http('POST', '/pub?channel=c', "m$i", tp())->{status}, 200, "m$i published on A meanwhile");
}
is(http('POST', '/pub?channel=c', 'x', tp(), port => $b->{port})->{status}, 503, 'B: 503');
sse_pump([$sb], 0.5);
ok(!$sb->closed, "B's subscriber stays");

$proxy = start_proxy($pport, $main::REDIS_PORT);
ok(wait_log(sub { $b->log }, qr/redis \S+ reconnected/, 2, 15), 'B reconnected (both workers)');
$sb->read_until(qr/data: m6\n/, 5);
is(datas($sb), 'm1,m2,m3,m4,m5,m6', 'what A published meanwhile arrived, in order');
is(http('POST', '/pub?channel=c', 'm7', tp(), port => $b->{port})->{status}, 200, 'B publishes again');
$sb->read_until(qr/data: m7\n/, 3);
is(ids($sb), '1,2,3,4,5,6,7', 'one id space');
kill 'KILL', $proxy;
waitpid($proxy, 0);
--- no_error_log
[alert]
