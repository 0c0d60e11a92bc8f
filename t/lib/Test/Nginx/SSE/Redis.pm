package Test::Nginx::SSE::Redis;

# Redis processes of a test file's own, on 127.0.0.1, all killed at exit.
#
# One redis-server (standalone, no persistence): redis_start, redis_stop,
# redis_cmd.  The file sets $REDIS_BIN and $REDIS_PORT (exported, so blocks
# can read $main::REDIS_PORT).
#
# A Redis Cluster (cluster_*): six redis-servers, three primaries with a
# replica each, made with redis-cli --cluster create; with a password and
# over TLS if asked.
#
# Several, by name in %REDIS (servers, sentinels): redis_bins finds the
# programs, redis_dir makes a directory with certificates for TLS,
# redis_server starts a server, redis_spawn any command that answers PING,
# rcli asks one of them through redis-cli.  Each is a hash: port, pid,
# and pass / user / tls for redis-cli.

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use List::Util ();
use POSIX ();
use Time::HiRes ();

our ($REDIS_PID, $REDIS_PORT, $REDIS_BIN);
our ($REDIS_CLI, $SENTINEL_BIN, $REDIS_DIR, %REDIS);
our @EXPORT = qw(redis_start redis_stop redis_cmd redis_setup
                 redis_bins redis_dir redis_server redis_spawn
                 redis_tls_conf rcli redis_silent redis_fake
                 cluster_start cluster_stop cluster_cli cluster_owner
                 cluster_kill cluster_slot cluster_ok cluster_move_slot
                 cluster_primaries cluster_linked
                 $REDIS_PID $REDIS_PORT $REDIS_BIN
                 $REDIS_CLI $SENTINEL_BIN $REDIS_DIR %REDIS);

our @CLUSTERS;

END {
    local $?;
    redis_stop();
    cluster_stop($_) for @CLUSTERS;
    for my $r (values %REDIS) {
        next unless $r->{pid};
        kill 'KILL', $r->{pid};
        waitpid($r->{pid}, 0);
    }
}

sub redis_start {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        { exec { $REDIS_BIN } $REDIS_BIN, '--port', $REDIS_PORT,
              '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
              '--daemonize', 'no' };
        POSIX::_exit(127);
    }
    $REDIS_PID = $pid;
    for (1 .. 200) {
        return 1 if redis_cmd('PING');
        Time::HiRes::sleep(0.02);
    }
    redis_stop();
    return 0;
}

# the file's one redis-server on a free port, as $TEST_NGINX_REDIS_PORT; no
# Redis is a failure, not a skip: the blocks that need it fail too
sub redis_setup {
    delete $ENV{TEST_NGINX_REDIS_PORT};
    if (!redis_bins()) {
        Test::More::ok(0, 'redis-server started');
        Test::More::diag('redis-server, or redis-cli or redis-sentinel beside it, not found'
                         . ': scripts/deps.sh redis (make test) installs it');
        return;
    }
    $REDIS_PORT = Test::Nginx::SSE::_free_port();
    if (redis_start()) {
        $ENV{TEST_NGINX_REDIS_PORT} = $REDIS_PORT;
    } else {
        Test::More::ok(0, 'redis-server started');
        Test::More::diag("$REDIS_BIN did not answer PING on 127.0.0.1:$REDIS_PORT");
    }
}

sub redis_stop {
    return unless $REDIS_PID;
    kill 'KILL', $REDIS_PID;
    waitpid($REDIS_PID, 0);
    $REDIS_PID = undef;
}

# one command, the first line of its reply (enough for PING, FLUSHALL)
sub redis_cmd {
    my @args = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $REDIS_PORT, Timeout => 2)
        or return undef;
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print {$s} $req;
    my $line = <$s>;
    close $s;
    return $line;
}


# redis-server (SSE_REDIS_SERVER, or the first on PATH), and the
# redis-cli and redis-sentinel next to it: true when all three are there
sub redis_bins {
    $REDIS_BIN = $ENV{SSE_REDIS_SERVER};
    if (!defined $REDIS_BIN) {
        for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/usr/bin") {
            if (-x "$d/redis-server") {
                $REDIS_BIN = "$d/redis-server";
                last;
            }
        }
    }
    return 0 unless $REDIS_BIN && -x $REDIS_BIN;
    ($REDIS_CLI = $REDIS_BIN) =~ s/redis-server\z/redis-cli/;
    ($SENTINEL_BIN = $REDIS_BIN) =~ s/redis-server\z/redis-sentinel/;
    return -x $REDIS_CLI && -x $SENTINEL_BIN;
}

# a directory for the processes' files and logs, removed at exit, with a
# CA ("ca"), another CA ("wrongca"), server certificates signed by ca
# ("server": 127.0.0.1, ::1 and localhost; "other": other.example) and a client
# certificate ("client")
sub redis_dir {
    my ($label) = @_;
    $REDIS_DIR = File::Temp::tempdir("sse-$label-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    my $d = $REDIS_DIR;
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
    for my $ca (qw(ca wrongca)) {
        openssl('req', '-x509', @ec, '-keyout', "$d/$ca.key", '-out', "$d/$ca.crt",
                '-days', 2, '-subj', "/CN=sse test $ca", '-batch');
    }
    my %san = (server => 'IP:127.0.0.1,IP:::1,DNS:localhost', other => 'DNS:other.example',
               client => 'DNS:client.example');
    for my $c (qw(server other client)) {
        openssl('req', @ec, '-keyout', "$d/$c.key", '-out', "$d/$c.csr",
                '-subj', "/CN=$c", '-batch');
        open my $fh, '>', "$d/$c.ext" or die "$d/$c.ext: $!";
        print {$fh} "subjectAltName=$san{$c}\n";
        print {$fh} "extendedKeyUsage=" . ($c eq 'client' ? 'clientAuth' : 'serverAuth') . "\n";
        close $fh;
        openssl('x509', '-req', '-in', "$d/$c.csr", '-CA', "$d/ca.crt",
                '-CAkey', "$d/ca.key", '-CAcreateserial', '-out', "$d/$c.crt",
                '-days', 2, '-extfile', "$d/$c.ext");
    }
    return $d;
}

sub openssl {
    my (@args) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        { exec 'openssl', @args };
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    $? == 0 or die "openssl @args failed\n";
}

# TLS settings of a server or sentinel as (name, value) pairs: the
# certificate $o{cert} ("server"), client certificates required when
# $o{clients}, TLS between replicas
sub redis_tls_conf {
    my (%o) = @_;
    my $c = $o{cert} // 'server';
    return ('tls-cert-file' => "$REDIS_DIR/$c.crt", 'tls-key-file' => "$REDIS_DIR/$c.key",
            'tls-ca-cert-file' => "$REDIS_DIR/ca.crt",
            'tls-auth-clients' => $o{clients} ? 'yes' : 'no',
            'tls-replication' => 'yes');
}

# a redis-server named $name on a free port, no persistence: pass
# (requirepass and masterauth), tls (TLS only, redis_tls_conf(%o)), of (a
# replica of that port), bind (addresses, default 127.0.0.1), args (more
# arguments); its hash, or undef
sub redis_server {
    my ($name, %o) = @_;
    my $r = {port => Test::Nginx::SSE::_free_port(), pass => $o{pass}, tls => $o{tls}};
    my @a = ($REDIS_BIN, $o{tls} ? ('--port', 0, '--tls-port', $r->{port})
                                 : ('--port', $r->{port}),
             '--bind', $o{bind} // '127.0.0.1', '--save', '', '--dir', $REDIS_DIR,
             '--appendonly', 'no', '--daemonize', 'no');
    if ($o{tls}) {
        my @t = redis_tls_conf(%o);
        push @a, map { $_ % 2 ? $t[$_] : "--$t[$_]" } 0 .. $#t;
    }
    push @a, '--requirepass', $o{pass}, '--masterauth', $o{pass} if defined $o{pass};
    push @a, '--replicaof', '127.0.0.1', $o{of} if $o{of};
    push @a, @{$o{args}} if $o{args};
    return redis_spawn($name, $r, @a) ? $r : undef;
}

# runs @cmd as $name (output in $REDIS_DIR/$name.log) until it answers PING
sub redis_spawn {
    my ($name, $r, @cmd) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$REDIS_DIR/$name.log";
        open STDERR, '>&', \*STDOUT;
        { exec { $cmd[0] } @cmd };
        POSIX::_exit(127);
    }
    $r->{pid} = $pid;
    $REDIS{$name} = $r;
    for (1 .. 200) {
        return 1 if rcli($r, 'PING') eq 'PONG';
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

# a command through redis-cli to $r, its output
sub rcli {
    my ($r, @cmd) = @_;
    my @a = ('--no-auth-warning', '-h', '127.0.0.1', '-p', $r->{port});
    push @a, '--tls', '--cacert', "$REDIS_DIR/ca.crt", '--cert', "$REDIS_DIR/client.crt",
        '--key', "$REDIS_DIR/client.key" if $r->{tls};
    push @a, '--user', $r->{user} if defined $r->{user};
    push @a, '--pass', $r->{pass} if defined $r->{pass};
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>', '/dev/null';
        { exec { $REDIS_CLI } $REDIS_CLI, @a, @cmd };
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}


# a server (a sentinel, a cluster node) that accepts connections and never
# answers (mute: it answers PING, so the connection is set up, and then
# nothing else); nginx's closes are counted in $REDIS_DIR/NAME.closed
sub redis_silent {
    my ($name, $mute) = @_;
    return redis_fake($name, sub { $mute && uc($_[0][0]) eq 'PING' ? "+PONG\r\n" : undef });
}

# a made-up Redis: a child that reads each command (RESP arrays) and writes
# what $answer->([args...], $port) returns: a reply; undef, nothing; [$secs,
# $reply], that reply $secs later (those after it wait, in order); \'hang',
# nothing more on that connection, as a Redis stuck in a command.  Every
# connection held open, those nginx closes counted in $REDIS_DIR/NAME.closed;
# killed at the end with the others.  Its port.
sub redis_fake {
    my ($name, $answer) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, ReuseAddr => 1) or return undef;
    my $port = $l->sockport;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $sel = IO::Select->new($l);
        my (%buf, %out, %hung);
        while (1) {
            for my $fh ($sel->can_read(0.01)) {
                if ($fh == $l) {
                    my $c = $l->accept or next;
                    $sel->add($c);
                    next;
                }
                my $fd = fileno $fh;
                my $n = sysread($fh, my $chunk, 65536);
                if (!$n) {
                    $sel->remove($fh);
                    delete $buf{$fd}; delete $out{$fd}; delete $hung{$fd};
                    close $fh;
                    if (open my $out, '>>', "$REDIS_DIR/$name.closed") { print {$out} "closed\n"; close $out }
                    next;
                }
                $buf{$fd} .= $chunk;
                while (!$hung{$fd} and my $args = resp_command(\$buf{$fd})) {
                    my $reply = $answer->($args, $port);
                    if (ref $reply eq 'SCALAR') {
                        $hung{$fd} = 1;
                    } elsif (ref $reply eq 'ARRAY') {
                        push @{$out{$fd}}, [$fh, Time::HiRes::time() + $reply->[0], $reply->[1]];
                    } elsif (defined $reply) {
                        push @{$out{$fd}}, [$fh, 0, $reply];
                    }
                }
            }
            # replies in order, each when due
            for my $q (values %out) {
                while (@$q && $q->[0][1] <= Time::HiRes::time()) {
                    my $r = shift @$q;
                    syswrite($r->[0], $r->[2]);
                }
            }
        }
    }
    close $l;
    $REDIS{$name} = {pid => $pid, port => $port};
    return $port;
}

# one whole command off the front of $$buf: [args], or undef (not all there)
sub resp_command {
    my ($buf) = @_;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($argc, $pos, @args) = ($1, length($&));
    for (1 .. $argc) {
        return undef unless substr($$buf, $pos) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $pos += length($&);
        return undef if length($$buf) < $pos + $len + 2;
        push @args, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }
    substr($$buf, 0, $pos) = '';
    return \@args;
}


# Redis Cluster: its nodes are servers of %REDIS named "$label1" to
# "$label6", in $REDIS_DIR (redis_dir first); a cluster is a hash: label,
# pass, tls, ports (the six), names (port -> name, the live ones)

# a command to the node on $port through redis-cli, its output
sub cluster_cli {
    my ($c, $port, @cmd) = @_;
    return rcli($REDIS{$c->{names}{$port} // ''} // {port => $port, %$c}, @cmd);
}

# cluster_start($label [, pass => $p] [, tls => 1]): six nodes, the cluster
# made, every node's cluster_state ok; the cluster, or undef
sub cluster_start {
    my ($label, %o) = @_;
    my $c = {label => $label, pass => $o{pass}, tls => $o{tls}, names => {}};
    push @CLUSTERS, $c;
    for my $i (1 .. 6) {
        my $name = "$label$i";
        my $r = redis_server($name, %o, args => [
            '--cluster-enabled', 'yes', '--cluster-node-timeout', 1000,
            '--cluster-port', Test::Nginx::SSE::_free_port(),
            '--cluster-config-file', "$REDIS_DIR/$name-nodes.conf",
            # the cluster bus always wants a client certificate, and
            # "server" is for servers only
            $o{tls} ? ('--tls-cluster', 'yes',
                       '--tls-client-cert-file', "$REDIS_DIR/client.crt",
                       '--tls-client-key-file', "$REDIS_DIR/client.key") : ()])
            or return undef;
        push @{$c->{ports}}, $r->{port};
        $c->{names}{$r->{port}} = $name;
    }
    my $out = cluster_cli($c, $c->{ports}[0], '--cluster', 'create',
                          (map { "127.0.0.1:$_" } @{$c->{ports}}),
                          '--cluster-replicas', 1, '--cluster-yes');
    return undef unless $out =~ /All 16384 slots covered/;
    return cluster_ok($c, 20) ? $c : undef;
}

# true as soon as $cond->() is, false after $secs (times the timeout factor)
sub _within {
    my ($secs, $cond) = @_;
    my $deadline = Time::HiRes::time() + $secs * Test::Nginx::SSE::timeout_factor();
    while (Time::HiRes::time() < $deadline) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

# every live node says cluster_state:ok (within $secs)
sub cluster_ok {
    my ($c, $secs) = @_;
    return _within($secs, sub {
        List::Util::all { cluster_cli($c, $_, 'CLUSTER', 'INFO') =~ /cluster_state:ok/ } keys %{$c->{names}}
    });
}

# the replica on $port has its link to its primary up (within $secs): a
# replica is linked some seconds after cluster_start (its first sync waits
# for repl-diskless-sync-delay), and one never linked is not promoted
sub cluster_linked {
    my ($c, $port, $secs) = @_;
    return _within($secs, sub {
        cluster_cli($c, $port, 'INFO', 'replication') =~ /master_link_status:up/
    });
}

# the slot of a key, as the cluster computes it
sub cluster_slot {
    my ($c, $key) = @_;
    return cluster_cli($c, (keys %{$c->{names}})[0], 'CLUSTER', 'KEYSLOT', $key);
}

# the port of the primary that serves $slot, as a live node sees it, and
# (in list context) the ports of its replicas
sub cluster_owner {
    my ($c, $slot) = @_;
    my (%fields, %port_of, $owner);
    for (split /\n/, cluster_cli($c, (keys %{$c->{names}})[0], 'CLUSTER', 'NODES')) {
        my @f = split ' ';
        my ($p) = $f[1] =~ /:(\d+)@/ or next;
        $port_of{$f[0]} = $p;
        $fields{$p} = [@f];
        next unless $f[2] =~ /master/ && $f[2] !~ /fail/;
        for my $range (@f[8 .. $#f]) {
            my ($first, $last) = split /-/, $range;
            next unless $first =~ /^\d+$/;
            $last //= $first;
            $owner = $f[0] if $first <= $slot && $slot <= $last;
        }
    }
    return undef unless $owner;
    my @replicas = map { $_->[1] =~ /:(\d+)@/ ? $1 : () }
                   grep { $_->[3] eq $owner } values %fields;
    return wantarray ? ($port_of{$owner}, @replicas) : $port_of{$owner};
}

# the ports of the primaries (the cluster made as cluster_start does:
# each serves one of these three slots)
sub cluster_primaries {
    my ($c) = @_;
    my %p = map { scalar(cluster_owner($c, $_)) => 1 } (0, 8192, 16383);
    return sort keys %p;
}

# moves $slot and its keys to the primary on port $dst (IMPORTING,
# MIGRATING, MIGRATE, SETSLOT NODE on every primary): 1 when done.
# Options: each => $secs: one key per MIGRATE, $secs after each (a slot
# half migrated meanwhile); hold => $secs: all keys moved, the slot still
# MIGRATING for $secs before SETSLOT NODE; keys => \@k: the keys moved, in
# order
sub cluster_move_slot {
    my ($c, $slot, $dst, %o) = @_;
    my $src = cluster_owner($c, $slot) or return 0;
    my @primaries = cluster_primaries($c);
    my $srcid = cluster_cli($c, $src, 'CLUSTER', 'MYID');
    my $dstid = cluster_cli($c, $dst, 'CLUSTER', 'MYID');
    return 0 unless cluster_cli($c, $dst, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $srcid) eq 'OK'
                 && cluster_cli($c, $src, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dstid) eq 'OK';
    my @auth = defined $c->{pass} ? ('AUTH', $c->{pass}) : ();
    for (1 .. 100) {
        my @keys = split /\n/, cluster_cli($c, $src, 'CLUSTER', 'GETKEYSINSLOT', $slot,
                                           $o{each} ? 1 : 100);
        last unless @keys;
        return 0 unless cluster_cli($c, $src, 'MIGRATE', '127.0.0.1', $dst, '', 0, 5000,
                                    @auth, 'KEYS', @keys) =~ /^(OK|NOKEY)/;
        push @{$o{keys}}, @keys if $o{keys};
        Time::HiRes::sleep($o{each}) if $o{each};
    }
    Time::HiRes::sleep($o{hold}) if $o{hold};
    for my $port ($dst, $src, grep { $_ ne $dst && $_ ne $src } @primaries) {
        return 0 unless cluster_cli($c, $port, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dstid) eq 'OK';
    }
    return 1;
}

# SIGKILL one node
sub cluster_kill {
    my ($c, $port) = @_;
    my $name = delete $c->{names}{$port} or return;
    my $r = $REDIS{$name};
    return unless $r->{pid};
    kill 'KILL', $r->{pid};
    waitpid($r->{pid}, 0);
    delete $r->{pid};
}

sub cluster_stop {
    my ($c) = @_;
    cluster_kill($c, $_) for keys %{$c->{names}};
}

1;
