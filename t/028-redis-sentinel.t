# redis=redis+sentinel://: the primary found through Redis Sentinel, and
# followed through a failover.
#
# The file starts its own Redis deployment on free 127.0.0.1 ports: a
# primary, a replica (--replicaof) and three sentinels (down-after 1 s,
# failover-timeout 3 s), the same over TLS (rediss+sentinel://, certificates
# from redis_dir), and for the password block a primary and a sentinel that
# both want a password.  redis-server and redis-sentinel are taken from
# PATH (SSE_REDIS_SERVER: the redis-server; redis-sentinel and redis-cli
# beside it); a missing one is a failure, not a skip.  Every process is
# killed at the end.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::ServerB;
use JSON::PP;
use Test::Nginx::SSE::Redis;
use IO::Select;
use IO::Socket::INET;
use POSIX ();

sub server {
    my ($name, %o) = @_;
    my $r = redis_server($name, %o);
    return $r ? $r->{port} : undef;
}

sub sentinel {
    my ($name, $service, $primary, $quorum, %o) = @_;
    my $r = {port => Test::Nginx::SSE::_free_port(), pass => $o{pass}, tls => $o{tls}};
    my $conf = "$REDIS_DIR/$name.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    my @t = redis_tls_conf();
    print {$fh} $o{tls} ? "port 0\ntls-port $r->{port}\n" . join('', map { "$t[2 * $_] $t[2 * $_ + 1]\n" } 0 .. $#t / 2)
                        : "port $r->{port}\n";
    print {$fh} "bind 127.0.0.1\ndaemonize no\ndir $REDIS_DIR\n",
        "sentinel monitor $service 127.0.0.1 $primary $quorum\n",
        "sentinel down-after-milliseconds $service 1000\n",
        "sentinel failover-timeout $service 3000\n",
        "sentinel parallel-syncs $service 1\n";
    print {$fh} "requirepass $o{pass}\nsentinel auth-pass $service $o{pass}\n" if defined $o{pass};
    close $fh;
    return redis_spawn($name, $r, $SENTINEL_BIN, $conf) ? $r->{port} : undef;
}

# SENTINEL master SERVICE as a hash
sub sentinel_master {
    my ($r, $service) = @_;
    my @l = split /\n/, rcli($r, 'SENTINEL', 'master', $service);
    my %h;
    while (@l >= 2) { my ($k, $v) = splice(@l, 0, 2); $h{$k} = $v }
    return \%h;
}

# until every sentinel of @names knows the others and the replica of $service
sub sentinels_ready {
    my ($secs, $service, @names) = @_;
    my $deadline = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $deadline) {
        my $ok = 1;
        for my $n (@names) {
            my $m = sentinel_master($REDIS{$n}, $service);
            $ok = 0 unless ($m->{'num-other-sentinels'} // 0) == 2
                           && ($m->{'num-slaves'} // 0) == 1;
        }
        return 1 if $ok;
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

# the second nginx, two workers, same module; stopped when the object goes

sub tp { return {'Content-Type' => 'text/plain'} }

sub datas { join ',', map { $_->{data} } grep { defined $_->{id} } $_[0]->events }

sub ids { map { $_->{id} } grep { defined $_->{id} } $_[0]->events }

# lines of the log matching $re
sub count_log { my ($text, $re) = @_; my @m = ($text =~ /$re/g); return scalar @m }

our $LOC = 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }';

delete $ENV{$_} for grep { /^TEST_NGINX_(REDIS|SENTINEL)/ } keys %ENV;

if (!redis_bins()) {
    ok(0, 'redis-server, redis-sentinel and redis-cli found');
    diag('redis-server, redis-sentinel or redis-cli not found: scripts/deps.sh redis (make test) installs them');
} else {
    redis_dir('redis-sentinel');
    my $p = server('PRIMARY');
    my $r = $p && server('REPLICA', of => $p);
    my @s = $r ? map { sentinel("S$_", 'mymaster', $p, 2) } 1 .. 3 : ();
    my $pp = server('PPRIMARY', pass => 'se:cret');
    my $ps = $pp && sentinel('PS', 'pw', $pp, 1, pass => 'se:cret');
    # a sentinel that names a replica as the primary (quorum 5: it never
    # fails over)
    my $sr = $r && sentinel('SR', 'rolesvc', $r, 5);
    # the same over TLS: a primary, a replica, three sentinels
    my $tp = server('TPRIMARY', tls => 1);
    my $tr = $tp && server('TREPLICA', tls => 1, of => $tp);
    my @ts = $tr ? map { sentinel("TS$_", 'tls', $tp, 2, tls => 1) } 1 .. 3 : ();
    my $silent = redis_silent('SILENT');
    my $mute = redis_silent('MUTE', 1);
    if (@s == 3 && @ts == 3 && !grep({ !$_ } @s, @ts) and $ps and $sr and $silent and $mute) {
        $ENV{TEST_NGINX_SENTINEL_SILENT} = $silent;
        $ENV{TEST_NGINX_SENTINEL_MUTE} = $mute;
        $ENV{TEST_NGINX_SENTINEL_ROLE} = $sr;
        $ENV{TEST_NGINX_SENTINEL_TLS} = $ts[0];
        $ENV{TEST_NGINX_SENTINELS_TLS} = join ',', map { "127.0.0.1:$_" } @ts;
        $ENV{TEST_NGINX_DIR} = $REDIS_DIR;
        $ENV{TEST_NGINX_REDIS_PRIMARY} = $p;
        $ENV{TEST_NGINX_SENTINELS} = join ',', map { "127.0.0.1:$_" } @s;
        $ENV{TEST_NGINX_SENTINEL_PW} = $ps;
        ok(sentinels_ready(15 * timeout_factor(), 'mymaster', qw(S1 S2 S3)),
           'the sentinels know each other and the replica');
        ok(sentinels_ready(15 * timeout_factor(), 'tls', qw(TS1 TS2 TS3)),
           'the TLS sentinels know each other and the replica');
    } else {
        ok(0, 'the Redis deployment started');
    }
}

# A failover under a steady publish load: this block's nginx (A) and a
# server B (sse_zone line $o{http}) publish in turn on channel f while both
# have a subscriber on it; after 20 publishes the primary $o{primary} (a name
# in %REDIS) is SIGKILLed.  Then: 503s during the failover, both publish
# again within 15 s, ids only grow, $o{replica} is the primary of
# $o{service}, each subscriber has every accepted message once and in
# order, both logs name the failover.  $o{label} tells the diag lines apart.
sub failover_under_load {
    my (%o) = @_;
    my $bs = start_b(http => $o{http}, config => $::LOC);
    my ($p, $rp) = ($REDIS{$o{primary}}{port}, $REDIS{$o{replica}}{port});
    ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
    ok(wait_log(sub { $bs->log }, qr/redis \S+ connected/, 2), 'B connected');

    my $sa = sse_open('/sub?channel=f');
    my $sb = sse_open('/sub?channel=f', undef, port => $bs->{port});
    Time::HiRes::sleep(0.6 * timeout_factor());

    my (@ok, $killed, %after, $n);
    my $deadline = Time::HiRes::time() + 30 * timeout_factor();
    my $last = 0;
    my $fail = 0;
    while (Time::HiRes::time() < $deadline) {
        my $srv = $n++ % 2;
        my $r = http('POST', '/pub?channel=f', "m$n", tp(), $srv ? (port => $bs->{port}) : (),
                     timeout => 3);
        if ($r->{status} == 200) {
            my $id = decode_json($r->{body})->{id};
            $fail++ if $id <= $last;
            $last = $id;
            push @ok, "m$n";
            $after{$srv} //= Time::HiRes::time() - $killed if $killed && $after{fail};
        } elsif ($r->{status} == 503) {
            $after{fail}++ if $killed;
        } else {
            ok(0, "publish: status $r->{status}");
        }
        if (!$killed && $n == 20) {
            my $pr = $REDIS{$o{primary}};
            kill 'KILL', $pr->{pid};
            waitpid($pr->{pid}, 0);
            delete $pr->{pid};
            $killed = Time::HiRes::time();
        }
        last if defined $after{0} && defined $after{1} && ++$after{more} > 20;
        sse_pump([$sa, $sb], 0.05);
    }
    ok($after{fail}, "publishes during the failover: 503 ($after{fail})");
    ok(defined $after{0} && $after{0} < 15, sprintf('A publishes again %.1f s after the kill', $after{0} // -1));
    ok(defined $after{1} && $after{1} < 15, sprintf('B publishes again %.1f s after the kill', $after{1} // -1));
    diag(sprintf('%s failover: A %.1f s, B %.1f s', $o{label}, $after{0} // -1, $after{1} // -1));
    is($fail, 0, 'publish ids only grow');
    is(rcli($REDIS{$o{replica}}, 'ROLE') =~ /^master/ ? 1 : 0, 1, 'the replica is the primary now');

    my $want = $ok[-1];
    sse_pump([$sa, $sb], 10, sub { !grep { $_->body !~ /data: \Q$want\E\n/ } @{$_[0]} });
    for my $s ([A => $sa], [B => $sb]) {
        my @i = ids($s->[1]);
        my @sorted = sort { $a <=> $b } @i;
        my %seen;
        is(join(',', @i), join(',', @sorted), "$s->[0]: ids in order");
        is(scalar(grep { $seen{$_}++ } @i), 0, "$s->[0]: no duplicates");
        my %got = map { $_ => 1 } split /,/, datas($s->[1]);
        is(join(',', grep { !$got{$_} } @ok), '', "$s->[0]: every accepted message");
    }
    my $log = error_log_text();
    my $re = qr/failover of "\Q$o{service}\E": primary 127\.0\.0\.1:$p -> 127\.0\.0\.1:$rp\b/;
    like($log, $re, 'A: the failover is logged');
    like($bs->log, $re, 'B: the failover is logged');
    ok(count_log($log, qr/redis \S+ lost/) <= 2, 'A: few lines, no flood');
    ok(count_log($log, qr/redis \S+ reconnected/) >= 1, 'A: reconnected');
}

run_tests();

__DATA__

=== TEST 1: the primary found through the sentinels: cross-server delivery, one log line
--- http_config
sse_zone zone=s1:1m redis=redis+sentinel://$TEST_NGINX_SENTINELS/mymaster;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=s1:1m redis=redis+sentinel://$ENV{TEST_NGINX_SENTINELS}/mymaster;",
                config => $::LOC);
my $p = $ENV{TEST_NGINX_REDIS_PRIMARY};
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected (2 workers)');
is(count_log(error_log_text(), qr/the primary of "mymaster" is 127\.0\.0\.1:$p\b/), 1,
   'A: one line names the primary');

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
is(rcli($::REDIS{PRIMARY}, 'EXISTS', 'sse:{s1}:log'), '1', 'the log is on the primary');
--- no_error_log
[alert]



=== TEST 2: sentinels with a password: the URL's credentials authenticate to them and to the primary
--- http_config
sse_zone zone=s2:1m redis=redis+sentinel://:se%3Acret@127.0.0.1:$TEST_NGINX_SENTINEL_PW/pw/1;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis redis\+sentinel:\/\/:\*\*\*\@\S+\/pw\/1 connected/, 1),
   'connected, the password masked');
my $s = sse_open('/sub?channel=p');
is(http('POST', '/pub?channel=p', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered through the primary');
is(rcli($::REDIS{PPRIMARY}, '-n', 1, 'EXISTS', 'sse:{s2}:log'), '1', 'the log is in database 1');
unlike(error_log_text(), qr/se:cret|se%3Acret/, 'the password is in no log');
--- no_error_log
[alert]



=== TEST 3: a wrong sentinel password: 503, one line naming the sentinel's refusal
--- http_config
sse_zone zone=s3:1m redis=redis+sentinel://:wrong@127.0.0.1:$TEST_NGINX_SENTINEL_PW/pw;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/sentinel 127\.0\.0\.1:\d+ failed \(authentication failed: WRONGPASS/, 1),
   'the log names the sentinel and authentication');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
Time::HiRes::sleep(2 * timeout_factor());
is(count_log(error_log_text(), qr/sentinel \S+ failed/), 1, 'one line, none per retry');
--- no_error_log
[alert]



=== TEST 4: a service the sentinels do not know: 503, the log says so
--- http_config
sse_zone zone=s4:1m redis=redis+sentinel://$TEST_NGINX_SENTINELS/nosuch;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/sentinel \S+ failed \(it does not know "nosuch"\)/, 1), 'the log says so');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 5: a sentinel that names a replica: ROLE says so, 503, the log names it
--- http_config
sse_zone zone=s6:1m redis=redis+sentinel://127.0.0.1:$TEST_NGINX_SENTINEL_ROLE/rolesvc;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis \S+ unavailable \(not the primary \(ROLE: slave\)\), retrying/, 1),
   'the log says it is not the primary');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
Time::HiRes::sleep(1 * timeout_factor());
is(count_log(error_log_text(), qr/redis \S+ unavailable/), 1, 'one line, none per retry');
--- no_error_log
[alert]



=== TEST 6: rediss+sentinel://: the sentinel and the primary over TLS, certificates and addresses verified
--- http_config
sse_zone zone=s7:1m redis=rediss+sentinel://127.0.0.1:$TEST_NGINX_SENTINEL_TLS/tls redis_tls_ca=$TEST_NGINX_DIR/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis rediss\+sentinel:\S+ connected/, 1), 'connected over TLS');
my $s = sse_open('/sub?channel=t');
is(http('POST', '/pub?channel=t', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered through the primary');
is(rcli($::REDIS{TPRIMARY}, 'EXISTS', 'sse:{s7}:log'), '1', 'the log is on the TLS primary');
--- no_error_log
[alert]



=== TEST 7: rediss+sentinel:// with the system's CAs: the sentinel's certificate is refused
--- http_config
sse_zone zone=s8:1m redis=rediss+sentinel://127.0.0.1:$TEST_NGINX_SENTINEL_TLS/tls;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/sentinel 127\.0\.0\.1:\d+ failed \(TLS verification failed: certificate verify error/, 1),
   'the log names TLS verification at the sentinel');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 8: the primary is killed under a steady publish load: the failover is followed
--- http_config
sse_zone zone=s5:1m redis=redis+sentinel://$TEST_NGINX_SENTINELS/mymaster;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
failover_under_load(primary => 'PRIMARY', replica => 'REPLICA', service => 'mymaster',
                    http => "sse_zone zone=s5:1m redis=redis+sentinel://$ENV{TEST_NGINX_SENTINELS}/mymaster;",
                    label => 'plain');
--- no_error_log
[alert]



=== TEST 9: redis+sentinel:// without a service name
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1:26379;
--- config
--- must_die
--- error_log
no service name (redis+sentinel://host/SERVICE[/DB]) in redis URL "redis=redis+sentinel://127.0.0.1:26379" in sse_zone



=== TEST 10: redis+sentinel:// with a bad database
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1/mymaster/x;
--- config
--- must_die
--- error_log
invalid database number in redis URL "redis=redis+sentinel://127.0.0.1/mymaster/x" in sse_zone



=== TEST 11: rediss+sentinel:// with a bad port
--- http_config
sse_zone zone=c:1m redis=rediss+sentinel://127.0.0.1:26379,127.0.0.1:0/mymaster;
--- config
--- must_die
--- error_log
invalid port in redis URL "redis=rediss+sentinel://127.0.0.1:26379,127.0.0.1:0/mymaster" in sse_zone



=== TEST 12: redis+sentinel:// with an empty service name
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1//1;
--- config
--- must_die
--- error_log
no service name (redis+sentinel://host/SERVICE[/DB]) in redis URL "redis=redis+sentinel://127.0.0.1//1" in sse_zone



=== TEST 13: redis_tls_* with a redis+sentinel:// URL (not TLS)
--- http_config
sse_zone zone=c:1m redis=redis+sentinel://127.0.0.1/mymaster redis_tls_ca=/etc/ssl/x.pem;
--- config
--- must_die
--- error_log
redis_tls_* parameters of sse_zone "c" need a rediss:// URL, not "redis+sentinel://127.0.0.1/mymaster"



=== TEST 14: a sentinel that accepts the connection and never answers: the set-up times out, the next is asked
--- http_config
sse_zone zone=s15:1m redis=redis+sentinel://127.0.0.1:$TEST_NGINX_SENTINEL_SILENT,$TEST_NGINX_SENTINELS/mymaster;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $silent = $ENV{TEST_NGINX_SENTINEL_SILENT};
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1, 15), 'connected through the next sentinel');
like(error_log_text(), qr/sentinel 127\.0\.0\.1:$silent failed \(no reply to AUTH, SELECT or PING in time\), trying the next/,
     'the silent sentinel is named, with the timeout');
my $s = sse_open('/sub?channel=q');
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=q', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered through the primary');
--- no_error_log
[alert]



=== TEST 15: a sentinel that answers PING but never the question: the question times out, the next is asked
--- http_config
sse_zone zone=s16:1m redis=redis+sentinel://127.0.0.1:$TEST_NGINX_SENTINEL_MUTE,$TEST_NGINX_SENTINELS/mymaster;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $mute = $ENV{TEST_NGINX_SENTINEL_MUTE};
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1, 15), 'connected through the next sentinel');
like(error_log_text(), qr/sentinel 127\.0\.0\.1:$mute failed \(no answer to (?:SENTINEL get-master-addr-by-name|SUBSCRIBE \+switch-master) in time\), trying the next/,
     'the mute sentinel is named, with the timeout');
my $closed = sub { my $t = -e "$ENV{TEST_NGINX_DIR}/MUTE.closed" ? do { local (@ARGV, $/) = ("$ENV{TEST_NGINX_DIR}/MUTE.closed"); <> } : ''; scalar(() = $t =~ /closed/g) };
ok(wait_log(sub { 'closed' x $closed->() }, qr/closed/, 2, 10),
   'both connections to it (the question, the +switch-master watch) moved on: ' . $closed->() . ' closed');
my $s = sse_open('/sub?channel=q');
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=q', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered through the primary');
--- no_error_log
[alert]



=== TEST 16: rediss+sentinel://: the TLS primary is killed under a steady publish load: the failover is followed
--- http_config
sse_zone zone=s17:1m redis=rediss+sentinel://$TEST_NGINX_SENTINELS_TLS/tls redis_tls_ca=$TEST_NGINX_DIR/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
failover_under_load(primary => 'TPRIMARY', replica => 'TREPLICA', service => 'tls',
                    http => "sse_zone zone=s17:1m redis=rediss+sentinel://$ENV{TEST_NGINX_SENTINELS_TLS}/tls"
                          . " redis_tls_ca=$ENV{TEST_NGINX_DIR}/ca.crt;",
                    label => 'TLS');
--- no_error_log
[alert]
