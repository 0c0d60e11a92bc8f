package Test::Nginx::SSE::ServerB;

# For the test files that run several nginx servers (Redis): a second nginx
# beside the harness's own (server B, two workers, the same module, checked
# for crashes, alerts and sanitizer reports when it stops), a wait for log
# lines, and a TCP relay a test can cut.

use strict;
use warnings;

use Exporter 'import';
use File::Path ();
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use Test::Nginx::SSE;

our @EXPORT = qw(start_b wait_log start_proxy);

sub start_b {
    my (%o) = @_;
    my $dir = server_root() . '/b';
    File::Path::make_path("$dir/conf", "$dir/logs");
    my $port = Test::Nginx::SSE::_free_port();
    my $module = $Test::Nginx::SSE::MODULE_PATH;
    my $conf = '';
    $conf .= "load_module $module;\n" if -f $module;
    $conf .= "daemon off;\nmaster_process on;\nworker_processes " . ($o{workers} // 2) . ";\n";
    $conf .= "user root;\n" if $> == 0;
    $conf .= "error_log logs/error.log info;\npid logs/nginx.pid;\n";
    $conf .= "events { worker_connections 1024; }\n";
    $conf .= "http {\n    access_log logs/access.log;\n"
           . "    client_body_temp_path $dir/client_body_temp;\n"
           . "    $o{http}\n"
           . "    server {\n        listen 127.0.0.1:$port;\n"
           # the harness's keep-alive probe (see Test::Nginx::SSE::_probe)
           . "        location = $Test::Nginx::SSE::PROBE_URI { return 204; }\n"
           . "        $o{config}\n    }\n}\n";
    open my $fh, '>', "$dir/conf/nginx.conf" or die "$dir: $!";
    print {$fh} $conf;
    close $fh;

    my $bin = Test::Nginx::SSE::_which($Test::Nginx::SSE::NGINX_BINARY)
        or die "no nginx binary\n";
    my @cmd = ($bin, '-p', "$dir/", '-c', 'conf/nginx.conf');
    if ($Test::Nginx::SSE::VALGRIND) {
        # its reports land where the harness checks them
        unshift @cmd, 'valgrind', '--tool=memcheck', '--leak-check=full',
            '--errors-for-leak-kinds=definite', '--num-callers=30',
            '--log-file=' . server_root() . '/logs/valgrind.b.%p.log',
            '--suppressions=t/valgrind.supp';
    }
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        { exec { $cmd[0] } @cmd };
        POSIX::_exit(127);
    }
    my $b = bless { pid => $pid, port => $port, dir => $dir }, 'ServerB';
    my $deadline = Time::HiRes::time() + 10 * timeout_factor();
    while (Time::HiRes::time() < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port);
        return $b if $s;
        Time::HiRes::sleep(0.05);
    }
    die "server B did not start:\n" . $b->log;
}

sub ServerB::log {
    my ($b) = @_;
    open my $fh, '<', "$b->{dir}/logs/error.log" or return '';
    local $/;
    return <$fh> // '';
}

sub ServerB::stop {
    my ($b) = @_;
    my $pid = delete $b->{pid} or return;
    kill 'QUIT', $pid;
    my $deadline = Time::HiRes::time() + 5 * timeout_factor();
    my $reaped = 0;
    while (Time::HiRes::time() < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $reaped = 1;
            last;
        }
        Time::HiRes::sleep(0.02);
    }
    if (!$reaped) {
        kill 'KILL', -$pid;
        waitpid($pid, 0);
        ok(0, 'server B exited after SIGQUIT');
    } elsif ($? != 0 && !$Test::Nginx::SSE::VALGRIND) {
        ok(0, "server B exited normally (status $?)");
    }
    # what the harness checks for its own nginx: crashes, alerts, sanitizers
    my $text = $b->log;
    if (open my $fh, '<', "$b->{dir}/logs/stderr.log") {
        local $/;
        $text .= <$fh> // '';
    }
    my @bad = $text =~ /^(.*(?:exited on signal|\[(?:alert|crit|emerg)\]|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:).*)$/mg;
    ok(0, "server B: $bad[0]") if @bad;
}

sub ServerB::DESTROY { $_[0]->stop }

# until the log has $n lines matching $re (server A: error_log_text)
sub wait_log {
    my ($text, $re, $n, $secs) = @_;
    my $deadline = Time::HiRes::time() + ($secs // 10) * timeout_factor();
    while (Time::HiRes::time() < $deadline) {
        my @m = ($text->() =~ /$re/g);
        return 1 if @m >= $n;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

# a TCP relay from $listen to $target on 127.0.0.1 that a test can cut:
# its process is killed.  slow => [qr/COMMAND/, $secs]: on a connection
# that sent such a command, what comes back waits $secs from then
sub start_proxy {
    my ($listen, $target, %o) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $listen, Listen => 64,
                                      ReuseAddr => 1)
            or POSIX::_exit(1);
        my $sel = IO::Select->new($l);
        my (%peer, %client, %until, %held);
        while (1) {
            for my $fh ($sel->can_read(0.01)) {
                if ($fh == $l) {
                    my $c = $l->accept or next;
                    my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                                  PeerPort => $target);
                    if (!$u) { close $c; next; }
                    $peer{$c} = $u;
                    $peer{$u} = $c;
                    $client{$c} = $c;
                    $sel->add($c, $u);
                    next;
                }
                # its peer may have closed both ends earlier in this round
                my $o = $peer{$fh} or next;
                my $n = sysread($fh, my $buf, 65536);
                if (!$n) {
                    $sel->remove($fh, $o);
                    delete @peer{$fh, $o};
                    delete @client{$fh, $o};
                    delete @held{$fh, $o};
                    close $fh;
                    close $o;
                    next;
                }
                # slow => [qr/COMMAND/, $secs]: what Redis sends back after
                # such a command reaches it waits $secs
                if ($o{slow} && $client{$fh} && $buf =~ $o{slow}[0]) {
                    $until{$fh} = Time::HiRes::time() + $o{slow}[1];
                }
                if ($client{$o} && defined $held{$o}
                    || $client{$o} && ($until{$o} // 0) > Time::HiRes::time()) {
                    $held{$o} .= $buf;
                    next;
                }
                syswrite($o, $buf);
            }
            for my $c (grep { defined $held{$_} } keys %held) {
                next if $until{$c} > Time::HiRes::time();
                syswrite($client{$c}, delete $held{$c}) if $client{$c};
            }
        }
    }
    for (1 .. 100) {
        return $pid if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                             PeerPort => $listen);
        Time::HiRes::sleep(0.02);
    }
    return $pid;
}


1;
