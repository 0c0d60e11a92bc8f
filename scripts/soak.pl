#!/usr/bin/env perl
# The client side of make soak (see scripts/soak.sh, which starts nginx and
# passes SOAK_PORT, SOAK_PREFIX and SOAK_MASTER).  Three processes:
#   publisher    steady publishing at SOAK_RATE messages/s: raw bodies, JSON
#                objects, JSON batches, channel arrays, form bodies; GETs,
#                short-lived channels that are DELETEd, channels nobody reads
#   subscribers  one IO::Select loop: SOAK_SUBSCRIBERS churning subscribers
#                (random lifetimes, 1-4 channels, HTTP/1.0 or 1.1, some resume
#                with Last-Event-ID, some read lazily, a few never read) and
#                4 long-lived checkers that verify, per channel, that the
#                publisher's sequence numbers arrive complete, once, in order,
#                with increasing ids, across reconnects with Last-Event-ID
#   monitor      (this process) samples the workers' RSS and /status every
#                SOAK_INTERVAL seconds, prints a line, and judges at the end
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF IPPROTO_TCP TCP_NODELAY);
use POSIX qw(WNOHANG);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(time sleep);

$| = 1;
$SIG{PIPE} = 'IGNORE';

my $PORT      = $ENV{SOAK_PORT}   or die "SOAK_PORT not set\n";
my $PREFIX    = $ENV{SOAK_PREFIX} or die "SOAK_PREFIX not set\n";
my $MASTER    = $ENV{SOAK_MASTER} or die "SOAK_MASTER not set\n";
my $SECONDS   = $ENV{SOAK_SECONDS}     || 600;
my $SUBS      = $ENV{SOAK_SUBSCRIBERS} || 100;
my $RATE      = $ENV{SOAK_RATE}        || 100;
my $INTERVAL  = $ENV{SOAK_INTERVAL}    || 10;
my $RELOAD    = $ENV{SOAK_RELOAD_EVERY} || 0;
my $TOL       = ($ENV{SOAK_TOLERANCE} // 10) / 100;
my $RSS_SLACK = 1024 * ($ENV{SOAK_RSS_SLACK_KB} // 2048);
my $SHM_SLACK = 1024 * ($ENV{SOAK_SHM_SLACK_KB} // 128);
my @CH        = map { "c$_" } 0 .. 9;      # busy channels
my @CHK       = map { "chk$_" } 0 .. 2;    # checked channels

die "SOAK_SECONDS must be at least 30\n" if $SECONDS < 30;

my $START = time;
my $END   = $START + $SECONDS;

#-----------------------------------------------------------------------------
# small helpers
#-----------------------------------------------------------------------------

sub pick { $_[int rand @_] }

sub summary_file { "$PREFIX/logs/soak-$_[0].txt" }

sub write_summary {
    my ($name, %kv) = @_;
    open my $f, '>', summary_file($name) or die "$name: $!";
    print $f "$_=$kv{$_}\n" for sort keys %kv;
    close $f;
}

sub read_summary {
    my ($name) = @_;
    open my $f, '<', summary_file($name) or return;
    my %kv = map { chomp; split /=/, $_, 2 } <$f>;
    return \%kv;
}

# one blocking request on a keep-alive connection ($conn is a scalar ref
# holding the socket); returns (status, body), status 0 on failure
sub request {
    my ($conn, $method, $uri, $body, $ctype) = @_;
    for my $attempt (1, 2) {
        $$conn ||= IO::Socket::INET->new(PeerAddr => "127.0.0.1:$PORT",
                                         Proto => 'tcp', Timeout => 5)
            or return (0, "connect: $!");
        my $s = $$conn;
        my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n";
        $req .= "Content-Type: $ctype\r\n" if $ctype;
        $req .= "Content-Length: " . length($body) . "\r\n" if defined $body;
        $req .= "\r\n" . ($body // '');
        my $ok = defined syswrite($s, $req);
        my ($buf, $status, $len, $hlen, $close) = ('');
        my $deadline = time + 5;
        my $sel = IO::Select->new($s);
        while ($ok && time < $deadline) {
            if (!defined $hlen && (my $i = index($buf, "\r\n\r\n")) >= 0) {
                $hlen = $i + 4;
                my $head = substr($buf, 0, $hlen);
                ($status) = $head =~ m{\AHTTP/1\.\d (\d{3})};
                $len = $head =~ /^Content-Length:\s*(\d+)/mi ? $1 : 0;
                $close = $head =~ /^Connection:\s*close/mi;
            }
            if (defined $hlen && length($buf) >= $hlen + $len) {
                undef $$conn if $close;
                return ($status // 0, substr($buf, $hlen, $len));
            }
            last unless $sel->can_read($deadline - time);
            my $n = sysread($s, $buf, 65536, length $buf);
            last unless $n;
        }
        undef $$conn;
        # a keep-alive connection closed by the server just before our
        # request: once more on a new one
        next if $attempt == 1 && $buf eq '';
        return (0, 'no complete response');
    }
    return (0, 'no response');
}

sub status_figures {
    my $conn;
    my ($st, $body) = request(\$conn, 'GET', '/status');
    return unless $st == 200;
    my %s;
    for my $k (qw(channels subscribers messages published delivered workers)) {
        $s{$k} = $1 if $body =~ /"$k":(\d+)/;
    }
    ($s{shm_size}, $s{shm_used}) = $body =~ /"shm":\{"size":(\d+),"used":(\d+)\}/;
    return \%s;
}

sub children_of {
    my ($ppid) = @_;
    my @pids;
    opendir my $dh, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $f, '<', "/proc/$p/stat" or next;
        my $stat = <$f> // next;
        next unless $stat =~ s/^.*\)\s+//s;
        my ($state, $pp) = split ' ', $stat;
        push @pids, $p if $pp == $ppid && $state ne 'Z';
    }
    return @pids;
}

sub rss_of {
    my ($kb, $anon) = (0, 0);
    for my $p (@_) {
        open my $f, '<', "/proc/$p/status" or next;
        while (<$f>) {
            $kb   += $1 if /^VmRSS:\s+(\d+)/;
            $anon += $1 if /^RssAnon:\s+(\d+)/;
        }
    }
    return (1024 * $kb, 1024 * $anon);
}

#-----------------------------------------------------------------------------
# publisher
#-----------------------------------------------------------------------------

sub publisher {
    srand($$ ^ time);
    my $conn;
    my (%seq, %n);
    my %st = (requests => 0, messages => 0, errors => 0, deletes => 0,
              gets => 0, tmp_subscribed => 0);
    my @tmp;              # short-lived channels: [name, delete_at]
    my $tmp_next = 0;
    my $eph = 0;
    my $due = time;
    my $last_err = '';

    my $pad = sub { 'p' x int(rand($_[0])) };
    my $check = sub {
        my ($what, $st, $body, $want) = @_;
        $st{requests}++;
        return 1 if $st == ($want // 200);
        $st{errors}++;
        $last_err = "$what: $st $body";
        print STDERR "soak: publisher: $last_err\n" if $st{errors} <= 10;
        return 0;
    };

    while (time < $END) {
        my $now = time;
        if ($due > $now) { sleep($due - $now > 0.05 ? 0.05 : $due - $now); next; }
        $due = $now - 1 if $due < $now - 1;    # never burst more than 1 s

        my $r = rand;
        my $msgs = 1;
        if ($r < 0.12) {
            # the checked channels: a sequence number per channel
            my $ch = pick(@CHK);
            my $s = ++$seq{$ch};
            if (rand() < 0.5) {
                $check->("chk raw", request(\$conn, 'POST', "/pub?channel=$ch&event=chk",
                         "ch=$ch seq=$s " . $pad->(300), 'text/plain'))
                    or $seq{$ch}--;
            } else {
                $check->("chk json", request(\$conn, 'POST', '/pub',
                         qq({"channel":"$ch","event":"chk","data":"ch=$ch seq=$s"}),
                         'application/json'))
                    or $seq{$ch}--;
            }
        } elsif ($r < 0.50) {
            my $ch = pick(@CH);
            $check->('raw', request(\$conn, 'POST', "/pub?channel=$ch&event=tick",
                     "ch=$ch n=" . ++$n{$ch} . "\n" . $pad->(1500), 'text/plain'));
        } elsif ($r < 0.70) {
            my $ch = pick(@CH);
            $check->('json', request(\$conn, 'POST', '/pub',
                     sprintf('{"channel":"%s","event":"update","data":{"txt":"ch=%s n=%d",'
                             . '"progress":%d,"pad":"%s"}}', $ch, $ch, ++$n{$ch},
                             int rand 100, $pad->(800)),
                     'application/json'));
        } elsif ($r < 0.80) {
            my @m = map { pick(@CH) } 1 .. 3;
            $msgs = 3;
            $check->('batch', request(\$conn, 'POST', '/pub',
                     '[' . join(',', map { sprintf('{"channel":"%s","data":"ch=%s n=%d %s"}',
                                                   $_, $_, ++$n{$_}, $pad->(200)) } @m) . ']',
                     'application/json'));
        } elsif ($r < 0.85) {
            my ($a, $b) = (pick(@CH), pick(@CH));
            $msgs = $a eq $b ? 1 : 2;
            $check->('array', request(\$conn, 'POST', '/pub',
                     qq({"channel":["$a","$b"],"event":"multi","data":"ch=multi"}),
                     'application/json'));
        } elsif ($r < 0.92) {
            my $ch = pick(@CH);
            $check->('form', request(\$conn, 'POST', '/pub',
                     "channel=$ch&event=form&data=ch%3D$ch+n%3D" . ++$n{$ch} . "+%E2%9C%93",
                     'application/x-www-form-urlencoded'));
        } elsif ($r < 0.95) {
            # a channel nobody reads, forgotten when its message expires
            $eph++;
            $check->('eph', request(\$conn, 'POST', "/pub?channel=e$eph", "ch=e$eph",
                     'text/plain'));
        } elsif ($r < 0.97) {
            my ($st, $body) = request(\$conn, 'GET', '/pub?channel=' . pick(@CH, @CHK));
            $msgs = 0;
            $st{gets}++;
            $check->('get', $st, $body) if $st != 404;
        } else {
            # short-lived channels: a few messages, then DELETE a few s later
            if (@tmp < 3) {
                my $ch = 'tmp' . $tmp_next++;
                push @tmp, [$ch, time + 2 + rand 6];
            }
            my $t = pick(@tmp);
            $check->('tmp', request(\$conn, 'POST', "/pub?channel=$t->[0]",
                     "ch=$t->[0] x", 'text/plain'));
        }
        if (@tmp && $tmp[0][1] < time) {
            my $t = shift @tmp;
            my ($st, $body) = request(\$conn, 'DELETE', "/pub?channel=$t->[0]");
            $st{deletes}++;
            $check->('delete', $st, $body) if $st != 404;
        }
        $st{messages} += $msgs;
        $due += ($msgs || 1) / $RATE;
    }
    for my $t (@tmp) {
        request(\$conn, 'DELETE', "/pub?channel=$t->[0]");
        $st{deletes}++;
    }
    write_summary('publisher', %st, last_error => $last_err,
                  map { ("seq_$_" => $seq{$_} // 0) } @CHK);
    exit 0;
}

#-----------------------------------------------------------------------------
# subscribers
#-----------------------------------------------------------------------------

my %S = (connects => 0, events => 0, resumes => 0, gaps => 0,
         order_errors => 0, closed_by_server => 0, http_errors => 0,
         stalled => 0, chk_events => 0, chk_lost => 0, chk_dup => 0,
         chk_reconnects => 0, chk_gaps => 0, chk_ended => 0, keepalives => 0);
my $max_id = 0;
my $first_error = '';

sub error_note {
    my ($msg) = @_;
    $first_error ||= $msg;
    print STDERR "soak: subscriber: $msg\n" if $S{order_errors} + $S{chk_lost}
        + $S{chk_dup} + $S{http_errors} <= 10;
}

sub sub_open {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$PORT", Proto => 'tcp',
                                  Timeout => 5) or return;
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) if $o{stalled};
    $s->blocking(0);
    my $proto = $o{http10} ? 'HTTP/1.0' : 'HTTP/1.1';
    my $q = join(',', @{ $o{channels} });
    my $req = "GET $o{loc}?channel=$q";
    my $h = "Host: localhost\r\nAccept: text/event-stream\r\n";
    if (defined $o{last_id}) {
        if (rand() < 0.3) { $req .= "&last_event_id=$o{last_id}" }
        else            { $h .= "Last-Event-ID: $o{last_id}\r\n" }
        $S{resumes}++ unless $o{kind} eq 'chk';
    }
    syswrite($s, "$req $proto\r\n$h" . ($o{http10} ? '' : "Connection: close\r\n") . "\r\n");
    $S{connects}++;
    return { %o, sock => $s, raw => '', ev => '', head => undef, chunked => 0,
             left => 0, crlf => 0, last => {}, got => 0 };
}

# de-chunks what arrived into $c->{ev}; false on a framing error
sub sub_feed {
    my ($c, $data) = @_;
    $c->{raw} .= $data;
    if (!defined $c->{head}) {
        my $i = index($c->{raw}, "\r\n\r\n");
        return 1 if $i < 0;
        $c->{head} = substr($c->{raw}, 0, $i + 4, '');
        my ($st) = $c->{head} =~ m{\AHTTP/1\.\d (\d{3})};
        if (($st // 0) != 200) {
            $S{http_errors}++;
            error_note("status " . ($st // '?') . " for $c->{loc} @{$c->{channels}}");
            return 0;
        }
        $c->{chunked} = $c->{head} =~ /^Transfer-Encoding:\s*chunked/mi ? 1 : 0;
    }
    if (!$c->{chunked}) {
        $c->{ev} .= $c->{raw};
        $c->{raw} = '';
        return 1;
    }
    while (length $c->{raw}) {
        if ($c->{left}) {
            my $piece = substr($c->{raw}, 0, $c->{left}, '');
            $c->{ev} .= $piece;
            $c->{left} -= length $piece;
            $c->{crlf} = 1 if !$c->{left};
            next;
        }
        if ($c->{crlf}) {
            return 1 if length($c->{raw}) < 2;
            return 0 unless substr($c->{raw}, 0, 2, '') eq "\r\n";
            $c->{crlf} = 0;
            next;
        }
        my $i = index($c->{raw}, "\r\n");
        return 1 if $i < 0;
        my $line = substr($c->{raw}, 0, $i + 2, '');
        return 0 unless $line =~ /\A([0-9a-fA-F]+)\r\n\z/;
        $c->{left} = hex $1;
        if (!$c->{left}) { $c->{ended} = 1; $c->{raw} = ''; return 1 }
    }
    return 1;
}

sub sub_events {
    my ($c) = @_;
    while ((my $i = index($c->{ev}, "\n\n")) >= 0) {
        my $block = substr($c->{ev}, 0, $i + 2, '');
        my ($id, $event, @data);
        for my $line (split /\n/, $block) {
            if    ($line =~ /\Aid: (.*)\z/)    { $id = $1 }
            elsif ($line =~ /\Aevent: (.*)\z/) { $event = $1 }
            elsif ($line =~ /\Adata: (.*)\z/)  { push @data, $1 }
            elsif ($line =~ /\A:/)             { $S{keepalives}++ }
        }
        next unless defined $id || @data;
        my $data = join "\n", @data;
        if (($event // '') eq 'sse_gap') {
            if ($c->{kind} eq 'chk') { $S{chk_gaps}++; error_note("checker got sse_gap $data") }
            else                     { $S{gaps}++ }
            next;
        }
        next unless defined $id;
        $S{events}++;
        $c->{got}++;
        $max_id = $id if $id > $max_id;
        $c->{last_id} = $id if !defined $c->{last_id} || $id > $c->{last_id};
        my ($ch) = $data =~ /ch=([\w-]+)/;
        next if !defined $ch || $ch eq 'multi';
        if (defined $c->{last}{$ch} && $id <= $c->{last}{$ch}) {
            $S{order_errors}++;
            error_note("channel $ch: id $id after $c->{last}{$ch}");
        }
        if (defined $c->{resumed_from} && $id <= $c->{resumed_from}) {
            $S{order_errors}++;
            error_note("channel $ch: id $id not after Last-Event-ID $c->{resumed_from}");
        }
        $c->{last}{$ch} = $id;
        if ($c->{kind} eq 'chk') {
            $S{chk_events}++;
            my ($seq) = $data =~ /seq=(\d+)/;
            my $want = $c->{seq}{$ch};
            if (defined $want && defined $seq) {
                if ($seq == $want + 1) {}
                elsif ($seq <= $want) { $S{chk_dup}++; error_note("checker $ch: seq $seq after $want") }
                else { $S{chk_lost} += $seq - $want - 1;
                       error_note("checker $ch: seq $seq after $want (lost " . ($seq - $want - 1) . ")") }
            }
            $c->{seq}{$ch} = $seq if defined $seq && (!defined $want || $seq > $want);
        }
    }
}

sub subscribers {
    srand($$ ^ time);
    my %conns;
    my $add = sub { my ($c) = @_; $conns{ fileno $c->{sock} } = $c };
    my $drop = sub {
        my ($c) = @_;
        delete $conns{ fileno $c->{sock} };
        close $c->{sock};
    };

    # checkers: one per checked channel and one on all of them; each
    # reconnects every 20-60 s with its Last-Event-ID, its sequence numbers
    # carried over
    my @chk_sets = ((map { [$_] } @CHK), [@CHK]);
    for my $set (@chk_sets) {
        my $c = sub_open(kind => 'chk', loc => '/chk', channels => $set)
            or die "soak: cannot connect\n";
        $c->{seq} = {};
        $c->{reconnect_at} = time + 20 + rand 40;
        $add->($c);
    }

    my $churn = 0;
    # the churners stop 2 s before the publisher; the checkers read 2 s
    # longer, to get its last messages
    my $stop = $END - 2;
    while (time < $END + 2) {
        my $now = time;
        # top up churners, a burst at most per round
        my $n = 0;
        while ($churn < $SUBS && $n++ < 20 && $now < $stop) {
            my @chs = do { my %u = map { (pick(@CH) => 1) } 1 .. 1 + int rand 4; keys %u };
            push @chs, 'x' . int(rand 1e9) if rand() < 0.1;    # a channel of its own
            push @chs, 'tmp' . int(rand 5) if rand() < 0.05;    # may be DELETEd
            my $r = rand;
            my $c = sub_open(
                kind     => 'churn',
                loc      => '/sub',
                channels => \@chs,
                http10   => rand() < 0.3,
                stalled  => $r < 0.02,
                lazy     => $r >= 0.02 && $r < 0.10,
                last_id  => ($max_id && rand() < 0.3)
                            ? (rand() < 0.1 ? 1 : ($max_id > 200 ? $max_id - int(rand(200)) : 1)) : undef,
                until    => $now + (rand() < 0.8 ? rand 5 : 5 + rand 40),
            ) or last;
            $c->{resumed_from} = $c->{last_id} if defined $c->{last_id};
            $S{stalled}++ if $c->{stalled};
            $churn++;
            $add->($c);
        }
        for my $c (values %conns) {
            if ($c->{kind} eq 'churn' && ($c->{until} < $now || $now >= $stop)) {
                $drop->($c);
                $churn--;
            } elsif ($c->{kind} eq 'chk' && $c->{reconnect_at} < $now && $now < $stop) {
                # a deliberate reconnect, resuming
                my $new = sub_open(kind => 'chk', loc => '/chk', channels => $c->{channels},
                                   last_id => $c->{last_id}) or next;
                $new->{seq} = $c->{seq};
                $new->{last_id} = $c->{last_id};
                $new->{resumed_from} = $c->{last_id};
                $new->{reconnect_at} = $now + 20 + rand 40;
                $drop->($c);
                $add->($new);
                $S{chk_reconnects}++;
            }
        }
        # the stalled never read; the lazy ones read every 1-3 s
        my $sel = IO::Select->new(map { $_->{sock} } grep {
            !$_->{stalled} && !($_->{lazy} && ($_->{next_read} // 0) > $now)
        } values %conns);
        my @ready = $sel->count ? $sel->can_read(0.05) : do { sleep 0.05; () };
        for my $fh (@ready) {
            my $c = $conns{ fileno $fh } or next;
            $c->{next_read} = $now + 1 + rand 2 if $c->{lazy};
            my $n = sysread($fh, my $buf, 262144);
            if (!defined $n && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR)) { next }
            my $ok = $n && sub_feed($c, $buf);
            sub_events($c) if $ok;
            next if $ok && !$c->{ended};
            # closed by the server (stalled past sse_max_pending, DELETE, or
            # an error) or a framing error
            $S{closed_by_server}++;
            $S{http_errors}++, error_note("framing error on @{$c->{channels}}")
                if $n && !$ok && defined $c->{head} && $c->{head} =~ / 200 /;
            $drop->($c);
            if ($c->{kind} eq 'chk') {
                # e.g. a reload ended it: resume where it was
                $S{chk_ended}++;
                my $new = sub_open(kind => 'chk', loc => '/chk', channels => $c->{channels},
                                   last_id => $c->{last_id}) or next;
                $new->{$_} = $c->{$_} for qw(seq last_id reconnect_at);
                $new->{resumed_from} = $c->{last_id};
                $add->($new);
            } else {
                $churn--;
            }
        }
    }
    my %last;
    for my $c (values %conns) {
        if ($c->{kind} eq 'chk') {
            my $set = join '+', @{ $c->{channels} };
            $last{"chk_seq $set $_"} = $c->{seq}{$_} // 0 for @{ $c->{channels} };
        }
        $drop->($c);
    }
    write_summary('subscribers', %S, %last, max_id => $max_id, first_error => $first_error);
    exit 0;
}

#-----------------------------------------------------------------------------
# monitor
#-----------------------------------------------------------------------------

my %kids;
for my $role (\&publisher, \&subscribers) {
    my $pid = fork // die "fork: $!";
    if (!$pid) { $role->() }
    $kids{$pid} = 1;
}
$SIG{INT} = $SIG{TERM} = sub { kill 'TERM', keys %kids; exit 130 };

printf "soak: %d s (warm-up %d s), %d churning subscribers + 4 checkers, %d messages/s, "
       . "a sample every %d s%s\n", $SECONDS, $SECONDS / 3, $SUBS, $RATE, $INTERVAL,
       $RELOAD ? ", a reload every $RELOAD s" : '';
printf "%7s %9s %9s %9s %6s %8s %8s %10s %11s\n", 'elapsed', 'RSS', '(anon)', 'shm.used',
       'subs', 'channels', 'messages', 'published', 'delivered';

my @samples;
my $next = $START + $INTERVAL;
my $next_reload = $RELOAD ? $START + $RELOAD : 0;
my $reloads = 0;
while (time < $END + 0.5 && %kids) {
    my $now = time;
    if ($next_reload && $now >= $next_reload && $now < $END - 5) {
        kill 'HUP', $MASTER;
        $reloads++;
        $next_reload += $RELOAD;
    }
    if ($now >= $next) {
        my ($rss, $anon) = rss_of(children_of($MASTER));
        my $s = status_figures() // {};
        my $e = $now - $START;
        push @samples, { t => $e, rss => $rss, anon => $anon, %$s };
        printf "%6.0fs %7.1f MB %6.1f MB %7.2f MB %6s %8s %8s %10s %11s\n", $e,
               $rss / 1048576, $anon / 1048576, ($s->{shm_used} // 0) / 1048576,
               map { $_ // '?' } @$s{qw(subscribers channels messages published delivered)};
        $next += $INTERVAL;
    }
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $kids{$pid};
        print STDERR "soak: a client process exited with status $?\n" if $?;
    }
    sleep 0.1;
}
# the children stop at the deadline by themselves
my $grace = time + 10;
while (%kids && time < $grace) {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $kids{$pid} }
    sleep 0.05;
}
kill 'KILL', keys %kids if %kids;

#-----------------------------------------------------------------------------
# verdict
#-----------------------------------------------------------------------------

my @fail;
my $pub = read_summary('publisher')   // do { push @fail, 'publisher left no summary'; {} };
my $sub = read_summary('subscribers') // do { push @fail, 'subscribers left no summary'; {} };

# subscribers all gone: the zone's count falls back to 0
my $left;
for (1 .. 50) {
    my $s = status_figures() or next;
    $left = $s->{subscribers};
    last if !$left;
    sleep 0.1;
}
push @fail, "status still counts $left subscribers after every client left"
    if ($left // -1) != 0;

my $mb = sub { sprintf '%.2f MB', $_[0] / 1048576 };
my (@mid, @last);
for my $s (@samples) {
    next unless defined $s->{shm_used};
    if    ($s->{t} >= 2 * $SECONDS / 3 - 1) { push @last, $s }
    elsif ($s->{t} >= $SECONDS / 3 - 1)     { push @mid, $s }
}
my $max = sub { my ($k, @l) = @_; my $m = 0; $_->{$k} > $m and $m = $_->{$k} for @l; $m };
my %fig;
if (@mid < 2 || @last < 2) {
    push @fail, sprintf('too few samples (%d in the middle third, %d in the last): '
                        . 'raise SOAK_SECONDS or lower SOAK_INTERVAL', scalar @mid, scalar @last);
} else {
    for my $k (qw(rss shm_used)) {
        my ($m, $l) = ($max->($k, @mid), $max->($k, @last));
        my $limit = $m * (1 + $TOL) + ($k eq 'rss' ? $RSS_SLACK : $SHM_SLACK);
        $fig{$k} = [$m, $l, $limit];
        push @fail, sprintf('%s grows after the warm-up: max %s in the middle third, '
                            . '%s in the last third (limit %s)', $k eq 'rss' ? 'workers\' RSS' : 'shm.used',
                            $mb->($m), $mb->($l), $mb->($limit))
            if $l > $limit;
    }
}

# checkers: nothing lost, repeated or reordered
push @fail, "checkers: $sub->{chk_lost} messages lost" if $sub->{chk_lost};
push @fail, "checkers: $sub->{chk_dup} messages repeated" if $sub->{chk_dup};
push @fail, "checkers: $sub->{chk_gaps} sse_gap events (history should cover them)" if $sub->{chk_gaps};
push @fail, "checkers received nothing" if !$sub->{chk_events};
for my $k (sort grep { /^chk_seq / } keys %$sub) {
    my ($set, $ch) = (split ' ', $k)[1, 2];
    push @fail, "checker on $set: last message of $ch seq $sub->{$k}, the publisher's "
                . ($pub->{"seq_$ch"} // '?')
        if ($pub->{"seq_$ch"} // -1) != $sub->{$k};
}
push @fail, "subscribers: $sub->{order_errors} ids out of order in a channel" if $sub->{order_errors};
push @fail, "subscribers: $sub->{http_errors} bad responses ($sub->{first_error})" if $sub->{http_errors};
push @fail, "publisher: $pub->{errors} failed requests (last: $pub->{last_error})" if $pub->{errors};

# the error log: no alert, crit, emerg, crash
my $log = do { local (@ARGV, $/) = ("$PREFIX/logs/error.log"); <> } // '';
my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ } split /\n/, $log;
push @fail, scalar(@bad) . " bad error.log lines, the first: $bad[0]" if @bad;

my $e = @samples ? $samples[-1] : {};
print "\n";
printf "publisher: %d requests, %d messages, %d GETs, %d DELETEs, %d errors\n",
       map { $_ // 0 } @$pub{qw(requests messages gets deletes errors)};
printf "subscribers: %d connects (%d resuming, %d stalled), %d events, %d sse_gap, "
       . "%d closed by the server, %d keepalives\n",
       map { $_ // 0 } @$sub{qw(connects resumes stalled events gaps closed_by_server keepalives)};
printf "checkers: %d events, %d reconnects with Last-Event-ID, %d ended by the server, "
       . "%d lost, %d repeated, %d sse_gap\n",
       map { $_ // 0 } @$sub{qw(chk_events chk_reconnects chk_ended chk_lost chk_dup chk_gaps)};
print "reloads: $reloads\n" if $RELOAD;
if (%fig) {
    printf "workers' RSS: max %s after the warm-up (middle third), %s in the last third "
           . "(limit %s)\n", map { $mb->($_) } @{ $fig{rss} };
    printf "shm.used: max %s in the middle third, %s in the last third (limit %s)\n",
           map { $mb->($_) } @{ $fig{shm_used} };
}
if (@fail) {
    print "soak: FAIL\n";
    print "  - $_\n" for @fail;
    exit 1;
}
print "soak: PASS\n";
exit 0;
