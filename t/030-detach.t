# Detached streams: once the response head (and any history) is out, an
# HTTP/1.x stream lets its request go and writes to the connection itself.
# What the request carried must hold for the stream's whole life: the
# limit_conn slot until the stream ends, the access log line (written when
# the request goes, at detach), no answer to bytes pipelined after the
# subscribe, TLS. The sign the blocks check that detaching happened at all
# is the stream's access log line, there while the stream still runs (the
# debug line "sse: stream detached from its request" needs an nginx built
# --with-debug, which the ASan build is not).
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::Raw;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $ssl_dir = tempdir('sse-ssl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
       . " -keyout $ssl_dir/key.pem -out $ssl_dir/cert.pem >/dev/null 2>&1") == 0
    or die "openssl: cannot make a test certificate\n";
$ENV{TEST_NGINX_SSL_DIR} = $ssl_dir;

# the access log once it has a line matching $re, or after a few seconds
sub main::logged {
    my ($re) = @_;
    my $t0 = time;
    my $log = access_log_text();
    while ($log !~ $re && time - $t0 < 3 * timeout_factor()) {
        sleep 0.05;
        $log = access_log_text();
    }
    return $log;
}

run_tests();

__DATA__

=== TEST 1: a stream detaches: its access log line (200, bytes) is written while it runs; events and keepalives go on; subscriber_timeout ends it with the last chunk, then the connection closes
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_keepalive 200ms; sse_connected_event hello;
                sse_subscriber_timeout 2s; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=d');
is($s->status, 200, 'subscribed');
is(lc($s->header('connection') // ''), 'close',
   'Connection: close (the connection ends with the stream: no client reuses it)');
my ($body) = $s->read_until(qr/event: hello\n.*\n\n/, 2);
like($body, qr/event: hello/, 'the greeting');
like(main::logged(qr{"GET /sub\?channel=d }), qr{"GET /sub\?channel=d HTTP/1\.1" 200 [1-9]\d* },
     'detached: the access log line, status 200 and the bytes so far, while the stream runs');
my $r = http('POST', '/pub?channel=d', 'after', {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":1\}/, 'still counted as a subscriber');
($body) = $s->read_until(qr/data: after\n\n.*: keepalive\n\n/s, 3);
like($body, qr/id: 1\ndata: after\n\n/, 'an event after detaching');
like($body, qr/data: after\n\n.*: keepalive\n\n/s, 'keepalives after detaching');
ok($s->wait_closed(4), 'sse_subscriber_timeout ends it: the server closes');
ok($s->finished, 'with the last chunk first (a complete response)');
like($s->raw, qr/\r\n0\r\n\r\n\z/, 'the raw stream ends with the terminating chunk');
my @lines = grep { m{"GET /sub} } split /\n/, access_log_text();
is(scalar(@lines), 1, 'one access log line for the stream');
my ($ms, $sent) = error_log_text() =~ /sse: stream ended after (\d+) ms, (\d+) bytes sent/;
cmp_ok($ms // 0, '>=', 1500, "the error log (info) tells how long it ran: $ms ms");
is($sent, length($s->raw), '... and every byte it sent, head included');
--- no_error_log
[error]



=== TEST 2: limit_conn counts a detached stream until it ends, and frees its slot then (client close, subscriber timeout)
--- http_config
sse_zone zone=ev:1m;
limit_conn_zone $binary_remote_addr zone=perip:1m;
--- config
location /sub { limit_conn perip 1; limit_conn_status 429; sse_subscribe; }
location /short { limit_conn perip 1; limit_conn_status 429; sse_subscribe;
                  sse_subscriber_timeout 1s; }
location /pub { sse_publish; }
--- test
my $a = sse_open('/sub?channel=l');
is($a->status, 200, 'the first stream');
like(main::logged(qr{/sub\?channel=l }), qr{"GET /sub\?channel=l HTTP/1\.1" 200 },
     'it detached (its access log line while it runs)');
my $b = sse_open('/sub?channel=l');
is($b->status, 429, 'a second one while the first runs: 429');
$b->close;
$a->close;
my $ok;
for (1 .. 40) {
    my $c = sse_open('/sub?channel=l');
    $ok = $c->status == 200;
    $c->close;
    last if $ok;
    sleep 0.1;
}
ok($ok, 'once the client closed the first one, the slot is free');
my $c = sse_open('/short?channel=l');
is($c->status, 200, 'a stream that ends by itself');
is(sse_open('/sub?channel=l')->status, 429, 'holds the slot while it runs');
ok($c->wait_closed(4), 'it ends (sse_subscriber_timeout)');
$ok = 0;
for (1 .. 40) {
    my $d = sse_open('/sub?channel=l');
    $ok = $d->status == 200;
    $d->close;
    last if $ok;
    sleep 0.1;
}
ok($ok, 'and its slot is free then');
--- error_log
limiting connections by zone "perip"



=== TEST 3: a request pipelined after a subscribe is never executed nor answered, while the stream runs or after it ends
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_subscriber_timeout 1s; }
location /pub { sse_publish; }
--- test
my $x = exchange(["GET /sub?channel=p HTTP/1.1\r\nHost: localhost\r\n\r\n"
                  . req('POST', '/pub?channel=p', ['Content-Type: text/plain'], 'smuggled')
                  . req('GET', '/pub?channel=p'),
                  0.5,
                  req('POST', '/pub?channel=p', ['Content-Type: text/plain'], 'late')],
                 timeout => 4);
is(statuses($x), '200', 'one response: the stream');
ok($x->{eof}, 'the server closed the connection after the stream ended');
is($x->{responses}[0]{body}, '', 'nothing was published to it');
is($x->{rest}, '', 'no bytes after the stream');
my $r = http('GET', '/pub?channel=p');
like($r->{body}, qr/"messages":0|unknown channel/, 'the pipelined publishes never ran');
my @lines = grep { m{/pub\?channel=p} } split /\n/, access_log();
is(scalar(@lines), 1, 'only our own channel info request is in the access log');
--- no_error_log
[error]



=== TEST 4: TLS, HTTP/1.1: the stream detaches, keepalives and events arrive, it ends cleanly; HTTP/2 on the same server keeps its request and works
--- http_config
sse_zone zone=ev:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 ssl http2;
    ssl_certificate $TEST_NGINX_SSL_DIR/cert.pem;
    ssl_certificate_key $TEST_NGINX_SSL_DIR/key.pem;
    location /sub { sse_subscribe; sse_keepalive 300ms; sse_subscriber_timeout 2s; }
}
--- config
location /pub { sse_publish; }
--- test
my $p2 = port2();
my %pid;
for my $proto ('http1.1', 'http2') {
    my $out = server_root() . "/$proto.body";
    $pid{$proto} = fork();
    if ($pid{$proto} == 0) {
        exec('curl', '-sk', '--no-buffer', "--$proto", '--max-time', 10 * timeout_factor(),
             '-o', $out, "https://127.0.0.1:$p2/sub?channel=$proto") or exit 99;
    }
}
my $t0 = time;
my $subs = '';
while (time - $t0 < 3 * timeout_factor()) {
    $subs = join ',', map { http('GET', "/pub?channel=$_")->{body} =~ /"subscribers":(\d+)/ ? $1 : 0 }
                      'http1.1', 'http2';
    last if $subs eq '1,1';
    sleep 0.1;
}
is($subs, '1,1', 'both subscribed');
my $log = main::logged(qr{/sub\?channel=http1\.1 });
like($log, qr{"GET /sub\?channel=http1\.1 HTTP/1\.1" 200 }, 'the HTTP/1.1 stream detached: logged while it runs');
unlike($log, qr{/sub\?channel=http2 }, 'the HTTP/2 one did not: not logged yet');
sleep 0.5;
for my $proto ('http1.1', 'http2') {
    my $r = http('POST', "/pub?channel=$proto", "to $proto", {'Content-Type' => 'text/plain'});
    like($r->{body}, qr/"subscribers":1\}/, "$proto: published");
}
for my $proto ('http1.1', 'http2') {
    waitpid($pid{$proto}, 0);
    is($? >> 8, 0, "$proto: curl saw a complete response (sse_subscriber_timeout ended it)");
    my $body = do { local $/; open my $f, '<', server_root() . "/$proto.body" or die $!; <$f> };
    like($body, qr/: keepalive\n\n/, "$proto: keepalives");
    like($body, qr/data: to \Q$proto\E\n\n/, "$proto: the event");
}
like(main::logged(qr{/sub\?channel=http2 }), qr{"GET /sub\?channel=http2 HTTP/2\.0" 200 },
     'the HTTP/2 stream logged at its end');
--- no_error_log
[error]



=== TEST 5: limit_rate on the location: a stream whose head was delayed by it still detaches and goes on
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_connected_event hello; limit_rate 1k; }
location /pub { sse_publish; }
--- test
my $s = sse_open('/sub?channel=r');
is($s->status, 200, 'subscribed');
like(main::logged(qr{/sub\?channel=r }), qr{"GET /sub\?channel=r HTTP/1\.1" 200 },
     'detached (its access log line while it runs)');
sleep 0.5;
my $r = http('POST', '/pub?channel=r', 'later', {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":1\}/, 'still subscribed');
my ($body) = $s->read_until(qr/data: later\n\n/, 3);
like($body, qr/id: 1\ndata: later\n\n/, 'the event after detaching');
ok(!$s->closed, 'the stream is open');
--- no_error_log
timed out
[error]
