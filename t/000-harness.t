# Self-tests of the Test::Nginx::SSE harness, using only stock nginx
# directives (the SSE module is not needed; load_module is emitted only if
# build/ngx_http_sse_module.so exists).
#
# A tiny fake SSE backend is forked below so that the streaming helpers can be
# exercised through "proxy_pass + proxy_buffering off" (which makes nginx
# emit a chunked, never-ending text/event-stream response, just like the
# module will).

use lib 't/lib';
use Test::Nginx::SSE;
use IO::Socket::INET;
use POSIX ();

my $backend_pid;

BEGIN {
    # Fake SSE backend: for every connection, answer with an event stream:
    # a comment, a multi-line event with id/event, then "data: tick N" every
    # 50ms until the peer goes away.
    my $srv = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64,
        Proto => 'tcp', ReuseAddr => 1,
    ) or die "backend listen: $@";
    $ENV{TEST_NGINX_SSE_BACKEND_PORT} = $srv->sockport;
    $backend_pid = fork;
    die "fork: $!" unless defined $backend_pid;
    if (!$backend_pid) {
        $SIG{PIPE} = 'IGNORE';
        $SIG{CHLD} = 'IGNORE';
        setpgrp(0, 0);
        while (1) {
            my $c = $srv->accept or next;
            my $pid = fork;
            if (defined $pid && !$pid) {
                my $req = '';
                while ($req !~ /\r\n\r\n/) {
                    my $n = sysread($c, $req, 4096, length $req) or POSIX::_exit(0);
                }
                syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                           . "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                           . ": welcome\n\n"
                           . "id: 1\nevent: greet\ndata: line one\ndata: line two\n\n";
                for my $i (1 .. 200) {
                    select undef, undef, undef, 0.05;
                    defined syswrite($c, "data: tick $i\n\n") or last;
                }
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    close $srv;
}

END {
    kill 'KILL', -$backend_pid, $backend_pid if $backend_pid;
}

run_tests();

__DATA__

=== TEST 1: plain return
--- config
location /t { return 200 "hello"; }
--- request
GET /t
--- error_code: 200
--- response_body: hello
--- no_error_log
[error]
[alert]



=== TEST 2: response headers, absent header, headers_like
--- config
location /t {
    add_header X-Foo bar;
    add_header X-Num 12345;
    return 200 "ok\n";
}
--- request
GET /t
--- response_headers
X-Foo: bar
Content-Type: text/plain
Content-Length: 3
!X-Missing
--- response_headers_like
X-Num: ^\d+$
Server: ^nginx
--- response_body
ok



=== TEST 3: error code and body regex
--- config
location /t { return 404; }
--- request
GET /nothing-here/t
--- error_code: 404
--- response_body_like: <title>404 Not Found</title>.*</html>



=== TEST 4: request body, more_headers, Content-Length sent
--- config
location /t { return 200 "len=$content_length foo=$http_x_foo ct=$content_type"; }
--- request
POST /t
{"channel":"a","data":"hi"}
--- more_headers
X-Foo: bar baz
Content-Type: application/json
--- response_body: len=27 foo=bar baz ct=application/json



=== TEST 5: request eval with a large body (413)
--- config
client_max_body_size 1k;
location /t { return 200 "should not get here"; }
--- request eval
"POST /t\n" . ("x" x 70000)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large



=== TEST 6: chunked response is de-chunked
--- config
location /t {
    sub_filter_types *;
    sub_filter 'world' 'there';
    return 200 "hello world, world\n";
}
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello there, world



=== TEST 7: error_log must appear
--- config
location /t { root $TEST_NGINX_SERVER_ROOT/html; }
--- request
GET /t/missing.txt
--- error_code: 404
--- error_log
No such file or directory
[error]



=== TEST 8: must_die with a bad directive
--- config
location /t { bogus_directive_here on; }
--- must_die
--- error_log
unknown directive "bogus_directive_here"
--- no_error_log
[alert]



=== TEST 9: must_die in http_config
--- http_config
server_names_hash_bucket_size notanumber;
--- must_die
--- error_log eval
qr/"server_names_hash_bucket_size" directive invalid number/



=== TEST 10: workers mode, reload
--- workers: 2
--- config
location /t { return 200 "pid=$pid"; }
--- test
my @w = worker_pids();
is(scalar @w, 2, 'two workers');
ok(nginx_pid(), 'master pid known');
my $r = http('GET', '/t');
is($r->{status}, 200, 'status 200');
like($r->{body}, qr/^pid=(\d+)$/, 'body has worker pid');
my ($pid) = $r->{body} =~ /(\d+)/;
ok((grep { $_ == $pid } @w), 'served by one of the workers');

my @new = nginx_reload(config => 'location /t { return 200 "reloaded"; }');
is(scalar @new, 2, 'two new workers after reload');
is(http('GET', '/t')->{body}, 'reloaded', 'new config active');
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 11: free-form test with http() and helpers
--- config
location /t {
    add_header X-Method $request_method;
    return 200 "uri=$uri args=$args len=$content_length\n";
}
--- test
my $r = http('GET', '/t?a=1');
is($r->{status}, 200, 'GET status');
is($r->{body}, "uri=/t args=a=1 len=\n", 'GET body');
is($r->{headers}{'x-method'}, 'GET', 'lowercased header names');

$r = http('PUT', '/t', 'abc', { 'X-Foo' => 'bar' });
is($r->{body}, "uri=/t args= len=3\n", 'PUT with body');

$r = http('HEAD', '/t');
is($r->{status}, 200, 'HEAD status');
is($r->{body}, '', 'HEAD has no body');

$r = http('GET', '/t', undef, undef, proto => 'HTTP/1.0');
is($r->{proto}, 'HTTP/1.1', 'HTTP/1.0 request answered');
is($r->{body}, "uri=/t args= len=\n", 'HTTP/1.0 body');

ok(-d server_root() . '/html', 'server_root has html/');
like(error_log_text(), qr/\[notice\]|\[info\]|^$/, 'error log readable');
is(port(), $block->name =~ /TEST 11/ ? port() : 0, '$block available');



=== TEST 12: request line with explicit HTTP/1.0
--- config
location /t { return 200 "proto=$server_protocol"; }
--- request
GET /t HTTP/1.0
--- response_body: proto=HTTP/1.0



=== TEST 13: requests eval, last one is checked
--- config
location /a { return 201 "a"; }
location /b { return 202 "b:$request_body_file"; }
location /c { return 200 "c-$http_x_all"; }
--- requests eval
["GET /a", "POST /b\nsome body", "GET /c"]
--- more_headers
X-All: yes
--- response_body: c-yes



=== TEST 14: placeholders
--- http_config
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location / { return 200 "second server"; }
}
--- config
location /t { return 200 "port=$TEST_NGINX_SERVER_PORT root=$TEST_NGINX_SERVER_ROOT"; }
--- request
GET /t
--- response_body_like: ^port=$TEST_NGINX_SERVER_PORT root=/.*/000-harness-\d+$
--- test
my $r = http('GET', '/', undef, undef, port => port2());
is($r->{body}, 'second server', 'second listener on port2()');



=== TEST 15: skipped when an env var is missing
--- config
location /t { proxy_pass http://127.0.0.1:$TEST_NGINX_SURELY_NOT_SET_XYZ; }
--- request
GET /t



=== TEST 16: unit tests for _dechunk and _parse_events
--- test
my ($out, $complete, $err) =
    Test::Nginx::SSE::_dechunk("5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n");
is($out, 'hello, world', 'dechunk');
ok($complete, 'dechunk complete');
ok(!$err, 'no error');

($out, $complete) = Test::Nginx::SSE::_dechunk("3\r\nabc\r\n4\r\nde");
is($out, 'abcde', 'partial chunk decoded');
ok(!$complete, 'partial: not complete');

(undef, undef, $err) = Test::Nginx::SSE::_dechunk("zz\r\nabc\r\n");
ok($err, 'bad chunk size detected');

# incremental feeding, byte by byte
my $d = Test::Nginx::SSE::Dechunker->new;
my $acc = '';
$acc .= $d->feed($_) for split //, "a\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n";
is($acc, '0123456789X', 'byte-by-byte dechunk');
ok($d->{complete}, 'byte-by-byte complete');

my $stream = ": hello\n\n"
           . "id: 7\nevent: msg\ndata: one\ndata: two\n\n"
           . "data:nospace\r\n\r\n"
           . "retry: 3000\ndata\n\n"
           . ":keepalive\n\n"
           . "id: 8\n\n"
           . "data: incomplete";
my @ev = Test::Nginx::SSE::_parse_events($stream);
is(scalar @ev, 4, 'four complete events');
is_deeply($ev[0], { id => 7, event => 'msg', data => "one\ntwo", retry => undef }, 'event 1');
is($ev[1]{data}, 'nospace', 'no space after colon, CRLF lines');
is($ev[2]{data}, '', 'bare "data" line gives empty data');
is($ev[2]{retry}, 3000, 'retry');
is($ev[3]{id}, 8, 'id-only event');
ok(!defined $ev[3]{data}, 'id-only event has undef data');
is_deeply([Test::Nginx::SSE::_parse_comments($stream)], ['hello', 'keepalive'], 'comments');

my $res = Test::Nginx::SSE::Response->new;
$res->feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
           . "X-A: 1\r\nX-A: 2\r\n\r\n3\r\nabc\r\n");
is($res->{status}, 200, 'interim 100 skipped');
is($res->{headers}{'x-a'}, '1, 2', 'repeated headers joined');
is($res->{body}, 'abc', 'body so far');
ok(!$res->{complete}, 'not complete yet');
$res->feed("0\r\n\r\n");
ok($res->{complete}, 'complete after last chunk');



=== TEST 17: streaming subscribers via a proxied fake SSE backend
--- config
location /sse {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SSE_BACKEND_PORT;
    proxy_http_version 1.1;
    proxy_buffering off;
}
location /pub { return 200 "published"; }
--- subscribe
GET /sse?a=1
/sse?b=2
--- subscribe_headers
X-Sub: yes
--- request
POST /pub
hi
--- response_body: published
--- stream_until: tick 3\n\n
--- stream_headers
Content-Type: text/event-stream
Transfer-Encoding: chunked
--- stream_body_like: ^: welcome\n\nid: 1\nevent: greet\ndata: line one\ndata: line two\n\ndata: tick 1\n\n
--- no_error_log
[error]
[alert]



=== TEST 18: subscribe only, no request; exact stream_body
--- config
location /sse {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SSE_BACKEND_PORT;
    proxy_http_version 1.1;
    proxy_buffering off;
}
--- subscribe
GET /sse
--- stream_until: tick 2\n\n
--- stream_body eval
": welcome\n\n"
. "id: 1\nevent: greet\ndata: line one\ndata: line two\n\n"
. "data: tick 1\n\n"
. "data: tick 2\n\n"




=== TEST 19: stream_error_code for a non-streaming subscriber
--- config
location /sse { return 403; }
--- subscribe
GET /sse
--- stream_error_code: 403
--- stream_until: </html>



=== TEST 20: sse_open / read_until / events / sse_pump in perl
--- config
location /sse {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SSE_BACKEND_PORT;
    proxy_http_version 1.1;
    proxy_buffering off;
}
location /denied { return 403; }
--- test
my $s = sse_open('/sse', { 'Last-Event-ID' => 5 });
is($s->status, 200, 'subscriber status');
is($s->header('content-type'), 'text/event-stream', 'content type');
my ($body, $matched) = $s->read_until(qr/tick 2\n\n/, 3);
ok($matched, 'read_until matched');
my @ev = $s->events;
is($ev[0]{event}, 'greet', 'first event name');
is($ev[0]{data}, "line one\nline two", 'multi-line data');
is($ev[1]{data}, 'tick 1', 'tick 1');
is_deeply([$s->comments], ['welcome'], 'comment collected');
ok(!$s->closed, 'still open');

my @subs = map { sse_open('/sse') } 1 .. 3;
my $ok = sse_pump(\@subs, 3, sub { !grep { $_->body !~ /tick 4\n\n/ } @{$_[0]} });
ok($ok, 'sse_pump: all three reached tick 4');
ok(!sse_pump(\@subs, 0.2, sub { 0 }), 'sse_pump times out with false callback');
$_->close for @subs;

my $d = sse_open('/denied');
is($d->status, 403, 'denied status');
ok($d->wait_closed(2), 'server closed the non-streaming response');
like($d->body, qr/403 Forbidden/, 'error page body');
ok($d->finished, 'response complete');
--- no_error_log
[error]
[alert]



=== TEST 21: extra Test::More exports, subscriber opened without waiting
--- config
location /sse {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SSE_BACKEND_PORT;
    proxy_http_version 1.1;
    proxy_buffering off;
}
--- test
note('note works');
like(join('', explain({ a => 1 })), qr/a/, 'explain works');
subtest 'subtest works' => sub { plan tests => 1; ok(1, 'inside') };
my @subs = map { sse_open('/sse', undef, no_wait => 1) } 1 .. 2;
ok($_->wait_headers(3), 'headers arrived') for @subs;
is($subs[1]->status, 200, 'status after wait_headers');
like($subs[0]->read_until(qr/tick 1\n\n/, 2), qr/tick 1/, 'scalar read_until');
