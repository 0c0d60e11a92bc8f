# Self-tests of the Test::Nginx::SSE harness, using only stock nginx
# directives (the SSE module is not needed; load_module is emitted only if
# build/ngx_http_sse_module.so exists).
#
# A tiny fake SSE backend is forked below so that the streaming helpers can be
# exercised through "proxy_pass + proxy_buffering off" (which makes nginx
# emit a chunked, never-ending text/event-stream response, just like the
# module will).
#
# The harness's own rules (a block that should fail does fail) are tested by
# running small test files made of blocks with this harness in a child perl
# (inner_run below) and reading their TAP output: "not ok" where a rule
# must catch something, "ok" where the block declares what it provokes.
# A second fake backend (TEST_NGINX_BAD_BACKEND_PORT) answers every request
# with bytes beyond its Content-Length, for the keep-alive probe.

use lib 't/lib';
use Test::Nginx::SSE;
use IO::Socket::INET;
use POSIX ();
use File::Temp ();
use Cwd ();

my ($backend_pid, $bad_pid);

our $HARNESS_LIB = Cwd::abs_path('t/lib');

# inner_run($data, %opt): writes a test file (opt preamble: perl code before
# run_tests()) with the blocks $data, runs it with this harness in a child
# perl (opt env: extra environment) and returns (its TAP output with
# stderr, its exit status).
sub inner_run {
    my ($data, %o) = @_;
    # the blocks are written with "| " before each line, so that the
    # outer file's own block parser leaves them alone
    $data =~ s/^\| ?//mg;
    my $dir = File::Temp::tempdir('harness-inner-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $file = "$dir/inner.t";
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} "use lib '$HARNESS_LIB';\nuse Test::Nginx::SSE;\n"
              . ($o{preamble} // '') . "\nrun_tests();\n\n__DATA__\n\n$data";
    close $fh;
    local %ENV = (%ENV, TEST_NGINX_SERVROOT => "$dir/servroot",
                  %{ $o{env} || {} });
    my $out = `$^X $file 2>&1`;
    return ($out, $? >> 8);
}

# The access log once it matches $re (nginx writes a request's line after
# its reply is sent: under valgrind that can come a little later).
sub access_log_until {
    my ($re) = @_;
    for (1 .. 100) {
        my $log = access_log_text();
        return $log if $log =~ $re;
        select(undef, undef, undef, 0.02 * timeout_factor());
    }
    return access_log_text();
}

# TAP lines of an inner run for the block "TEST $n: ..."
sub inner_lines {
    my ($out, $n, $kind) = @_;    # kind: 'ok' or 'not ok'
    return grep { /^\Q$kind\E \d+ - TEST $n: / } split /\n/, $out;
}

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

    # Bad backend: answers any request with "ok" plus bytes it did not
    # announce, then waits for the client to go.
    my $bad = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64,
        Proto => 'tcp', ReuseAddr => 1,
    ) or die "bad backend listen: $@";
    $ENV{TEST_NGINX_BAD_BACKEND_PORT} = $bad->sockport;
    $bad_pid = fork;
    die "fork: $!" unless defined $bad_pid;
    if (!$bad_pid) {
        $SIG{PIPE} = 'IGNORE';
        $SIG{CHLD} = 'IGNORE';
        setpgrp(0, 0);
        while (1) {
            my $c = $bad->accept or next;
            my $pid = fork;
            if (defined $pid && !$pid) {
                my $req = '';
                while ($req !~ /\r\n\r\n/) {
                    sysread($c, $req, 4096, length $req) or POSIX::_exit(0);
                }
                syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
                1 while sysread($c, my $buf, 4096);
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    close $bad;
}

END {
    kill 'KILL', -$backend_pid, $backend_pid if $backend_pid;
    kill 'KILL', -$bad_pid, $bad_pid if $bad_pid;
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



=== TEST 15: a placeholder that is not set, or misspelled, or an unknown section fails the block
--- test
my ($out) = main::inner_run(<<'INNER');
| === TEST 1: unset
| --- config
| location /t { proxy_pass http://127.0.0.1:$TEST_NGINX_SURELY_NOT_SET_XYZ; }
| --- request
| GET /t
|
| === TEST 2: misspelled prefix
| --- config
| location /t { return 200 "$TEST_NGNIX_SERVER_PORT"; }
| --- request
| GET /t
|
| === TEST 3: misspelled name
| --- config
| location /t { return 200 "x"; }
| --- request
| GET /t
| --- response_body: $TEST_NGINX_SERVR_PORT
|
| === TEST 4: a typo in a section name
| --- config
| location /t { return 200 "x"; }
| --- request
| GET /t
| --- respone_body: y
|
| === TEST 5: all well
| --- config
| location /t { return 200 "$TEST_NGINX_SERVER_PORT"; }
| --- request
| GET /t
| --- response_body: $TEST_NGINX_SERVER_PORT
INNER
like($out, qr/^not ok \d+ - TEST 1: unset - placeholders expanded$/m, 'unset: fails');
like($out, qr/TEST_NGINX_SURELY_NOT_SET_XYZ/, 'the name is shown');
like($out, qr/^not ok \d+ - TEST 2: misspelled prefix - placeholders expanded$/m, 'misspelled prefix: fails');
like($out, qr/^not ok \d+ - TEST 3: misspelled name - placeholders expanded$/m, 'misspelled name: fails');
like($out, qr/^not ok \d+ - TEST 4: a typo in a section name - known sections$/m, 'unknown section: fails');
like($out, qr/unknown section\(s\): respone_body/, 'the section is named');
is(scalar(main::inner_lines($out, 5, 'not ok')), 0, 'the good block passes');
unlike($out, qr/# skip/i, 'nothing skipped');



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



=== TEST 22: requests go on a keep-alive connection, the probe follows on the same one; access_log_text()
--- config
location /t { return 200 "len=$content_length"; }
--- request
POST /t
some body
--- response_body: len=9
--- test
my $log = main::access_log_until(qr/__harness_probe/);
like($log, qr{^127\.0\.0\.1 \[[^\]]+\] "POST /t HTTP/1\.1" 200 \d+ \d+ conn=(\d+) req=1$}m,
     'the request is in the access log with its status');
my ($conn) = $log =~ m{"POST /t HTTP/1\.1" 200 \d+ \d+ conn=(\d+)};
like($log, qr{"GET /__harness_probe HTTP/1\.1" 204 0 \d+ conn=$conn req=2$}m,
     'the probe is the second request on the same connection');
my $r = http('GET', '/t');
is($r->{headers}{connection}, 'keep-alive', 'http() keeps the connection alive');
like(main::access_log_until(qr{"GET /t .*\n.*__harness_probe}),
     qr{"GET /t HTTP/1\.1" 200 \d+ \d+ conn=(\d+) req=1\n.*"GET /__harness_probe HTTP/1\.1" 204 0 \d+ conn=\1 req=2$}m,
     'http() is followed by the probe on its connection');



=== TEST 23: explicit pipelining: http_pipeline() and --- pipeline
--- config
location /t { return 200 "t=$request_method/$content_length"; }
location /e { return 404; }
--- requests eval
["GET /t", "POST /t\nabc", "GET /e", "HEAD /t", "GET /t"]
--- pipeline
--- response_body: t=GET/
--- test
my $log = main::access_log_until(qr/req=6$/m);
my @conns = $log =~ /conn=(\d+) req=\d+$/mg;
is(scalar(@conns), 6, 'five requests and the probe');
is(scalar(keys %{{ map { ($_ => 1) } @conns }}), 1, 'all on one connection');
like($log, qr/req=6$/m, 'the probe is the sixth');

my @r = http_pipeline([['POST', '/t', 'xyz'], "GET /e HTTP/1.1\r\nHost: a\r\n\r\n",
                       ['HEAD', '/t'], ['GET', '/t']]);
is(join(',', map { $_->{status} } @r), '200,404,200,200', 'four replies, in order');
is($r[0]{body}, 't=POST/3', 'first');
is($r[2]{body}, '', 'HEAD: no body');
is($r[3]{body}, 't=GET/', 'last');
ok(!grep({ !$_->{complete} } @r), 'all complete');



=== TEST 24: smuggling: a body the server does not read fails the keep-alive probe
--- test
my ($out) = main::inner_run(<<'INNER');
| === TEST 1: Content-Length shorter than the body: the rest is taken for the next request
| --- config
| location /t { return 200 "ok"; }
| --- request
| POST /t
| xxGET
| --- more_headers
| Content-Length: 1
| --- response_body: ok
|
| === TEST 2: the same in raw_request
| --- config
| location /t { return 200 "ok"; }
| --- raw_request eval
| "POST /t HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxx"
| --- response_body: ok
|
| === TEST 3: a reply with bytes beyond its Content-Length (http())
| --- test
| my $r = http('GET', '/', undef, undef, port => $ENV{TEST_NGINX_BAD_BACKEND_PORT});
| is($r->{body}, 'ok', 'the reply itself looks fine');
|
| === TEST 4: the same with http_pipeline()
| --- test
| my @r = http_pipeline([['GET', '/']], port => $ENV{TEST_NGINX_BAD_BACKEND_PORT});
| is($r[0]{body}, 'ok', 'the reply itself looks fine');
|
| === TEST 5: a clean body and an error reply with a body pass
| --- config
| location /t { return 200 "ok"; }
| location /e { return 403; }
| --- requests eval
| ["POST /t\nxx", "POST /e\nyy"]
| --- error_code: 403
|
| === TEST 6: Connection: close from the client: the server closes cleanly
| --- config
| location /t { return 200 "ok"; }
| --- request
| POST /t
| body
| --- more_headers
| Connection: close
| --- response_body: ok
|
| === TEST 7: bytes after the end of a subscriber's complete response
| --- test
| my $s = sse_open('/', undef, port => $ENV{TEST_NGINX_BAD_BACKEND_PORT});
| $s->read_for(0.3);
| is($s->body, 'ok', 'the response itself looks fine');
INNER
like($out, qr/^not ok \d+ - TEST 1: .* - keep-alive probe after POST \/t$/m, 'short Content-Length: fails');
like($out, qr/^# (?:the probe request got|\d+ unexpected bytes after the reply:) 'HTTP\/1\.1 400 Bad Request/m,
     'the rest of the body got a 400 of its own');
like($out, qr/^not ok \d+ - TEST 2: .* - keep-alive probe after 'POST \/t HTTP\/1\.1'$/m, 'raw_request: fails');
like($out, qr/^not ok \d+ - TEST 3: .* - keep-alive probe after GET \/$/m, 'extra bytes: fails');
like($out, qr/5 unexpected bytes after the reply: 'EXTRA'/, 'the bytes are shown');
like($out, qr/^not ok \d+ - TEST 4: .* - keep-alive probe after 1 pipelined requests$/m, 'pipelined: fails');
is(scalar(main::inner_lines($out, 5, 'not ok')), 0, 'clean bodies and error replies pass');
is(scalar(main::inner_lines($out, 6, 'not ok')), 0, 'a closed connection passes');
like($out, qr/^not ok \d+ - TEST 7: .* - nothing after the end of the response to GET \/$/m,
     'bytes after a subscriber\'s response: fails');



=== TEST 25: [alert], [crit] and [emerg] fail a block unless it names them
--- test
# a [crit]: the temporary directory of request bodies is gone
my $pre = 'sub crit { rmdir(Test::Nginx::SSE::server_root() . "/client_body_temp") or die $!;'
        . ' return http("POST", "/t", "body")->{status} }';
my ($out) = main::inner_run(<<'INNER', preamble => $pre);
| === TEST 1: a [crit]
| --- config
| location /t { client_body_in_file_only on; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok; }
| location /ok { return 200; }
| --- test
| is(main::crit(), 500, 'status 500');
|
| === TEST 2: the same, provoked on purpose
| --- config
| location /t { client_body_in_file_only on; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok; }
| location /ok { return 200; }
| --- test
| is(main::crit(), 500, 'status 500');
| --- expect_alert
| client_body_temp/0000000001" failed (2: No such file or directory)
|
| === TEST 3: expect_alert that does not happen
| --- config
| location /t { return 200; }
| --- request
| GET /t
| --- expect_alert
| never logged
|
| === TEST 4: allow_alert that does not happen is fine
| --- config
| location /t { return 200; }
| --- request
| GET /t
| --- allow_alert
| never logged
|
| === TEST 5: an [emerg] of a failed reload
| --- workers: 1
| --- config
| location /t { return 200; }
| --- test
| my @w = nginx_reload(config => 'location /t { no_such_directive; }');
| is(scalar(@w), 0, 'no new workers');
INNER
like($out, qr/^not ok \d+ - TEST 1: .* - no \[alert\], \[crit\] or \[emerg\] in error\.log$/m, '[crit]: fails');
like($out, qr/^# .*\[crit\] .*client_body_temp.*No such file or directory/m, 'the line is shown');
is(scalar(main::inner_lines($out, 2, 'not ok')), 0, 'expect_alert: passes');
like($out, qr/^ok \d+ - TEST 2: .* - expect_alert 'client_body_temp.*'$/m,
     'expect_alert is an assertion');
like($out, qr/^not ok \d+ - TEST 3: .* - expect_alert 'never logged'$/m, 'an expected alert must happen');
is(scalar(main::inner_lines($out, 4, 'not ok')), 0, 'allow_alert need not happen');
like($out, qr/^not ok \d+ - TEST 5: .* - no \[alert\], \[crit\] or \[emerg\] in error\.log$/m, '[emerg]: fails');



=== TEST 26: must_die passes only on a normal non-zero exit with the error it names
--- test
my $blocks = <<'INNER';
| === TEST 1: a valid configuration
| --- config
| location /t { return 200; }
| --- must_die
| --- error_log
| whatever
|
| === TEST 2: no error_log
| --- config
| location /t { bogus_directive; }
| --- must_die
|
| === TEST 3: another error than the one named
| --- config
| location /t { bogus_directive; }
| --- must_die
| --- error_log
| invalid number
|
| === TEST 4: the error named
| --- config
| location /t { bogus_directive; }
| --- must_die
| --- error_log
| unknown directive "bogus_directive"
INNER
my ($out) = main::inner_run($blocks);
like($out, qr/^not ok \d+ - TEST 1: .* - nginx -t fails \(must_die\)$/m, 'a valid configuration: fails');
like($out, qr/^not ok \d+ - TEST 2: .* - must_die names the expected error$/m, 'no error_log: fails');
like($out, qr/^not ok \d+ - TEST 2: .* - no \[alert\], \[crit\] or \[emerg\] in error\.log$/m,
     'and its [emerg] is not declared');
like($out, qr/^not ok \d+ - TEST 3: .* - error_log has 'invalid number'$/m, 'another error: fails');
like($out, qr/^not ok \d+ - TEST 3: .* - no \[alert\], \[crit\] or \[emerg\] in error\.log$/m,
     'its [emerg] line is not the one named');
is(scalar(main::inner_lines($out, 4, 'not ok')), 0, 'the named error: passes');

# nginx -t that crashes (a wrapper that runs it, then dies of SIGSEGV), or
# reports a sanitizer error, fails even with the right message
my $dir = File::Temp::tempdir(TMPDIR => 1, CLEANUP => 1);
my $nginx = Test::Nginx::SSE::_which($Test::Nginx::SSE::NGINX_BINARY);
open my $fh, '>', "$dir/segv" or die;
print {$fh} "#!/bin/sh\n$nginx \"\$@\"\nkill -SEGV \$\$\n";
close $fh;
open $fh, '>', "$dir/asan" or die;
print {$fh} "#!/bin/sh\n$nginx \"\$@\"\necho '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2\nexit 1\n";
close $fh;
chmod 0755, "$dir/segv", "$dir/asan";
($out) = main::inner_run($blocks, env => { TEST_NGINX_BINARY => "$dir/segv" });
like($out, qr/^not ok \d+ - TEST 4: .* - nginx -t killed by signal 11$/m, 'nginx -t killed by a signal: fails');
($out) = main::inner_run($blocks, env => { TEST_NGINX_BINARY => "$dir/asan" });
like($out, qr/^not ok \d+ - TEST 4: .* - sanitizer reports$/m, 'a sanitizer report: fails');



=== TEST 27: a block that asserts nothing of its own fails
--- test
my ($out) = main::inner_run(<<'INNER');
| === TEST 1: nginx runs, nothing is checked
| --- config
| location /t { return 200; }
|
| === TEST 2: every assertion skipped
| --- test
| SKIP: { skip 'no tool', 2 }
|
| === TEST 3: one real assertion
| --- test
| SKIP: { skip 'no tool', 1 }
| pass('checked');
|
| === TEST 4: only no_error_log
| --- config
| location /t { return 200; }
| --- no_error_log
| [error]
INNER
like($out, qr/^not ok \d+ - TEST 1: .* - the block makes an assertion of its own$/m, 'nothing: fails');
like($out, qr/^not ok \d+ - TEST 2: .* - the block makes an assertion of its own$/m, 'only skips: fails');
is(scalar(main::inner_lines($out, 3, 'not ok')), 0, 'one assertion: passes');
is(scalar(main::inner_lines($out, 4, 'not ok')), 0, 'a log check is an assertion');
unlike($out, qr/nginx ran/, 'no "nginx ran" filler');



=== TEST 28: killed_workers needs a killed worker; other kills and crashes fail
--- test
my ($out) = main::inner_run(<<'INNER');
| === TEST 1: killed_workers, nobody killed
| --- workers: 2
| --- killed_workers
| --- config
| location /t { return 200; }
| --- request
| GET /t
|
| === TEST 2: killed_workers, a worker killed
| --- workers: 2
| --- killed_workers
| --- config
| location /t { return 200; }
| --- test
| my @w = worker_pids();
| kill 'KILL', $w[0];
| my $n = 0;
| select(undef, undef, undef, 0.05) while ++$n < 100 && grep { $_ == $w[0] } worker_pids();
| ok(!grep({ $_ == $w[0] } worker_pids()), 'gone');
|
| === TEST 3: a worker killed without killed_workers
| --- workers: 2
| --- config
| location /t { return 200; }
| --- test
| my @w = worker_pids();
| kill 'KILL', $w[0];
| select(undef, undef, undef, 0.3);
| pass('killed');
|
| === TEST 4: nginx itself dies of a signal
| --- config
| location /t { return 200; }
| --- test
| nginx_signal('SEGV');
| select(undef, undef, undef, 0.3);
| pass('signalled');
INNER
like($out, qr/^not ok \d+ - TEST 1: .* - a worker was killed \(killed_workers\)$/m, 'nobody killed: fails');
is(scalar(main::inner_lines($out, 2, 'not ok')), 0, 'a worker killed: passes');
like($out, qr/^not ok \d+ - TEST 3: .* - worker crashed$/m, 'without killed_workers: a crash');
like($out, qr/^not ok \d+ - TEST 3: .* - no \[alert\], \[crit\] or \[emerg\] in error\.log$/m, 'and an alert');
# under ASan a SIGSEGV is the sanitizer's: a report, then exit status 1
like($out, $Test::Nginx::SSE::ASAN
           ? qr/^not ok \d+ - TEST 4: .* - sanitizer reports$/m
           : qr/^not ok \d+ - TEST 4: .* - nginx killed by signal 11$/m,
     'nginx killed by a signal: fails');



=== TEST 29: t/016-redis.t without redis-server fails, it does not skip
--- test
my $dir = File::Temp::tempdir(TMPDIR => 1, CLEANUP => 1);
local $ENV{SSE_REDIS_SERVER} = '/nonexistent/redis-server';
local $ENV{TEST_NGINX_SERVROOT} = $dir;
my $t = `$^X t/016-redis.t 2>&1`;
isnt($? >> 8, 0, 'the file fails');
like($t, qr/^not ok \d+ - redis-server started$/m, 'a failure up front');
like($t, qr/^not ok \d+ - TEST 5: .* - placeholders expanded$/m, 'a block that needs Redis fails');
unlike($t, qr/# skip/i, 'nothing skipped');
