# redis=redis+cluster://: a zone's keys in one slot of a Redis Cluster, on
# the primary that serves it, found from seed nodes and followed when the
# slot moves (MOVED) and through a failover.
#
# The file starts its own clusters (Test::Nginx::SSE::Redis, cluster_*): six
# redis-servers on free 127.0.0.1 ports, three primaries with a replica
# each, cluster-node-timeout 1 s, no persistence; one plain, one with a
# password (requirepass and masterauth), one over TLS (tls-cluster, the CA
# redis_dir makes).  Every process is killed at the end.  The seeds given to nginx
# are nodes that do not serve the zone's slot.  TEST 10 and TEST 15 SIGKILL
# a primary (of the plain cluster, of the TLS one): TEST 15 comes last so
# that the TLS cluster is whole for TEST 13 and 14.
use lib 't/lib';
use Test::Nginx::SSE;
use Test::Nginx::SSE::ServerB;
use Test::Nginx::SSE::Redis;
use Test::Nginx::SSE::Load;
use JSON::PP;
use POSIX ();
use Time::HiRes ();

our ($CL, $CLA, $CLT);

sub tp { return {'Content-Type' => 'text/plain'} }

sub datas { join ',', map { $_->{data} } msgs($_[0]) }

# lines of the log matching $re
sub count_log { my ($text, $re) = @_; my @m = ($text =~ /$re/g); return scalar @m }

# "127.0.0.1:PORT" of a primary that does not serve the zone's slot
sub seed {
    my ($c, $zone) = @_;
    my $owner = cluster_owner($c, cluster_slot($c, "sse:{$zone}:id"));
    my ($other) = grep { $_ ne $owner } cluster_primaries($c);
    return "127.0.0.1:$other";
}

# publishes until one gets 200 (at most $secs): its response, the time taken
sub publish_until_ok {
    my ($path, $data, $secs, %o) = @_;
    my $t0 = Time::HiRes::time();
    my $r;
    while (Time::HiRes::time() - $t0 < $secs * timeout_factor()) {
        $r = http('POST', $path, $data, tp(), %o, timeout => 3);
        last if $r->{status} == 200;
        Time::HiRes::sleep(0.05);
    }
    return ($r, Time::HiRes::time() - $t0);
}

# The zone's slot migrated key by key while this block's nginx (A) and a
# server B (sse_zone line $o{b_http}) publish: one key per MIGRATE, 0.3 s
# apart (a publish finds its keys on both nodes, TRYAGAIN, or on the new
# one only, ASK), then every key moved and the slot still migrating for
# 0.6 s (ASK), then SETSLOT NODE (MOVED).  Every publish must be
# acknowledged, each message once in the new primary's log and to each
# subscriber, in order, no sse_gap.  $o{label} tells the diag lines apart.
sub migrate_under_load {
    my (%o) = @_;
    my ($c, $zone, $label) = @o{qw(cluster zone label)};
    my $bs = start_b(http => $o{b_http}, config => $::LOC);
    my $slot = cluster_slot($c, "sse:{$zone}:id");
    my $src = cluster_owner($c, $slot);
    my ($dst) = grep { $_ ne $src } cluster_primaries($c);
    ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
    ok(wait_log(sub { $bs->log }, qr/redis \S+ connected/, 2), 'B connected');

    my @s = ((map { sse_open('/sub?channel=load') } 1 .. 2),
             (map { sse_open('/sub?channel=load', undef, port => $bs->{port}) } 1 .. 2));
    # both servers report their subscribers: those keys move too
    Time::HiRes::sleep(0.6 * timeout_factor());

    my $dir = server_root();
    my $n = 400;
    my @pids = (publisher("$dir/${zone}a", port(), 'a', $n, 0.01, 'load'),
                publisher("$dir/${zone}b", $bs->{port}, 'b', $n, 0.01, 'load'));
    sse_pump(\@s, 0.3);
    # one key per MIGRATE, 0.3 s apart: meanwhile a publish finds its keys
    # on both nodes (TRYAGAIN) or on the new one only (ASK); then all keys
    # moved, the slot still migrating (ASK) for 0.6 s; then SETSLOT NODE (MOVED)
    my @keys;
    ok(cluster_move_slot($c, $slot, $dst, each => 0.3, hold => 0.6, keys => \@keys),
       "slot $slot moved from $src to $dst key by key: @keys");
    cmp_ok(scalar(@keys), '>=', 4, 'the counter, the log and the reports moved one by one');
    my $t0 = Time::HiRes::time();
    my %running = map { $_ => 1 } @pids;
    while (%running && Time::HiRes::time() - $t0 < 40 * timeout_factor()) {
        sse_pump(\@s, 0.2);
        delete $running{$_} for grep { waitpid($_, POSIX::WNOHANG()) != 0 } keys %running;
    }
    ok(!%running, 'the publishers finished');

    my @r = published("$dir/${zone}a", "$dir/${zone}b");
    my @acked = grep { $_->{status} == 200 } @r;
    is(scalar(@r), 2 * $n, 'every publish recorded');
    my %refused;
    $refused{$_->{status}}++ for grep { $_->{status} != 200 } @r;
    is(scalar(@acked), scalar(@r), 'every publish acknowledged: none refused while the slot moved')
        or diag('refused: ' . join(', ', map { "$refused{$_} x $_" } sort keys %refused));
    my %n;
    $n{$_->{id}}++ for @acked;
    is(scalar(grep { $n{$_} > 1 } keys %n), 0, 'no id acknowledged twice');
    for my $tag ('a', 'b') {
        my @ids = map { $_->{id} } sort { $a->{at} <=> $b->{at} } grep { $_->{data} =~ /^$tag/ } @acked;
        is(scalar(grep { $ids[$_] <= $ids[$_ - 1] } 1 .. $#ids), 0, "publisher $tag: ids only grow");
    }
    is(cluster_cli($c, $dst, 'XLEN', "sse:{$zone}:log"), scalar(@acked),
       'the log on the new primary holds every message, once');
    is(scalar(cluster_owner($c, $slot)), $dst, 'the new primary serves the slot');

    my ($last) = sort { $b->{id} <=> $a->{id} } @acked;
    sse_pump(\@s, 10, sub { !grep { $_->body !~ /id: $last->{id}\n/ } @{$_[0]} });
    my $sum = check_subscribers(\@s, \@acked);
    is(scalar(map { gaps($_) } @s), 0, 'no sse_gap');
    is($sum->{covered}, 0, 'every message delivered to every subscriber');
    for my $srv (['A', error_log_text()], ['B', $bs->log]) {
        like($srv->[1], qr/slot $slot is being migrated to 127\.0\.0\.1:$dst: commands follow ASK/,
             "$srv->[0]: ASK followed, logged");
        like($srv->[1], qr/slot $slot moved \(failover or resharding\): primary 127\.0\.0\.1:$src -> 127\.0\.0\.1:$dst/,
             "$srv->[0]: the move logged");
    }
    diag(sprintf('%s resharding under load: %d published, %d acknowledged, keys moved: %s',
                 $label, scalar(@r), scalar(@acked), join(' ', @keys)));
    $bs->stop;
}

# TEST 10 and TEST 15: the slot's primary of $o{zone} in the cluster
# $o{cluster} SIGKILLed while two publishers publish, one on this block's
# nginx (A), one on a second server started with $o{b_http} (its sse_zone
# line); the promoted replica made to miss the last writes first.  Publishing
# resumes within 15 s on both, every acknowledged message is delivered or in
# an sse_gap, no duplicate, ids only grow; the diag lines start with $o{label}
sub failover_under_load {
    my (%o) = @_;
    my ($c, $zone, $label) = @o{qw(cluster zone label)};
    my $bs = start_b(http => $o{b_http}, config => $::LOC);
    my $slot = cluster_slot($c, "sse:{$zone}:id");
    my ($owner, $replica) = cluster_owner($c, $slot);
    ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
    ok(wait_log(sub { $bs->log }, qr/redis \S+ connected/, 2), 'B connected');
    ok(cluster_linked($c, $replica, 15), "the replica ($replica) is linked to the primary ($owner)");

    my @s = ((map { sse_open('/sub?channel=load') } 1 .. 2),
             (map { sse_open('/sub?channel=load', undef, port => $bs->{port}) } 1 .. 2));
    Time::HiRes::sleep(0.5 * timeout_factor());

    my $dir = server_root();
    my $n = 600 * timeout_factor();
    my @pids = (publisher("$dir/pa", port(), 'a', $n, 0.01, 'load'),
                publisher("$dir/pb", $bs->{port}, 'b', $n, 0.01, 'load'));
    sse_pump(\@s, 1);
    # the replica misses what the primary acknowledges from now on: the
    # primary wants a password the replica does not have, and the replica's
    # link is cut (the connections already open stay authenticated)
    is(cluster_cli($c, $owner, 'CONFIG', 'SET', 'requirepass', 'not-for-the-replica'),
       'OK', 'the primary wants a password');
    is(cluster_cli($c, $replica, 'CLIENT', 'KILL', 'TYPE', 'master'), '1', "the replica's link cut");
    sse_pump(\@s, 0.3);
    cluster_kill($c, $owner);
    my $killed = Time::HiRes::time();
    my %running = map { $_ => 1 } @pids;
    while (%running && Time::HiRes::time() - $killed < 40 * timeout_factor()) {
        sse_pump(\@s, 0.2);
        delete $running{$_} for grep { waitpid($_, POSIX::WNOHANG()) != 0 } keys %running;
    }

    # publishing resumed: from the records, or by publishing now
    my @r = published("$dir/pa", "$dir/pb");
    my %back;
    for my $srv (['A', port(), 'a'], ['B', $bs->{port}, 'b']) {
        my ($name, $port, $tag) = @$srv;
        my ($first) = grep { $_->{data} =~ /^$tag/ && $_->{at} > $killed && $_->{status} == 200 }
                      sort { $a->{at} <=> $b->{at} } @r;
        my $failed = grep { $_->{data} =~ /^$tag/ && $_->{at} > $killed && $_->{status} != 200 } @r;
        if ($first && $failed) {
            $back{$name} = $first->{at} - $killed;
        } else {
            my ($rr, $t) = publish_until_ok('/pub?channel=load', "end$tag", 15, port => $port);
            $back{$name} = $rr->{status} == 200 ? Time::HiRes::time() - $killed : undef;
        }
        ok(defined $back{$name} && $back{$name} < 15,
           sprintf('%s publishes again %.1f s after the kill', $name, $back{$name} // -1));
    }
    diag(sprintf('%s failover: A publishes again after %.1f s, B after %.1f s',
                 $label, $back{A} // -1, $back{B} // -1));
    ok(cluster_ok($c, 10), 'the cluster is ok again');
    is(scalar(cluster_owner($c, $slot)), $replica, "the replica serves the slot now");

    my @acked = grep { $_->{status} == 200 } @r;
    cmp_ok(scalar(@acked), '>', 100, scalar(@acked) . ' acknowledged of ' . scalar(@r));
    is(scalar(grep { $_->{status} != 200 && $_->{status} != 503 } @r), 0, '200 or 503 only');
    my %n;
    $n{$_->{id}}++ for @acked;
    is(scalar(grep { $n{$_} > 1 } keys %n), 0, 'no id acknowledged twice');
    my @before = grep { $_->{at} < $killed } @acked;
    my ($top) = sort { $b->{id} <=> $a->{id} } @before;
    my $key = "sse:{$zone}:log";
    my $log_new = cluster_cli($c, $replica, 'XRANGE', $key, "$top->{id}-0", "$top->{id}-0");
    my $kept = grep { /^\d+-0$/ } split /\n/, cluster_cli($c, $replica, 'XRANGE', $key, '-', "$top->{id}-0");
    my $missed = grep { $_->{id} > 0 } @before;
    ok($log_new eq '', "the promoted replica missed writes (the newest before the kill, $top->{id}, is not in its log)");
    my ($next) = sort { $a->{id} <=> $b->{id} } grep { $_->{at} > $killed } @acked;
    $next //= {id => 0};
    cmp_ok($next->{id}, '>', $top->{id}, "the first id after the failover ($next->{id}) is past the last before ($top->{id})");
    diag(sprintf('%s failover: the promoted replica kept %d of the %d messages acknowledged before the kill; ids: %d before, %d after',
                 $label, $kept, $missed, $top->{id}, $next->{id}));
    for my $srv (['a', port()], ['b', $bs->{port}]) {
        my @ids = map { $_->{id} } sort { $a->{at} <=> $b->{at} } grep { $_->{data} =~ /^$srv->[0]/ } @acked;
        is(scalar(grep { $ids[$_] <= $ids[$_ - 1] } 1 .. $#ids), 0, "publisher $srv->[0]: ids only grow");
    }

    for my $end ([port(), 'zA'], [$bs->{port}, 'zB']) {
        my ($rr) = publish_until_ok('/pub?channel=load', $end->[1], 10, port => $end->[0]);
        is($rr->{status}, 200, "$end->[1] published");
    }
    sse_pump(\@s, 10, sub { !grep { $_->body !~ /data: zA\n/ || $_->body !~ /data: zB\n/ } @{$_[0]} });

    my $sum = check_subscribers(\@s, \@acked);
    diag(sprintf('%s failover under load: %d acknowledged, %d answered 503; not delivered: %d, of which covered by sse_gap: %d (sums over 4 subscribers); duplicates: 0 checked',
                 $label, scalar(@acked), scalar(grep { $_->{status} == 503 } @r), $sum->{covered},
                 $sum->{covered} - $sum->{lost}));
    my $moved = qr/slot $slot moved \(failover or resharding\): primary 127\.0\.0\.1:$owner -> 127\.0\.0\.1:$replica/;
    like(error_log_text(), $moved, 'A: the failover is logged');
    like($bs->log, $moved, 'B: the failover is logged');
    my $log = error_log_text();
    my $lines = count_log($log, qr/redis \S+ (?:lost|unavailable)/);
    ok($lines <= 4, "A: few lines, no flood ($lines)");
    ok(count_log($log, qr/redis \S+ reconnected/) >= 1, 'A: reconnected');
    $bs->stop;
}

our $LOC = 'location /sub { sse_subscribe; sse_keepalive off; } location /pub { sse_publish; }';

# a made-up cluster node that serves every slot and answers scripts as
# $REDIS_DIR/NAME.mode says, one rule a line: "DATA ACTION" for the publish
# of DATA, or ACTION alone for every script; ACTION: "tryagain", "moved"
# (to itself), "moved:PORT", "ask:PORT", "ok" (a publish's reply, ids from
# 100), "hang" (nothing more on that connection), "late:SECS:ACTION"
sub fake_node {
    my ($name, $slot) = @_;
    my $id = 100;
    return redis_fake($name, sub {
        my ($args, $port) = @_;
        my $cmd = uc $args->[0];
        return "+PONG\r\n" if $cmd eq 'PING';
        return "+OK\r\n" if $cmd eq 'AUTH' || $cmd eq 'ASKING';
        return "*3\r\n\$6\r\nmaster\r\n:0\r\n*0\r\n" if $cmd eq 'ROLE';
        return "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n\$9\r\n127.0.0.1\r\n:$port\r\n"
            if $cmd eq 'CLUSTER';
        return sprintf("*3\r\n\$9\r\nsubscribe\r\n\$%d\r\n%s\r\n:1\r\n", length $args->[1], $args->[1])
            if $cmd eq 'SUBSCRIBE';
        return "*0\r\n" if $cmd eq 'XRANGE';
        return "-ERR not here\r\n" unless $cmd =~ /^EVAL/;
        my $rules = do { local (@ARGV, $/) = ("$REDIS_DIR/$name.mode"); -e $ARGV[0] ? <> : '' } // '';
        my $mode = '';
        for (split /\n/, $rules) {
            my ($data, $action) = /^(\S+)\s+(\S+)$/ ? ($1, $2) : ('*', $_);
            $mode = $action, last if $data eq '*' || $data eq $args->[-1];
        }
        my $late = $mode =~ s/^late:([\d.]+)://? $1 : 0;
        my $reply = $mode eq 'tryagain' ? "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
                  : $mode eq 'moved' ? "-MOVED $slot 127.0.0.1:$port\r\n"
                  : $mode =~ /^moved:(\d+)/ ? "-MOVED $slot 127.0.0.1:$1\r\n"
                  : $mode =~ /^ask:(\d+)/ ? "-ASK $slot 127.0.0.1:$1\r\n"
                  : $mode eq 'ok' ? sprintf("*2\r\n:%d\r\n:0\r\n", $id++)
                  : "-ERR not here\r\n";
        return \'hang' if $mode eq 'hang';
        return $late ? [$late, $reply] : $reply;
    });
}

# fake_mode($rules [, $name]): the rules of a made-up node (FAKE by default)
sub fake_mode {
    my ($rules, $name) = @_;
    open my $f, '>', "$REDIS_DIR/" . ($name // 'FAKE') . '.mode' or die "mode: $!";
    print {$f} $rules;
    close $f;
}

delete $ENV{$_} for grep { /^TEST_NGINX_(CL|SEED)/ } keys %ENV;

if (!redis_bins()) {
    ok(0, 'redis-server and redis-cli found');
    diag('redis-server, or redis-cli or redis-sentinel beside it, not found'
         . ': scripts/deps.sh redis (make test) installs them');
} else {
    $ENV{TEST_NGINX_CL_DIR} = redis_dir('redis-cluster');
    my $t0 = Time::HiRes::time();
    $CL = cluster_start('P');
    $CLA = $CL && cluster_start('A', pass => 'cl:pw');
    $CLT = $CLA && cluster_start('T', tls => 1);
    if ($CLT) {
        diag(sprintf('three clusters up in %.1f s', Time::HiRes::time() - $t0));
        $ENV{"TEST_NGINX_SEED_$_"} = seed($CL, $_) for qw(cl2 cl3 clm);
        $ENV{TEST_NGINX_SEED_cla} = seed($CLA, 'cla');
        $ENV{TEST_NGINX_SEED_clt} = seed($CLT, 'clt');
        $ENV{TEST_NGINX_SEED_clmt} = seed($CLT, 'clmt');
        $ENV{TEST_NGINX_SEEDS_cl3} = join ',', map { "127.0.0.1:$_" } @{$CL->{ports}}[0 .. 2];
        $ENV{TEST_NGINX_SEEDS_clt3} = join ',', map { "127.0.0.1:$_" } @{$CLT->{ports}}[0 .. 2];
        $ENV{TEST_NGINX_CL_SILENT} = redis_silent('SILENT');
        $ENV{TEST_NGINX_CL_MUTE} = redis_silent('MUTE', 1);
        $ENV{TEST_NGINX_CL_FAKE} = fake_node('FAKE', cluster_slot($CL, 'sse:{clf}:id'));
        $ENV{"TEST_NGINX_CL_D$_"} = fake_node("D$_", cluster_slot($CL, 'sse:{cld}:id')) for 1 .. 3;
    } else {
        ok(0, 'the Redis clusters started');
    }
}

run_tests();

__DATA__

=== TEST 1: redis+cluster:// with a database
--- http_config
sse_zone zone=c:1m redis=redis+cluster://127.0.0.1:7000/0;
--- config
--- must_die
--- error_log
a database number (Redis Cluster has database 0 only) in redis URL "redis=redis+cluster://127.0.0.1:7000/0" in sse_zone



=== TEST 2: redis+cluster:// with an empty seed
--- http_config
sse_zone zone=c:1m redis=redis+cluster://127.0.0.1:7000,,127.0.0.1:7001;
--- config
--- must_die
--- error_log
an empty host in redis URL "redis=redis+cluster://127.0.0.1:7000,,127.0.0.1:7001" in sse_zone



=== TEST 3: rediss+cluster:// with a bad port
--- http_config
sse_zone zone=c:1m redis=rediss+cluster://127.0.0.1:7000,127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid port in redis URL "redis=rediss+cluster://127.0.0.1:7000,127.0.0.1:99999" in sse_zone



=== TEST 4: redis+cluster:// with a user and no password
--- http_config
sse_zone zone=c:1m redis=redis+cluster://ann@127.0.0.1:7000;
--- config
--- must_die
--- error_log
a user without a password in redis URL "redis=redis+cluster://ann@127.0.0.1:7000" in sse_zone



=== TEST 5: redis+cluster:// without a host
--- http_config
sse_zone zone=c:1m redis=redis+cluster://;
--- config
--- must_die
--- error_log
no host in redis URL "redis=redis+cluster://" in sse_zone



=== TEST 6: a zone name without a hash tag
--- http_config
sse_zone zone=}x:1m redis=redis+cluster://127.0.0.1:7000;
--- config
--- must_die
--- error_log
sse_zone "}x": a zone name that starts with "}" cannot be used with Redis Cluster



=== TEST 7: a valid cluster URL (user, password, several seeds, default port) whose seeds do not answer: 503, one line
--- http_config
sse_zone zone=c6:1m redis=redis+cluster://ann:s%40cret@127.0.0.1:1,127.0.0.1:2,localhost;
sse_zone zone=c6t:1m redis=rediss+cluster://127.0.0.1:1 redis_tls_ca=$TEST_NGINX_CL_DIR/ca.crt;
--- config
location /pub { sse_publish zone=c6; }
--- test
ok(wait_log(\&error_log_text, qr/redis redis\+cluster:\/\/ann:\*\*\*\@\S+: cluster node 127\.0\.0\.1:1 failed \(connection failed/, 1),
   'the log names the seed that failed, the password masked');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
Time::HiRes::sleep(1.5 * timeout_factor());
is(count_log(error_log_text(), qr/zone "c6": redis \S+: cluster node \S+ failed/), 1, 'one line, none per retry');
unlike(error_log_text(), qr/s\@cret|s%40cret/, 'the password is in no log');
--- no_error_log
[alert]



=== TEST 8: a seed that accepts and never answers, one that answers PING only: each timed out, the next asked
--- http_config
sse_zone zone=cls:1m redis=redis+cluster://127.0.0.1:$TEST_NGINX_CL_SILENT,127.0.0.1:$TEST_NGINX_CL_MUTE,$TEST_NGINX_SEED_cl2;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my ($silent, $mute) = ($ENV{TEST_NGINX_CL_SILENT}, $ENV{TEST_NGINX_CL_MUTE});
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1, 15), 'connected through the third seed');
like(error_log_text(), qr/cluster node 127\.0\.0\.1:$silent failed \(no reply to AUTH, SELECT or PING in time\), trying the next/,
     'the silent node is named, with the timeout');
my $s = sse_open('/sub?channel=q');
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=q', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', "delivered through the slot's primary");
my $closed = do { local (@ARGV, $/) = ("$ENV{TEST_NGINX_CL_DIR}/MUTE.closed"); -e $ARGV[0] ? <> : '' };
like($closed // '', qr/closed/, 'the mute node was left after its timeout (its connection closed)');
--- no_error_log
[alert]



=== TEST 9: two servers, seeded with a node that does not serve the slot: delivery across them; the slot moved (MOVED) is followed
--- http_config
sse_zone zone=cl2:1m redis=redis+cluster://$TEST_NGINX_SEED_cl2;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $b = start_b(http => "sse_zone zone=cl2:1m redis=redis+cluster://$ENV{TEST_NGINX_SEED_cl2};",
                config => $::LOC);
my $slot = cluster_slot($::CL, 'sse:{cl2}:id');
my $owner = cluster_owner($::CL, $slot);
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'A connected');
ok(wait_log(sub { $b->log }, qr/redis \S+ connected/, 2), 'B connected (2 workers)');
is(count_log(error_log_text(), qr/slot $slot is on primary 127\.0\.0\.1:$owner\b/), 1,
   "A: one line names the slot's primary");
isnt("127.0.0.1:$owner", $ENV{TEST_NGINX_SEED_cl2}, 'the seed is another node');

my $sa = sse_open('/sub?channel=n');
my $sb = sse_open('/sub?channel=n', undef, port => $b->{port});
Time::HiRes::sleep(0.6 * timeout_factor());
my $r = http('POST', '/pub?channel=n', 'one', tp());
is($r->{status}, 200, 'publish on A');
is(decode_json($r->{body})->{subscribers}, 2, 'both servers counted');
my $r2 = http('POST', '/pub?channel=n', 'two', tp(), port => $b->{port});
is($r2->{status}, 200, 'publish on B');
cmp_ok(decode_json($r2->{body})->{id}, '>', decode_json($r->{body})->{id}, 'one id space');
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: two\n/ } @{$_[0]} });
is(datas($sa), 'one,two', 'A: both messages');
is(datas($sb), 'one,two', 'B: both messages');
is(cluster_cli($::CL, $owner, 'EXISTS', 'sse:{cl2}:log'), '1', "the log is on the slot's primary");

# the slot moves to another primary, its keys with it
my ($dst) = grep { $_ ne $owner } cluster_primaries($::CL);
ok(cluster_move_slot($::CL, $slot, $dst), "slot $slot moved from $owner to $dst");
my ($ra, $ta) = publish_until_ok('/pub?channel=n', 'three', 10);
is($ra->{status}, 200, sprintf('A publishes again (%.1f s)', $ta));
my ($rb, $tb) = publish_until_ok('/pub?channel=n', 'four', 10, port => $b->{port});
is($rb->{status}, 200, sprintf('B publishes again (%.1f s)', $tb));
diag(sprintf('MOVED followed: A %.1f s, B %.1f s', $ta, $tb));
sse_pump([$sa, $sb], 5, sub { !grep { $_->body !~ /data: four\n/ } @{$_[0]} });
is(datas($sa), 'one,two,three,four', 'A: every message');
is(datas($sb), 'one,two,three,four', 'B: every message');
is(increasing($_), '', 'ids only grow') for $sa, $sb;
is(cluster_cli($::CL, $dst, 'XLEN', 'sse:{cl2}:log'), '4', 'the log is on the new primary');
like(error_log_text(), qr/slot $slot moved \(failover or resharding\): primary 127\.0\.0\.1:$owner -> 127\.0\.0\.1:$dst/,
     'A: the move is logged');
like($b->log, qr/slot $slot moved/, 'B: the move is logged');
ok(count_log(error_log_text(), qr/redis \S+ lost/) <= 2, 'A: few lines, no flood');
$b->stop;
--- no_error_log
[alert]



=== TEST 9b: the slot migrated key by key under load on two servers: ASK, TRYAGAIN and MOVED followed, no publish refused
--- http_config
sse_zone zone=clm:8m history=5000 redis=redis+cluster://$TEST_NGINX_SEED_clm;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
migrate_under_load(cluster => $::CL, zone => 'clm', label => 'plain',
                   b_http => "sse_zone zone=clm:8m history=5000 redis=redis+cluster://$ENV{TEST_NGINX_SEED_clm};");
--- no_error_log
[alert]
[crit]



=== TEST 9c: a node that redirects without end (TRYAGAIN, MOVED or ASK to itself), an ASK to a closed port, a silent node or one that answers PING only: 503, bounded, logged
--- http_config
sse_zone zone=clf:1m redis=redis+cluster://127.0.0.1:$TEST_NGINX_CL_FAKE;
--- config
location /pub { sse_publish; }
--- test
my $fake = $ENV{TEST_NGINX_CL_FAKE};
my $closed = Test::Nginx::SSE::_free_port();
my ($silent, $mute) = ($ENV{TEST_NGINX_CL_SILENT}, $ENV{TEST_NGINX_CL_MUTE});
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'connected to the made-up node');
for my $case (['tryagain', qr/refused the publish/, qr/TRYAGAIN Multiple keys/],
              ['moved', qr/refused the publish/, qr/MOVED \d+ 127\.0\.0\.1:$fake/],
              ["ask:$fake", qr/refused the publish/, qr/ASK \d+ 127\.0\.0\.1:$fake/],
              ["ask:$closed", qr/redis unavailable/, qr/node 127\.0\.0\.1:$closed named by ASK failed \(connection/],
              ["ask:$silent", qr/redis unavailable/,
               qr/node 127\.0\.0\.1:$silent named by ASK failed \(no reply to AUTH, SELECT or PING in time\)/],
              ["ask:$mute", qr/redis unavailable/,
               qr/node 127\.0\.0\.1:$mute named by ASK failed \(no reply in time\)/]) {
    my ($mode, $body, $line) = @$case;
    fake_mode($mode);
    my $r = http('POST', '/pub?channel=f', 'x', tp(), timeout => 15);
    is($r->{status}, 503, "$mode: 503");
    like($r->{body}, $body, "$mode: the reason");
    ok(wait_log(\&error_log_text, $line, 1, 5), "$mode: logged");
}
like(error_log_text(), qr/slot \d+ is being migrated to 127\.0\.0\.1:$fake: commands follow ASK/, 'the ASK logged');
fake_mode('tryagain');
is(http('POST', '/pub?channel=f', 'x', tp(), timeout => 15)->{status}, 503, 'the worker still answers');
--- no_error_log
[alert]
[crit]



=== TEST 9d: the old primary silent while the command connection moves (MOVED): after 1 s what it had answers 503, what was held goes to the new primary
--- http_config
sse_zone zone=cld:1m redis=redis+cluster://127.0.0.1:$TEST_NGINX_CL_D1;
--- config
location /pub { sse_publish; }
--- test
my ($d1, $d2, $d3) = map { $ENV{"TEST_NGINX_CL_D$_"} } 1 .. 3;
# D1 serves the slot and sends p1 on to D2 (ASK); D2 answers 0.6 s later
# that D3 serves the slot now (MOVED).  Meanwhile q1 went to D1, which
# hangs: when the command connection is to move, q1 is in flight there, so
# p1 is held while D1 is awaited, 1 s
fake_mode("p1 ask:$d2\nq1 hang", 'D1');
fake_mode("p1 late:0.6:moved:$d3", 'D2');
fake_mode('ok', 'D3');
ok(wait_log(\&error_log_text, qr/redis \S+ connected/, 1), 'connected to D1');
my $dir = server_root();
my $p = publisher("$dir/p", port(), 'p', 1, 0, 'f');
Time::HiRes::sleep(0.2);
my $q = publisher("$dir/q", port(), 'q', 1, 0, 'f');
waitpid($_, 0) for $p, $q;
my ($rp, $rq) = published("$dir/p", "$dir/q");
is($rp->{status}, 200, 'p1 (held, sent nowhere before) published on the new primary');
cmp_ok($rp->{id}, '>=', 100, "with D3's id");
is($rq->{status}, 503, 'q1 (left with the silent old primary) answered 503');
like(error_log_text(), qr/slot \d+ moved \(failover or resharding\): primary 127\.0\.0\.1:$d1 -> 127\.0\.0\.1:$d3/,
     'the move to D3 logged');
like(error_log_text(), qr/the old primary 127\.0\.0\.1:$d1 did not answer in time, 1 commands left unanswered/,
     'the silent old primary logged');
is(http('POST', '/pub?channel=f', 'p3', tp(), timeout => 10)->{status}, 200, 'the next publish goes to D3');
my $t0 = Time::HiRes::time();
Time::HiRes::sleep(0.1) while !-e "$REDIS_DIR/D2.closed" && Time::HiRes::time() - $t0 < 5 * timeout_factor();
ok(-e "$REDIS_DIR/D2.closed", 'the connection to the ASK target closed once unused');
--- no_error_log
[alert]
[crit]



=== TEST 10: the slot's primary SIGKILLed under load on two servers: the failover is followed
--- http_config
sse_zone zone=cl3:8m history=5000 redis=redis+cluster://$TEST_NGINX_SEEDS_cl3;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
failover_under_load(cluster => $::CL, zone => 'cl3', label => 'plain',
    b_http => "sse_zone zone=cl3:8m history=5000 redis=redis+cluster://$ENV{TEST_NGINX_SEEDS_cl3};");
--- no_error_log
[alert]
[crit]



=== TEST 11: a cluster with a password: the URL's credentials on every node
--- http_config
sse_zone zone=cla:1m redis=redis+cluster://:cl%3Apw@$TEST_NGINX_SEED_cla;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis redis\+cluster:\/\/:\*\*\*\@\S+ connected/, 1), 'connected, the password masked');
my $s = sse_open('/sub?channel=p');
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=p', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered');
my $owner = cluster_owner($::CLA, cluster_slot($::CLA, 'sse:{cla}:id'));
is(cluster_cli($::CLA, $owner, 'EXISTS', 'sse:{cla}:log'), '1', "the log is on the slot's primary");
unlike(error_log_text(), qr/cl:pw|cl%3Apw/, 'the password is in no log');
--- no_error_log
[alert]



=== TEST 12: a cluster with a password, a wrong one in the URL: 503, one line naming authentication
--- http_config
sse_zone zone=clw:1m redis=redis+cluster://:wrong@$TEST_NGINX_SEED_cla;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/cluster node 127\.0\.0\.1:\d+ failed \(authentication failed: WRONGPASS/, 1),
   'the log names the node and authentication');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
Time::HiRes::sleep(1.5 * timeout_factor());
is(count_log(error_log_text(), qr/cluster node \S+ failed/), 1, 'one line, none per retry');
--- no_error_log
[alert]



=== TEST 13: rediss+cluster://: every node over TLS, certificates and addresses verified
--- http_config
sse_zone zone=clt:1m redis=rediss+cluster://$TEST_NGINX_SEED_clt redis_tls_ca=$TEST_NGINX_CL_DIR/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/redis rediss\+cluster:\S+ connected/, 1), 'connected over TLS');
my $s = sse_open('/sub?channel=t');
Time::HiRes::sleep(0.3 * timeout_factor());
is(http('POST', '/pub?channel=t', 'hi', tp())->{status}, 200, 'publish');
$s->read_until(qr/data: hi\n/, 3);
is(datas($s), 'hi', 'delivered');
my $owner = cluster_owner($::CLT, cluster_slot($::CLT, 'sse:{clt}:id'));
is(cluster_cli($::CLT, $owner, 'EXISTS', 'sse:{clt}:log'), '1', "the log is on the slot's primary");
--- no_error_log
[alert]



=== TEST 14: rediss+cluster:// with the system's CAs: the node's certificate is refused
--- http_config
sse_zone zone=clu:1m redis=rediss+cluster://$TEST_NGINX_SEED_clt;
--- config
location /pub { sse_publish; }
--- test
ok(wait_log(\&error_log_text, qr/cluster node 127\.0\.0\.1:\d+ failed \(TLS verification failed: certificate verify error/, 1),
   'the log names TLS verification at the node');
is(http('POST', '/pub?channel=a', 'x', tp())->{status}, 503, 'publish: 503');
--- no_error_log
[alert]



=== TEST 14b: rediss+cluster://: the slot migrated key by key under load on two servers, every node over TLS: ASK, TRYAGAIN and MOVED followed, no publish refused
--- http_config
sse_zone zone=clmt:8m history=5000 redis=rediss+cluster://$TEST_NGINX_SEED_clmt redis_tls_ca=$TEST_NGINX_CL_DIR/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
migrate_under_load(cluster => $::CLT, zone => 'clmt', label => 'TLS',
                   b_http => "sse_zone zone=clmt:8m history=5000 redis=rediss+cluster://$ENV{TEST_NGINX_SEED_clmt} redis_tls_ca=$ENV{TEST_NGINX_CL_DIR}/ca.crt;");
--- no_error_log
[alert]
[crit]



=== TEST 15: rediss+cluster://: the slot's primary SIGKILLed under load on two servers, every node over TLS: the failover is followed
--- http_config
sse_zone zone=clt3:8m history=5000 redis=rediss+cluster://$TEST_NGINX_SEEDS_clt3 redis_tls_ca=$TEST_NGINX_CL_DIR/ca.crt;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
failover_under_load(cluster => $::CLT, zone => 'clt3', label => 'TLS',
    b_http => "sse_zone zone=clt3:8m history=5000 redis=rediss+cluster://$ENV{TEST_NGINX_SEEDS_clt3}"
              . " redis_tls_ca=$ENV{TEST_NGINX_CL_DIR}/ca.crt;");
--- no_error_log
[alert]
[crit]
