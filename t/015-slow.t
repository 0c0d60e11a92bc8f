# Slow and stalled clients: many subscribers that never read keep the
# workers' memory bounded by sse_max_pending and do not slow the others;
# a stalled one that stays under the limit is kept; a graceful quit flushes
# what every stream holds and the workers exit promptly.
use lib 't/lib';
use Test::Nginx::SSE;

run_tests();

__DATA__

=== TEST 1: 40 stalled subscribers on 2 workers: closed past sse_max_pending, memory bounded, readers get everything
--- workers: 2
--- http_config
sse_zone zone=ev:8m history=4;
server {
    # reuseport: the subscribers are spread over both workers; a small send
    # buffer, so that what a client does not read waits in nginx
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 128k; sse_keepalive off; }
}
--- config
location /pub { sse_publish; client_body_buffer_size 128k; }
location /status { sse_status; }
--- test
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF sockaddr_in inet_aton);
use IO::Select;
use Time::HiRes qw(time sleep);

# Frames are shared by the subscribers of a worker, so without the cap the
# stalled connections would pin every message published after they stalled:
# COUNT * SIZE per worker (2 * 14.4 MB here).  With the cap each one holds
# at most 128k, and in fact is closed after three messages.
my ($STALLED, $READERS, $COUNT, $SIZE) = (40, 3, 300, 48 * 1024);
my $CAP = 128 * 1024;

# private anonymous memory (malloc) of the workers, in bytes; the shared
# zone's pages, which also count in VmRSS, are left out
my sub workers_anon {
    my $t = 0;
    for my $p (@_) {
        open my $f, '<', "/proc/$p/status" or next;
        my ($anon, $rss);
        while (<$f>) {
            $anon = $1 if /^RssAnon:\s+(\d+)/;
            $rss  = $1 if /^VmRSS:\s+(\d+)/;
        }
        $t += 1024 * ($anon // $rss // 0);
    }
    return $t;
}
my sub status {
    my $r = http('GET', '/status');
    return $r->{body} =~ /"subscribers":(\d+)/ ? $1 : -1;
}
my sub wait_subscribers {
    my ($n, $secs) = @_;
    my $deadline = time + $secs * timeout_factor();
    while (time < $deadline) {
        return $n if status() == $n;
        sleep 0.05;
    }
    return status();
}

my @w = worker_pids();
is(scalar(@w), 2, 'two workers');
http('GET', '/status');    # warm both paths up a little
my $before = workers_anon(@w);

# clients that send the request and never read, with a tiny receive buffer
my @stalled;
for (1 .. $STALLED) {
    socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($fh, SOL_SOCKET, SO_RCVBUF, 4096) or die "setsockopt: $!";
    connect($fh, sockaddr_in(port2(), inet_aton('127.0.0.1'))) or die "connect: $!";
    syswrite($fh, "GET /sub?channel=big HTTP/1.1\r\nHost: localhost\r\n"
                  . "Accept: text/event-stream\r\n\r\n");
    push @stalled, $fh;
}
# The readers parse as they go and keep nothing (the harness's clients keep
# the whole body, which gets slow at 14 MB each): HTTP/1.0, so the stream
# is the body as it is, up to the close.
my @readers;
for (1 .. $READERS) {
    socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    connect($fh, sockaddr_in(port2(), inet_aton('127.0.0.1'))) or die "connect: $!";
    syswrite($fh, "GET /sub?channel=big HTTP/1.0\r\nHost: localhost\r\n"
                  . "Accept: text/event-stream\r\n\r\n");
    push @readers, { fh => $fh, buf => '', head => undef, next => 1, bad => '' };
}
# reads what is there; true when every reader has every message up to $want
my sub pump_readers {
    my ($want, $secs) = @_;
    my $deadline = time + $secs * timeout_factor();
    while (1) {
        my @todo = grep { (!defined $_->{head} || $_->{next} <= $want)
                         && !$_->{eof} } @readers;
        return 1 unless @todo;
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my $sel = IO::Select->new(map { $_->{fh} } @todo);
        for my $fh ($sel->can_read($left)) {
            my ($r) = grep { $_->{fh} == $fh } @todo;
            my $n = sysread($fh, my $chunk, 262144);
            if (!$n) { $r->{eof} = 1; next; }
            $r->{buf} .= $chunk;
            if (!defined $r->{head}) {
                my $end = index($r->{buf}, "\r\n\r\n");
                next if $end < 0;
                $r->{head} = substr($r->{buf}, 0, $end + 4, '');
            }
            while ((my $end = index($r->{buf}, "\n\n")) >= 0) {
                my $ev = substr($r->{buf}, 0, $end + 2, '');
                next if $ev =~ /\A:/;    # a comment
                my $i = $r->{next}++;
                $r->{bad} ||= "message $i: " . substr($ev, 0, 40)
                    unless $ev =~ /\Aid: $i\ndata: m$i:(x+)\n\n\z/
                           && length($1) == $SIZE - length("m$i:");
            }
        }
    }
}
my $t_h = time + 5 * timeout_factor();
pump_readers(0, 0.1) while time < $t_h && grep { !defined $_->{head} } @readers;
is(scalar(grep { ($_->{head} // '') =~ m{\AHTTP/1\.[01] 200 } } @readers), $READERS,
   'readers connected');
is(wait_subscribers($STALLED + $READERS, 5), $STALLED + $READERS,
   'every stalled and reading subscriber registered');

my $peak = workers_anon(@w);
my $t0 = time;
my $lagging = 0;
for my $i (1 .. $COUNT) {
    my $data = sprintf('m%d:', $i);
    $data .= 'x' x ($SIZE - length $data);
    my $r = http('POST', '/pub?channel=big', $data, {'Content-Type' => 'text/plain'});
    die "publish $i: $r->{status} $r->{body}" unless $r->{status} == 200;
    # the readers keep up: each has message $i before the next one goes out
    $lagging++ unless pump_readers($i, 3);
    my $m = workers_anon(@w);
    $peak = $m if $m > $peak;
}
my $elapsed = time - $t0;
is($lagging, 0, 'every message reached every reader within 3 s of its publish');

my $growth = $peak - $before;
my $uncapped = 2 * $COUNT * $SIZE;
# the cap for everyone, plus generous per-connection overhead and slack
my $bound = $STALLED * ($CAP + 64 * 1024) + 4 * 1024 * 1024;
diag(sprintf('%d x %dk published in %.1f s; workers\' private memory %.1f MB -> '
             . 'peak %.1f MB (+%.1f MB; bound %.1f MB; uncapped it would be '
             . '> %.1f MB)', $COUNT, $SIZE / 1024, $elapsed, $before / 1048576,
             $peak / 1048576, $growth / 1048576, $bound / 1048576,
             $uncapped / 1048576));
SKIP: {
    # valgrind's shadow memory and ASan's quarantine of freed blocks are
    # counted in the workers' memory: the figure means nothing there
    skip 'memory figures are meaningless under valgrind / ASan', 2
        if $ENV{TEST_NGINX_VALGRIND} || $ENV{TEST_NGINX_ASAN};
    cmp_ok($growth, '<', $bound, 'memory growth bounded by sse_max_pending');
    cmp_ok($bound, '<', $uncapped, '(the bound would catch uncapped pending data)');
}

my $closed = () = error_log_text()
    =~ /slow subscriber has more than sse_max_pending bytes waiting, closing/g;
cmp_ok($closed, '>=', $STALLED - 2, "stalled subscribers closed and logged ($closed)");
is(wait_subscribers($READERS, 3), $READERS, 'only the readers are left in the status');

my @bad = grep { $_->{bad} || $_->{next} != $COUNT + 1 } @readers;
diag("reader: got up to " . ($_->{next} - 1) . " $_->{bad}") for @bad;
is(scalar(@bad), 0, "every reader got all $COUNT messages, whole and in order");
pump_readers($COUNT + 1, 0.2);
ok(!grep({ $_->{eof} } @readers), 'the readers are still connected');
close $_->{fh} for @readers;
close $_ for @stalled;
--- no_error_log
[alert]
[crit]



=== TEST 2: a stalled subscriber under sse_max_pending is kept and gets everything once it reads
--- workers: 2
--- http_config
sse_zone zone=ev:4m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 128k; sse_keepalive off; }
}
--- config
location /pub { sse_publish; }
location /status { sse_status; }
--- test
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF sockaddr_in inet_aton);
use IO::Select;
use Time::HiRes qw(time sleep);

socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($fh, SOL_SOCKET, SO_RCVBUF, 4096) or die "setsockopt: $!";
connect($fh, sockaddr_in(port2(), inet_aton('127.0.0.1'))) or die "connect: $!";
syswrite($fh, "GET /sub?channel=lag HTTP/1.1\r\nHost: localhost\r\n"
              . "Accept: text/event-stream\r\nConnection: close\r\n\r\n");
my $deadline = time + 5 * timeout_factor();
sleep 0.05 while time < $deadline && http('GET', '/status')->{body} !~ /"subscribers":1,/;

# 20 x 4k: more than the socket buffers hold, less than sse_max_pending
for my $i (1 .. 20) {
    my $r = http('POST', '/pub?channel=lag', "n$i:" . ('y' x 4000), {'Content-Type' => 'text/plain'});
    die "publish $i: $r->{status}" unless $r->{status} == 200;
}
sleep 1;
like(http('GET', '/status')->{body}, qr/"subscribers":1,/, 'still counted after 1 s');
unlike(error_log_text(), qr/slow subscriber/, 'not closed');

# now it reads: everything that waited arrives, in order
my $raw = '';
my $sel = IO::Select->new($fh);
$deadline = time + 5 * timeout_factor();
while (time < $deadline && $raw !~ /id: 20\r?\n.*?\n\n/s) {
    last unless $sel->can_read(0.5);
    my $n = sysread($fh, my $buf, 65536);
    last unless $n;
    $raw .= $buf;
}
my $body = Test::Nginx::SSE::_dechunk(($raw =~ /\r\n\r\n(.*)\z/s)[0] // '');
my @e = Test::Nginx::SSE::_parse_events($body);
is(join(',', map { $_->{id} } @e), join(',', 1 .. 20), 'all 20 arrived in order');
is(scalar(grep { $e[$_]{data} eq 'n' . ($_ + 1) . ':' . ('y' x 4000) } 0 .. $#e), 20,
   'whole');
close $fh;
--- no_error_log
[alert]
[crit]



=== TEST 3: graceful quit right after a burst: every stream flushed, then ended; workers exit promptly
--- workers: 2
--- http_config
sse_zone zone=ev:8m history=500;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport sndbuf=16k;
    location /sub { sse_subscribe; sse_max_pending 1m; sse_keepalive off; }
}
--- config
location /pub { sse_publish; client_max_body_size 4m; client_body_buffer_size 1m; }
location /status { sse_status; }
--- test
use Time::HiRes qw(time sleep);
my ($N, $SUBS) = (200, 6);
my @subs = map { sse_open('/sub?channel=q', undef, port => port2()) } 1 .. $SUBS;
is(scalar(grep { ($_->status // 0) == 200 } @subs), $SUBS, 'subscribers connected');
my $deadline = time + 5 * timeout_factor();
sleep 0.05 while time < $deadline
    && http('GET', '/status')->{body} !~ /"subscribers":$SUBS,/;

# 200 x 2k in one batch: ~400k per stream, far more than the socket buffers,
# so most of it still waits in nginx when the workers are told to quit
my $batch = '[' . join(',', map {
    qq({"channel":"q","data":"b$_:) . ('z' x 2000) . '"}'
} 1 .. $N) . ']';
my $r = http('POST', '/pub', $batch, {'Content-Type' => 'application/json'});
is($r->{status}, 200, 'burst published');
my @workers = worker_pids();
my $t0 = time;
nginx_signal('QUIT');

sse_pump(\@subs, 5, sub { !grep { !$_->closed } @{$_[0]} });
my $t_streams = time - $t0;
is(scalar(grep { $_->closed } @subs), $SUBS, 'every stream ended');
my $bad = 0;
for my $s (@subs) {
    my @e = $s->events;
    my $ok = join(',', map { $_->{id} // '?' } @e) eq join(',', 1 .. $N)
        && !grep { $e[$_]{data} ne 'b' . ($_ + 1) . ':' . ('z' x 2000) } 0 .. $#e;
    $bad++ unless $ok;
    diag(sprintf('stream got %d events, last id %s, error %s', scalar(@e),
                 @e ? $e[-1]{id} // '?' : '-', $s->error // 'none')) unless $ok;
}
is($bad, 0, "each stream got all $N messages before it ended");
is(scalar(grep { !$_->finished } @subs), 0, 'each ended cleanly (last chunk sent)');

# the workers and the master exit without waiting for worker_shutdown_timeout
my $master = nginx_pid();
my sub gone {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or return 1;
    my $s = <$f>;
    return $s =~ /\)\s+[ZX]\s/ ? 1 : 0;
}
$deadline = $t0 + 5 * timeout_factor();
sleep 0.02 while time < $deadline && (grep { !gone($_) } @workers, $master);
my $t_exit = time - $t0;
diag(sprintf('streams ended %.2f s, nginx exited %.2f s after SIGQUIT', $t_streams, $t_exit));
is(scalar(grep { !gone($_) } @workers), 0, 'workers exited');
cmp_ok($t_exit, '<', 3 * timeout_factor(), 'promptly, not at worker_shutdown_timeout');
--- no_error_log
[alert]
[crit]
open socket
