# redis= with credentials and TLS: AUTH with a password or an ACL user,
# rediss:// with certificate and host name checks, client certificates,
# what a browser and the log see when Redis refuses, recovery without a
# restart, and nginx -t on malformed URLs and missing files.
#
# The file makes its own CA and certificates with openssl and starts its own
# redis-servers on free 127.0.0.1 ports (SSE_REDIS_SERVER, or redis-server
# in PATH; redis-cli beside it talks to them).  Without them the file fails:
# a missing redis-server is a failure, not a skip.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::ServerB;
use JSON::PP;
use File::Path ();
use Test::Nginx::SSE::Redis;

# the second nginx, two workers, same module; stopped when the object goes

sub tp { return {'Content-Type' => 'text/plain'} }

sub datas { join ',', map { $_->{data} } grep { defined $_->{id} } $_[0]->events }

# lines of the log matching $re
sub count_log { my ($text, $re) = @_; my @m = ($text =~ /$re/g); return scalar @m }

our $LOC = 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }';

delete $ENV{$_} for grep { /^TEST_NGINX_(REDIS|CERTS)/ } keys %ENV;

if (!redis_bins()) {
    ok(0, 'redis-server and redis-cli found');
    diag('redis-server or redis-cli not found: scripts/deps.sh redis (make test) installs them');
} else {
    my $certs = redis_dir('redis-tls');
    $ENV{TEST_NGINX_CERTS} = $certs;
    my %start = (
        # a password with characters that the URL percent-encodes, and an
        # ACL user
        PASS => [pass => 's3cr@t/x',
                 args => ['--user', 'alice', 'on', '>won:der', '~*', '&*', '+@all']],
        # its password changes during a test
        AUTH => [pass => 'old'],
        # on IPv6 too, for rediss://[::1]
        TLS => [tls => 1, bind => '127.0.0.1 ::1'],
        OTHER => [tls => 1, cert => 'other', bind => '127.0.0.1 ::1'],
        CLIENT => [tls => 1, clients => 1],
    );
    for my $name (sort keys %start) {
        if (my $r = redis_server($name, @{$start{$name}})) {
            $ENV{"TEST_NGINX_REDIS_$name"} = $r->{port};
        } else {
            ok(0, "redis-server $name started");
        }
    }
}

run_tests();

__DATA__

=== TEST 1: a password (percent-encoded in the URL): cross-server delivery, no password in the log
--- http_config
sse_zone zone=p1:1m redis=redis://:s3cr%40t%2Fx@127.0.0.1:$TEST_NGINX_REDIS_PASS/2;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=p1:1m redis=redis://:s3cr%40t%2Fx\@127.0.0.1:$ENV{TEST_NGINX_REDIS_PASS}/2;",
                config => $::LOC);
ok(wait_log(\&error_log_text, qr/redis redis:\/\/:\*\*\*\@127\.0\.0\.1:\d+\/2 connected/, 1), 'A connected, password masked');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected (2 workers)');

my $sa = sse_open('/sub?channel=n');
my $sb = sse_open('/sub?channel=n', undef, port => $b->{port});
Time::HiRes::sleep(0.6 * timeout_factor());
my $r = http('POST', '/pub?channel=n', 'one', tp());
is($r->{status}, 200, 'publish on A');
is(decode_json($r->{body})->{subscribers}, 2, 'both servers counted');
is(http('POST', '/pub?channel=n', 'two', tp(), port => $b->{port})->{status}, 200, 'publish on B');
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: two\n/ } @{$_[0]} });
is(datas($sa), 'one,two', 'A: both messages');
is(datas($sb), 'one,two', 'B: both messages');
is(rcli($::REDIS{PASS}, '-n', 2, 'EXISTS', 'sse:{p1}:log'), '1', 'the log is in database 2');
unlike(error_log_text() . $b->log, qr/s3cr/, 'the password is in no log');
--- no_error_log
[alert]



=== TEST 2: an ACL user and password (AUTH user password), database 3
--- http_config
sse_zone zone=p2:1m redis=redis://alice:won%3Ader@127.0.0.1:$TEST_NGINX_REDIS_PASS/3;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis redis:\/\/alice:\*\*\*\@\S+ connected/, 1), 'connected as alice');
my $s = sse_open('/sub?channel=u');
my $r = http('POST', '/pub?channel=u', 'hi', tp());
is($r->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered through Redis');
is(rcli($::REDIS{PASS}, '-n', 3, 'EXISTS', 'sse:{p2}:log'), '1', 'the log is in database 3');
like(rcli($::REDIS{PASS}, 'CLIENT', 'LIST'), qr/user=alice/, 'Redis sees alice');
--- no_error_log
[alert]



=== TEST 3: a wrong password: 503 at once, one log line naming authentication, recovery when Redis takes the password
--- http_config
sse_zone zone=p3:1m redis=redis://:new@127.0.0.1:$TEST_NGINX_REDIS_AUTH;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=p3:1m redis=redis://:new\@127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH};",
                config => $::LOC);
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(authentication failed: WRONGPASS/, 1),
   'A: the log names authentication');
ok(wait_log(sub { $b->log }, qr/redis \S+ unavailable \(authentication failed/, 2), 'B too');

my $t0 = Time::HiRes::time();
my $r = http('POST', '/pub?channel=a', 'x', tp());
is($r->{status}, 503, 'publish: 503');
is($r->{body}, '{"error":"redis unavailable","status":503}', 'JSON error');
ok(Time::HiRes::time() - $t0 < 0.5 * timeout_factor(), 'at once');
is(http('POST', '/pub?channel=a', 'x', tp(), port => $b->{port})->{status}, 503, '503 on B');

Time::HiRes::sleep(3 * timeout_factor());    # many retries with back-off
is(count_log(error_log_text(), qr/redis \S+ unavailable/), 1, 'A: one line in 3 s, none per retry');
is(count_log($b->log, qr/redis \S+ unavailable/), 2, 'B: one line per worker');

is(rcli($::REDIS{AUTH}, 'CONFIG', 'SET', 'requirepass', 'new'), 'OK', 'Redis takes the password now');
$::REDIS{AUTH}{pass} = 'new';
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1, 15), 'A connected, no restart');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2, 15), 'B connected');

my $sa = sse_open('/sub?channel=a');
my $sb = sse_open('/sub?channel=a', undef, port => $b->{port});
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=a', 'back', tp())->{status}, 200, 'publish on A: 200');
is(http('POST', '/pub?channel=a', 'again', tp(), port => $b->{port})->{status}, 200, 'publish on B: 200');
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: again\n/ } @{$_[0]} });
is(datas($sa), 'back,again', 'A: delivery across servers');
is(datas($sb), 'back,again', 'B: delivery across servers');
unlike(error_log_text(), qr/:new\@/, 'no password in the log');
--- no_error_log
[alert]



=== TEST 4: a Redis that wants a password, none given: the log says authentication is required
--- http_config
sse_zone zone=p4:1m redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PASS;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(authentication required: NOAUTH/, 1),
   'the log names authentication');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 5: a database that does not exist: the log names SELECT
--- http_config
sse_zone zone=p4b:1m redis=redis://alice:won%3Ader@127.0.0.1:$TEST_NGINX_REDIS_PASS/99;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(SELECT 99 failed: ERR DB index is out of range/, 1),
   'the log names SELECT');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 6: rediss:// with the certificate and host name verified: cross-server delivery
--- http_config
sse_zone zone=t5:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_TLS redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=t5:1m redis=rediss://127.0.0.1:$ENV{TEST_NGINX_REDIS_TLS} "
                        . "redis_tls_ca=$ENV{TEST_NGINX_CERTS}/ca.crt redis_tls_verify=on;",
                config => $::LOC);
ok(wait_log(\&error_log_text, qr/redis rediss:\S+ connected/, 1), 'A connected over TLS');
ok(wait_log(sub { $b->log }, qr/redis rediss:\S+ connected/, 2), 'B connected over TLS');

my $sa = sse_open('/sub?channel=t');
my $sb = sse_open('/sub?channel=t', undef, port => $b->{port});
Time::HiRes::sleep(0.6 * timeout_factor());
my $r = http('POST', '/pub?channel=t', 'one', tp());
is($r->{status}, 200, 'publish on A');
is(decode_json($r->{body})->{subscribers}, 2, 'both servers counted');
is(http('POST', '/pub?channel=t', 'two', tp(), port => $b->{port})->{status}, 200, 'publish on B');
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: two\n/ } @{$_[0]} });
is(datas($sa), 'one,two', 'A: both messages');
is(datas($sb), 'one,two', 'B: both messages');
--- no_error_log
[alert]
[crit]



=== TEST 7: a certificate from another CA is refused: 503, the log names TLS verification
--- http_config
sse_zone zone=t6:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_TLS redis_tls_ca=$TEST_NGINX_CERTS/wrongca.crt;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(TLS verification failed: certificate verify error/, 1),
   'the log names TLS verification');
my $r = http('POST', '/pub?channel=a', 'x', tp());
is($r->{status}, 503, 'publish: 503');
is($r->{body}, '{"error":"redis unavailable","status":503}', 'JSON error');
Time::HiRes::sleep(1.5 * timeout_factor());
is(count_log(error_log_text(), qr/redis \S+ unavailable/), 1, 'one line, none per retry');
--- no_error_log
[alert]
[crit]



=== TEST 8: without redis_tls_ca the system's CAs are trusted: they do not know the test CA
--- http_config
sse_zone zone=t7:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_TLS;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(TLS verification failed: certificate verify error/, 1),
   'the log names TLS verification');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 9: a certificate for another host name is refused with verification on
--- http_config
sse_zone zone=t8:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_OTHER redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(TLS verification failed: the certificate does not match "127\.0\.0\.1"\)/, 1),
   'the log names TLS verification and the host');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 9b: rediss://[::1]: an IPv6 address, checked against the certificate's IP addresses, no SNI
--- http_config
sse_zone zone=t8b:1m redis=rediss://[::1]:$TEST_NGINX_REDIS_TLS redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis rediss:\/\/\[::1\]:\d+ connected/, 1), 'connected to [::1] with verification on');
my $s = sse_open('/sub?channel=v6');
is(http('POST', '/pub?channel=v6', 'hi', tp())->{status}, 200, 'publish: 200');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered');
--- no_error_log
[alert]
[crit]
unavailable



=== TEST 9c: rediss://[::1] to a certificate for another name: refused, the log names the address
--- http_config
sse_zone zone=t8c:1m redis=rediss://[::1]:$TEST_NGINX_REDIS_OTHER redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(TLS verification failed: the certificate does not match "::1"\)/, 1),
   'the log names TLS verification and the address');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 10: the same with redis_tls_verify=off: accepted
--- http_config
sse_zone zone=t9:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_OTHER redis_tls_verify=off;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis rediss:\S+ connected/, 1), 'connected');
my $s = sse_open('/sub?channel=v');
is(http('POST', '/pub?channel=v', 'hi', tp())->{status}, 200, 'publish: 200');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered');
--- no_error_log
[alert]



=== TEST 11: Redis requires a client certificate, none given: refused, the log names TLS
--- http_config
sse_zone zone=t10:1m redis=rediss://127.0.0.1:$TEST_NGINX_REDIS_CLIENT redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(TLS session refused by Redis/, 1), "the log names TLS");
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
Time::HiRes::sleep(1.5 * timeout_factor());
is(count_log(error_log_text(), qr/redis \S+ unavailable/), 1, 'one line, none per retry');
--- no_error_log
[alert]
[crit]



=== TEST 12: Redis requires a client certificate: redis_tls_cert and redis_tls_key
--- http_config
sse_zone zone=t11:1m redis=rediss://localhost:$TEST_NGINX_REDIS_CLIENT redis_tls_ca=$TEST_NGINX_CERTS/ca.crt
         redis_tls_cert=$TEST_NGINX_CERTS/client.crt redis_tls_key=$TEST_NGINX_CERTS/client.key;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis rediss:\/\/localhost:\d+ connected/, 1), 'connected (host name checked)');
my $s = sse_open('/sub?channel=c');
is(http('POST', '/pub?channel=c', 'hi', tp())->{status}, 200, 'publish: 200');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered');
--- no_error_log
[alert]



=== TEST 13: redis+sentinel:// with an empty host in the list (Sentinel itself: t/028)
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1:26379,,127.0.0.1:26380/mymaster/1;
--- config
--- must_die
--- error_log
an empty host in redis URL "redis=redis+sentinel://127.0.0.1:26379,,127.0.0.1:26380/mymaster/1" in sse_zone



=== TEST 14: rediss+sentinel:// with credentials and redis_tls_cert without its key
--- http_config
sse_zone zone=c:1m redis=rediss+sentinel://u:pw@127.0.0.1/mymaster redis_tls_cert=/nonexistent.pem;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_cert and redis_tls_key go together



=== TEST 15: redis+cluster:// with a user and no password
--- http_config
sse_zone zone=c:1m redis=redis+cluster://ann@127.0.0.1:7000,127.0.0.1:7001;
--- config
--- must_die
--- error_log
a user without a password in redis URL "redis=redis+cluster://ann@127.0.0.1:7000,127.0.0.1:7001" in sse_zone



=== TEST 16: rediss+cluster:// with credentials and redis_tls_key without its certificate
--- http_config
sse_zone zone=c:1m redis=rediss+cluster://:pw@127.0.0.1:7000 redis_tls_key=/nonexistent.pem;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_cert and redis_tls_key go together



=== TEST 17: redis+sentinel:// without a service name
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1:26379;
--- config
--- must_die
--- error_log
no service name (redis+sentinel://host/SERVICE[/DB]) in redis URL "redis=redis+sentinel://127.0.0.1:26379" in sse_zone



=== TEST 18: redis+sentinel:// with a bad database
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1/mymaster/x;
--- config
--- must_die
--- error_log
invalid database number in redis URL "redis=redis+sentinel://127.0.0.1/mymaster/x" in sse_zone



=== TEST 19: redis+cluster:// with a database
--- http_config
sse_zone zone=c:1m redis=redis+cluster://127.0.0.1:7000/1;
--- config
--- must_die
--- error_log
a database number (Redis Cluster has database 0 only) in redis URL "redis=redis+cluster://127.0.0.1:7000/1" in sse_zone



=== TEST 20: redis+cluster:// with an empty host in the list
--- http_config
sse_zone zone=c:1m redis=redis+cluster://127.0.0.1:7000,,127.0.0.1:7001;
--- config
--- must_die
--- error_log
an empty host in redis URL "redis=redis+cluster://127.0.0.1:7000,,127.0.0.1:7001" in sse_zone



=== TEST 21: rediss+cluster:// with a bad port
--- http_config
sse_zone zone=c:1m redis=rediss+cluster://127.0.0.1:7000,127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid port in redis URL "redis=rediss+cluster://127.0.0.1:7000,127.0.0.1:99999" in sse_zone



=== TEST 22: rediss:// with several hosts
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1:6379,127.0.0.1:6380;
--- config
--- must_die
--- error_log
several hosts (for Sentinel or Cluster, use redis+sentinel:// or redis+cluster://) in redis URL



=== TEST 23: a bad percent-encoding in the password
--- http_config
sse_zone zone=c:1m redis=redis://:a%zz@127.0.0.1;
--- config
--- must_die
--- error_log
invalid percent-encoding of the credentials in redis URL



=== TEST 24: an empty password
--- http_config
sse_zone zone=c:1m redis=redis://:@127.0.0.1;
--- config
--- must_die
--- error_log
an empty password in redis URL "redis=redis://:@127.0.0.1" in sse_zone



=== TEST 25: no host
--- http_config
sse_zone zone=c:1m redis=rediss://u:p@/1;
--- config
--- must_die
--- error_log
no host in redis URL "redis=rediss://u:p@/1" in sse_zone



=== TEST 26: redis_tls_ca: a missing file
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_ca=/nonexistent/ca.crt;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_ca "/nonexistent/ca.crt" cannot be read



=== TEST 27: redis_tls_cert: a missing file
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_cert=/nonexistent/c.crt redis_tls_key=/nonexistent/c.key;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_cert "/nonexistent/c.crt" cannot be read



=== TEST 28: redis_tls_key: a missing file
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_cert=$TEST_NGINX_CERTS/client.crt redis_tls_key=/nonexistent/c.key;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_key "/nonexistent/c.key" cannot be read



=== TEST 29: redis_tls_cert without redis_tls_key
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_cert=$TEST_NGINX_CERTS/client.crt;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_cert and redis_tls_key go together



=== TEST 30: redis_tls_* with redis://
--- http_config
sse_zone zone=c:1m redis=redis://127.0.0.1 redis_tls_ca=$TEST_NGINX_CERTS/ca.crt;
--- config
--- must_die
--- error_log
redis_tls_* parameters of sse_zone "c" need a rediss:// URL, not "redis://127.0.0.1"



=== TEST 31: redis_tls_* without redis=
--- http_config
sse_zone zone=c:1m redis_tls_verify=off;
--- config
--- must_die
--- error_log
redis_tls_* parameters of sse_zone "c" need redis=rediss://...



=== TEST 32: redis_tls_verify takes on or off
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_verify=maybe;
--- config
--- must_die
--- error_log
invalid parameter "redis_tls_verify=maybe" in sse_zone



=== TEST 33: a certificate file that is not one
--- http_config
sse_zone zone=c:1m redis=rediss://127.0.0.1 redis_tls_ca=$TEST_NGINX_CERTS/client.csr.none;
--- config
--- must_die
--- error_log
sse_zone "c": redis_tls_ca
