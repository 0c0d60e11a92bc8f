package Test::Nginx::SSE::Redis;

# One redis-server of a test file's own (standalone, no persistence) on
# 127.0.0.1: started, stopped (also at exit), and asked one command.  The
# file sets $REDIS_BIN and $REDIS_PORT (exported, so blocks can read
# $main::REDIS_PORT).

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

our ($REDIS_PID, $REDIS_PORT, $REDIS_BIN);
our @EXPORT = qw(redis_start redis_stop redis_cmd
                 $REDIS_PID $REDIS_PORT $REDIS_BIN);

END {
    local $?;
    redis_stop();
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

1;
