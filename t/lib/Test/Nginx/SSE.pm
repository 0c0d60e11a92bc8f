package Test::Nginx::SSE;

# Data-driven test harness for the nginx SSE module, in the spirit of
# Test::Nginx::Socket (written from scratch; only core Perl + Test::Base).
#
# A test file is just:
#
#     use lib 't/lib';
#     use Test::Nginx::SSE;
#     run_tests();
#     __DATA__
#     === TEST 1: ...
#     --- config
#     ...
#
# For every block a fresh server root is created under t/servroot/, an
# nginx.conf is generated from the block's sections, nginx is started in the
# foreground as a child process, the block's requests / subscribers / perl
# code are run, nginx is stopped, and then the logs are checked.
#
# See the documentation section at the end of this file (after __END__) for
# the list of supported sections and exported helpers.

use Test::Base -base;    # lower-case -base: subclass + exports, no source filter

use strict;
use warnings;

use Cwd ();
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use File::Basename ();
use File::Path ();
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

our @EXPORT = qw(
    run_tests repeat_each
    port port2 server_root current_block
    http http_pipeline sse_open sse_pump
    nginx_pid worker_pids nginx_reload nginx_signal
    error_log_text access_log_text timeout_factor
    explain note subtest
);

# Test::Base re-exports only part of Test::More; add a few handy ones.
{
    no warnings 'once';
    *explain = \&Test::More::explain;
    *note    = \&Test::More::note;
    *subtest = \&Test::More::subtest;
}

#-----------------------------------------------------------------------------
# Global configuration (from the environment)
#-----------------------------------------------------------------------------

# Repository root: this file lives in <root>/t/lib/Test/Nginx/SSE.pm
our $REPO_ROOT = do {
    my $f = Cwd::abs_path(__FILE__);
    my $d = File::Basename::dirname($f);    # .../t/lib/Test/Nginx
    Cwd::abs_path("$d/../../../..");
};

our $NGINX_BINARY = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $MODULE_PATH  = do {
    my $m = $ENV{TEST_NGINX_MODULE} // 'build/ngx_http_sse_module.so';
    File::Spec->file_name_is_absolute($m) ? $m : "$REPO_ROOT/$m";
};
our $SERVROOT  = $ENV{TEST_NGINX_SERVROOT} || "$REPO_ROOT/t/servroot";
our $LOG_LEVEL = $ENV{TEST_NGINX_LOG_LEVEL} || 'info';
our $VALGRIND  = $ENV{TEST_NGINX_VALGRIND} ? 1 : 0;
our $ASAN      = $ENV{TEST_NGINX_ASAN} ? 1 : 0;
our $TIMEOUT_FACTOR = $ENV{TEST_NGINX_TIMEOUT_FACTOR} || ($VALGRIND ? 10 : 1);

my $REPEAT = $ENV{TEST_NGINX_REPEAT} || 1;

# Sections whose text gets $TEST_NGINX_* placeholders expanded.
my @EXPANDED_SECTIONS = qw(
    main_config http_config config event_config
    request requests raw_request more_headers
    subscribe subscribe_headers user_files
    response_body response_body_like response_headers response_headers_like
    stream_body stream_body_like stream_headers stream_headers_like
    stream_until stream_error_code error_code
    error_log no_error_log expect_alert allow_alert
);

# Every section a block may have: any other name is a typo that would
# silently check nothing, so it fails the block.
my %KNOWN_SECTIONS = map { ($_ => 1) } qw(
    main_config http_config config event_config workers log_level must_die
    request requests raw_request pipeline more_headers timeout wait
    error_code response_headers response_headers_like response_body
    response_body_like
    subscribe subscribe_headers subscribe_timeout stream_until stream_timeout
    stream_error_code stream_headers stream_headers_like stream_body
    stream_body_like killed_workers user_files
    error_log no_error_log expect_alert allow_alert
    test ONLY SKIP LAST
);

# The request the harness sends after a reply on the same connection: its
# reply must come back as the next, separate response (see _probe).
our $PROBE_URI = '/__harness_probe';
my $PROBE_REQUEST = "GET $PROBE_URI HTTP/1.1\r\nHost: localhost\r\n"
                  . "Connection: close\r\n\r\n";
my $PROBE_LOCATION = "location = $PROBE_URI { return 204; }";

# Lines of error.log that fail a block unless it declares them
my $ALERT_RE = qr/\[(?:alert|crit|emerg)\]/;
my $SANITIZER_RE = qr/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

# prctl(PR_SET_PDEATHSIG) syscall number, so that nginx dies together with
# the test script even if the script is SIGKILLed (Linux only, best effort).
my $SYS_PRCTL = eval { local $SIG{__WARN__} = sub { }; require 'syscall.ph'; &SYS_prctl() };

# Child processes (nginx masters) we must never leave behind.
my %CHILDREN;

# State of the block currently running (undef between blocks).
our $CUR;

$SIG{PIPE} = 'IGNORE';
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        _kill_all_children();
        $SIG{$sig} = 'DEFAULT';
        kill $sig, $$;
        POSIX::_exit(1);
    };
}

END {
    local $?;
    _kill_all_children();
}

# Watchdog: a small forked process that holds the read end of a pipe. We tell
# it the process groups of the nginx instances we start; if this script dies
# in any way (even SIGKILL) the pipe hits EOF and the watchdog kills those
# groups, so orphaned nginx workers never survive the test run.
my $WATCHDOG_FH;
sub _watchdog_register {
    my ($op, $pgid) = @_;    # op: '+' (add) or '-' (remove)
    if (!$WATCHDOG_FH) {
        return if $op eq '-';
        pipe(my $r, my $w) or return;
        my $pid = fork;
        return unless defined $pid;
        if (!$pid) {
            close $w;
            setpgrp(0, 0);    # keep Ctrl-C for the script itself
            $SIG{$_} = 'IGNORE' for qw(INT TERM HUP PIPE);
            my %groups;
            while (defined(my $line = <$r>)) {
                $groups{$2} = 1 if $line =~ /^(\+)(\d+)$/;
                delete $groups{$2} if $line =~ /^(-)(\d+)$/;
            }
            kill 'KILL', -$_ for keys %groups;
            POSIX::_exit(0);
        }
        close $r;
        my $old = select $w;
        $| = 1;
        select $old;
        $WATCHDOG_FH = $w;
    }
    print {$WATCHDOG_FH} "$op$pgid\n";
}

sub _kill_all_children {
    for my $pid (keys %CHILDREN) {
        kill 'KILL', -$pid;    # whole process group (master + workers)
        kill 'KILL', $pid;
        waitpid($pid, 0);
        delete $CHILDREN{$pid};
        _watchdog_register('-', $pid);
    }
}

#-----------------------------------------------------------------------------
# Small utilities
#-----------------------------------------------------------------------------

sub _now { Time::HiRes::time() }
sub _sleep { Time::HiRes::sleep($_[0]) }

# Scale a timeout by TEST_NGINX_TIMEOUT_FACTOR (10 under valgrind).
sub _tf { $_[0] * $TIMEOUT_FACTOR }

sub timeout_factor { $TIMEOUT_FACTOR }

sub repeat_each {
    $REPEAT = shift if @_;
    return $REPEAT;
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

sub _spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "cannot write $file: $!\n";
    binmode $fh;
    print {$fh} $text;
    close $fh or die "cannot close $file: $!\n";
}

# Find a free TCP port on 127.0.0.1 (let the kernel pick one).
my %USED_PORTS;
sub _free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => 0,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 1,
        ) or next;
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p}++;
        return $p;
    }
    die "cannot find a free port\n";
}

# Find an executable in PATH (or accept an explicit path).
sub _which {
    my ($prog) = @_;
    return $prog if $prog =~ m{/} && -x $prog;
    for my $d (split /:/, $ENV{PATH} || '', -1) {
        $d = '.' if $d eq '';
        return "$d/$prog" if -f "$d/$prog" && -x _;
    }
    return undef;
}

# Compile a regex given either as a string or as a qr// object.
sub _re {
    my ($re) = @_;
    return $re if ref $re eq 'Regexp';
    return qr/$re/s;
}

# Split a section's text into non-empty lines (with \r stripped).
sub _lines {
    my ($text) = @_;
    return () unless defined $text;
    return grep { /\S/ } map { s/\r\z//r } split /\n/, $text;
}

# Normalize headers given as a hashref, an arrayref of [name, value] pairs,
# or a flat arrayref (name, value, ...) into a list of [name, value] pairs.
# A value of undef means "do not send this header (not even the default)".
sub _header_pairs {
    my ($h) = @_;
    return [] unless $h;
    if (ref $h eq 'HASH') {
        return [map { [$_, $h->{$_}] } sort keys %$h];
    }
    if (ref $h eq 'ARRAY') {
        return [@$h] if !@$h || ref $h->[0] eq 'ARRAY';
        my @pairs;
        for (my $i = 0; $i < @$h; $i += 2) {
            push @pairs, [$h->[$i], $h->[$i + 1]];
        }
        return \@pairs;
    }
    die "headers must be a hashref or an arrayref\n";
}

# Parse "Name: value" lines (more_headers / subscribe_headers). "!Name" means
# "remove this header" (e.g. the default Connection: close).
sub _parse_header_lines {
    my ($text) = @_;
    my @pairs;
    for my $line (_lines($text)) {
        if ($line =~ /^\s*!\s*([^:\s]+)\s*$/) {
            push @pairs, [$1, undef];
        } elsif ($line =~ /^\s*([^:\s]+)\s*:\s?(.*)$/) {
            push @pairs, [$1, $2];
        } else {
            die "bad header line: '$line'\n";
        }
    }
    return \@pairs;
}

#-----------------------------------------------------------------------------
# HTTP request building / sending
#-----------------------------------------------------------------------------

# Build the raw bytes of a request.
#   method, uri, proto (default HTTP/1.1), body (undef: none),
#   headers (arrayref of [name, value]; user headers replace the defaults
#   Host: localhost, Connection: close (not with keepalive => 1) and
#   Content-Length of the same name).
#   default_headers: extra defaults (pairs), overridable the same way.
sub _build_request {
    my (%a) = @_;
    my $proto = $a{proto} || 'HTTP/1.1';
    my $body  = $a{body};
    if (defined $body && utf8::is_utf8($body)) {
        utf8::encode($body);
    }
    my @user = @{ $a{headers} || [] };
    my %user = map { (lc $_->[0] => 1) } @user;

    my @defaults = (['Host', 'localhost']);
    push @defaults, ['Connection', 'close'] unless $a{keepalive};
    push @defaults, @{ $a{default_headers} || [] };
    push @defaults, ['Content-Length', length $body]
        if defined $body && length $body;

    my $req = "$a{method} $a{uri} $proto\r\n";
    for my $h (@defaults, @user) {
        next if !defined $h->[1];
        next if $user{ lc $h->[0] } && !grep { $_ == $h } @user;
        $req .= "$h->[0]: $h->[1]\r\n";
    }
    $req .= "\r\n";
    $req .= $body if defined $body;
    return $req;
}

# Parse a "--- request" style string: first line "METHOD URI [HTTP/x.y]",
# the remaining text (if any) is the body.
sub _parse_request_text {
    my ($text, $strip_nl) = @_;
    die "empty request\n" unless defined $text && length $text;
    $text =~ s/\n\z// if $strip_nl;
    my ($first, $body) = split /\n/, $text, 2;
    $first =~ s/\r\z//;
    $first =~ s/^\s+//;
    my ($method, $uri, $proto) = split ' ', $first;
    die "bad request line: '$first'\n" unless defined $uri;
    $body = undef if defined $body && !length $body;
    return { method => $method, uri => $uri, proto => $proto, body => $body };
}

# Write all of $data to a non-blocking socket before $deadline.
sub _write_all {
    my ($sock, $data, $deadline) = @_;
    my $sel = IO::Select->new($sock);
    while (length $data) {
        my $left = $deadline - _now();
        return "timeout while writing" if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($sock, $data);
        if (defined $n) {
            substr($data, 0, $n, '');
        } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            return "write failed: $!";
        }
    }
    return undef;
}

# Send raw request bytes to 127.0.0.1:$port and read the response until it is
# complete (Content-Length / last chunk / EOF) or the timeout expires.
# Writing and reading are interleaved, so an early error response to a large
# body is still captured.
#   opts: head_only (a HEAD request), probe (1: keep the connection and send
#   the harness's probe request after the reply, see _probe; the result's
#   probe_error says what went wrong, undef when nothing did)
sub _do_request {
    my ($port, $bytes, $timeout, %o) = @_;
    my $deadline = _now() + $timeout;
    my $c = Test::Nginx::SSE::Conn->new(port => $port, timeout => $timeout);
    return _result(Test::Nginx::SSE::Response->new, error => $c->{error})
        unless $c->{sock};
    $c->write($bytes);
    my ($resp, $timed_out) = $c->read_response($deadline,
                                               head_only => $o{head_only});
    my $res = _result($resp, timed_out => $timed_out,
                      error => $c->{read_error});
    if ($o{probe} && $resp->{complete}) {
        $res->{probe_error} = _probe($c, $resp, _now() + $timeout);
    }
    $c->close;
    return $res;
}

# Several requests written at once (pipelined) on one connection, then the
# probe in the same write. Returns the list of results (a request whose
# reply did not come, because the server closed the connection before it,
# gets error "no reply"); $probe_error as in _do_request.
sub _do_pipeline {
    my ($port, $reqs, $timeout, %o) = @_;    # reqs: [bytes, head_only]
    my $deadline = _now() + $timeout;
    my $c = Test::Nginx::SSE::Conn->new(port => $port, timeout => $timeout);
    unless ($c->{sock}) {
        my @r = map { _result(Test::Nginx::SSE::Response->new,
                              error => $c->{error}) } @$reqs;
        return (\@r, undef);
    }
    $c->write(join '', map { $_->[0] } @$reqs);
    $c->write($PROBE_REQUEST) if $o{probe};
    my (@res, $last);
    for my $r (@$reqs) {
        if ($last && !$last->{complete}) {
            push @res, _result(Test::Nginx::SSE::Response->new,
                               error => 'no reply: an earlier reply did not complete');
            next;
        }
        if ($last && $c->{eof} && !length $c->{in}) {
            push @res, _result(Test::Nginx::SSE::Response->new,
                               error => 'no reply: the server closed the connection');
            next;
        }
        my ($resp, $timed_out) = $c->read_response($deadline,
                                                   head_only => $r->[1]);
        push @res, _result($resp, timed_out => $timed_out,
                           error => $c->{read_error});
        $last = $resp;
    }
    my $probe_error;
    if ($o{probe} && $last && $last->{complete}) {
        $probe_error = _probe($c, $last, $deadline, 1);
    }
    $c->close;
    return (\@res, $probe_error);
}

# After a complete reply on a connection that the client keeps open: nothing
# may follow that reply but the reply to the next request. The harness's
# probe (GET /__harness_probe, "return 204" in every server the harness
# writes) must come back as the next, separate response, and nothing after
# it; or the server closes the connection cleanly (no bytes) after the
# reply. Bytes left behind by a reply (a second response, a body longer
# than announced), or a request body the server did not read and then took
# for the next request (request smuggling), fail. Returns undef when all is
# well, else what went wrong. $sent: the probe was already written
# (pipelining).
sub _probe {
    my ($c, $resp, $deadline, $sent) = @_;
    my $conn = lc($resp->{headers}{connection} // '');
    my $closing = $conn =~ /\bclose\b/
        || (($resp->{proto} // '') eq 'HTTP/1.0' && $conn !~ /keep-alive/);
    if (length $c->{in} && !$sent) {
        return length($c->{in}) . " unexpected bytes after the reply: "
               . _snippet($c->{in});
    }
    if ($closing && !$sent) {
        $c->wait_eof($deadline);
        return length $c->{in}
            ? "bytes after a reply that closes the connection: " . _snippet($c->{in})
            : undef;
    }
    $c->write($PROBE_REQUEST) unless $sent;
    my ($p, $timed_out) = $c->read_response($deadline);
    if (!$p->{complete}) {
        # the server closed the connection after the reply: fine, as long
        # as it sent nothing more
        return undef if $p->{raw} eq '' && $c->{eof};
        return "no reply to the probe request within the timeout (got "
               . ($p->{raw} eq '' ? 'nothing' : _snippet($p->{raw})) . ')'
            if $timed_out;
        return "bad reply to the probe request: " . _snippet($p->{raw});
    }
    if (($p->{status} // 0) != 204) {
        return "the probe request got '$p->{proto} $p->{status} $p->{reason}'"
             . " instead of 204: the reply before it left bytes behind, or"
             . " the server took a request body for a request; got: "
             . _snippet($p->{raw});
    }
    $c->wait_eof($deadline);
    return length $c->{in}
        ? "bytes after the probe's reply: " . _snippet($c->{in})
        : undef;
}

sub _snippet {
    my ($s) = @_;
    my $more = length($s) > 200 ? '...' : '';
    $s = substr($s, 0, 200);
    $s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return "'$s'$more";
}

# Convert a Response object into the plain hashref returned by http().
sub _result {
    my ($resp, %extra) = @_;
    my $error = $extra{error} // $resp->{error};
    $error = "timeout after waiting for the response" if !$error && $extra{timed_out};
    return {
        status      => $resp->{status},
        reason      => $resp->{reason},
        proto       => $resp->{proto},
        headers     => { %{ $resp->{headers} } },
        header_list => [ @{ $resp->{header_list} } ],
        body        => $resp->{body},
        raw         => $resp->{raw},
        complete    => $resp->{complete},
        timed_out   => $extra{timed_out} ? 1 : 0,
        error       => $error,
    };
}

#-----------------------------------------------------------------------------
# Chunked decoding and SSE parsing (pure functions, unit-testable)
#-----------------------------------------------------------------------------

# Decode a complete chunked body. Scalar context: the decoded data.
# List context: (decoded, complete_flag, error_or_undef).
sub _dechunk {
    my ($text) = @_;
    my $d = Test::Nginx::SSE::Dechunker->new;
    my $out = $d->feed($text);
    return wantarray ? ($out, $d->{complete}, $d->{error}) : $out;
}

# Parse an SSE stream. Returns a hashref { events => [...], comments => [...] }.
# Only complete lines are considered; an event is dispatched on a blank line
# if at least one field (data/id/event/retry/other) was seen since the last
# dispatch. Event hashref: { data, id, event, retry } -- keys whose field did
# not appear in the event are undef (data is undef when no data line was
# seen; several data lines are joined with "\n").
sub _parse_sse {
    my ($text) = @_;
    my (@events, @comments);
    $text = '' unless defined $text;
    $text =~ s/\A(?:\xEF\xBB\xBF|\x{FEFF})//;

    my %cur;
    my @data;
    my $seen = 0;
    while ($text =~ /\G([^\r\n]*)(?:\r\n|\r|\n)/gc) {
        my $line = $1;
        if ($line eq '') {
            if ($seen) {
                push @events, {
                    data  => (@data ? join("\n", @data) : undef),
                    id    => $cur{id},
                    event => $cur{event},
                    retry => $cur{retry},
                };
            }
            %cur  = ();
            @data = ();
            $seen = 0;
            next;
        }
        if ($line =~ /^:(.*)\z/s) {
            (my $c = $1) =~ s/^ //;
            push @comments, $c;
            next;
        }
        my ($field, $value) = $line =~ /^([^:]*)(?::(.*))?\z/s;
        $value = '' unless defined $value;
        $value =~ s/^ //;
        $seen = 1;
        if ($field eq 'data') {
            push @data, $value;
        } elsif ($field eq 'id' || $field eq 'event' || $field eq 'retry') {
            $cur{$field} = $value;
        } else {
            $cur{other}{$field} = $value;
        }
    }
    return { events => \@events, comments => \@comments };
}

# List of event hashrefs (see _parse_sse).
sub _parse_events {
    return @{ _parse_sse($_[0])->{events} };
}

# List of comment texts (lines starting with ':', leading ": " removed).
sub _parse_comments {
    return @{ _parse_sse($_[0])->{comments} };
}

#-----------------------------------------------------------------------------
# Helpers exported to tests (valid while a block is running)
#-----------------------------------------------------------------------------

sub _cur {
    die "no nginx block is running\n" unless $CUR;
    return $CUR;
}

sub port          { _cur()->{port} }
sub port2         { _cur()->{port2} }
sub server_root   { _cur()->{dir} }
sub current_block { _cur()->{block} }
sub nginx_pid     { _cur()->{pid} }

sub error_log_text {
    my $dir = _cur()->{dir};
    return _slurp("$dir/logs/error.log");
}

# The access log of the block's nginx (every server the harness writes logs
# there, format "harness": remote address, time, "request line", status,
# bytes sent, request length, connection number and its request count).
sub access_log_text {
    my $dir = _cur()->{dir};
    return _slurp("$dir/logs/access.log");
}

# A failed harness check (not one of the block's own assertions): only
# reported when it fails, so counts stay stable.
sub _bk_fail {
    my ($name, @diag) = @_;
    my $builder = Test::More->builder;
    $builder->ok(0, $name);
    $builder->diag(join "\n", @diag) if @diag;
    $CUR->{bk}{ $builder->current_test } = 1 if $CUR;
}

# A passing or failing harness check that is always reported.
sub _bk_ok {
    my ($ok, $name, @diag) = @_;
    my $builder = Test::More->builder;
    $builder->ok($ok, $name) or $builder->diag(join "\n", @diag);
    $CUR->{bk}{ $builder->current_test } = 1 if $CUR;
    return $ok;
}

sub _probe_fail {
    my ($what, $err) = @_;
    my $name = $CUR ? $CUR->{name} : '';
    _bk_fail("$name - keep-alive probe after $what", $err);
}

# http($method, $uri, $body, \%headers, %opts)
#   opts: port, proto ('HTTP/1.0'), timeout (seconds, scaled), raw (send
#   these bytes verbatim instead of building a request), probe => 0 (do not
#   send the probe request after the reply)
# The request goes out on a keep-alive connection (no "Connection: close"
# unless given) and is followed on that connection by the harness's probe
# (see _probe): a reply that leaves bytes behind fails the block.
# Returns { status, headers => {lc name => value}, header_list, body, raw,
#           timed_out, error, complete }.
sub http {
    my ($method, $uri, $body, $headers, %o) = @_;
    my $port = $o{port} // port();
    my $bytes = defined $o{raw} ? $o{raw} : _build_request(
        method    => $method,
        uri       => $uri,
        proto     => $o{proto},
        body      => $body,
        headers   => _header_pairs($headers),
        keepalive => 1,
    );
    my $res = _do_request($port, $bytes, _tf($o{timeout} // 5),
                          head_only => (uc($method // '') eq 'HEAD'),
                          probe => $o{probe} // 1);
    _probe_fail(_what($method, $uri, $bytes), $res->{probe_error})
        if defined $res->{probe_error};
    return $res;
}

# http_pipeline(\@requests, %opts): all the requests in one write on one
# connection (pipelining), followed by the probe; returns the list of
# results, as http() (a list of hashrefs, in order). A request is raw bytes,
# or an arrayref [$method, $uri, $body, \%headers, $proto]. opts: port,
# timeout (for the whole exchange), probe => 0.
sub http_pipeline {
    my ($reqs, %o) = @_;
    my $port = $o{port} // port();
    my @r;
    for my $q (@$reqs) {
        if (ref $q) {
            my ($m, $u, $b, $h, $proto) = @$q;
            push @r, [_build_request(method => $m, uri => $u, body => $b,
                                     proto => $proto, keepalive => 1,
                                     headers => _header_pairs($h)),
                      uc($m) eq 'HEAD'];
        } else {
            push @r, [$q, $q =~ /\AHEAD /];
        }
    }
    my ($res, $perr) = _do_pipeline($port, \@r, _tf($o{timeout} // 5),
                                    probe => $o{probe} // 1);
    _probe_fail(scalar(@r) . ' pipelined requests', $perr) if defined $perr;
    return @$res;
}

sub _what {
    my ($method, $uri, $bytes) = @_;
    return "$method $uri" if defined $method && defined $uri;
    my ($line) = ($bytes // '') =~ /\A([^\r\n]*)/;
    return "'$line'";
}

# sse_open($uri, \%headers, %opts) -> Test::Nginx::SSE::Client
#   opts: port, method (GET), body, proto, timeout (for the headers; 5s),
#         no_wait (1: do not wait for the response headers; see
#         $client->wait_headers)
# Sends "Accept: text/event-stream" and "Connection: close" by default (pass
# a header with an undef value to suppress a default).
sub sse_open {
    my ($uri, $headers, %o) = @_;
    my $cur = _cur();
    my $client = Test::Nginx::SSE::Client->new(
        port    => $o{port} // $cur->{port},
        method  => $o{method} || 'GET',
        uri     => $uri,
        proto   => $o{proto},
        body    => $o{body},
        headers => _header_pairs($headers),
        timeout => _tf($o{timeout} // 5),
        no_wait => $o{no_wait},
    );
    push @{ $cur->{clients} }, $client;
    return $client;
}

# sse_pump(\@subs, $seconds [, sub { ... }])
# Read from all subscribers concurrently for up to $seconds (scaled). If a
# callback is given it is called (with \@subs) before waiting and after every
# read; sse_pump returns 1 as soon as it returns true. Also returns (0) when
# every subscriber has been closed by the server, or on timeout.
sub sse_pump {
    my ($subs, $secs, $cb) = @_;
    return _pump_until($subs, _now() + _tf($secs // 1), $cb);
}

sub _pump_until {
    my ($subs, $deadline, $cb) = @_;
    while (1) {
        return 1 if $cb && $cb->($subs);
        my %by_fd;
        for my $s (@$subs) {
            next if $s->{closed} || !$s->{sock};
            $by_fd{ fileno $s->{sock} } = $s;
        }
        return 0 unless %by_fd;
        # Past the deadline we still do one non-blocking pass, so data that
        # is already waiting in the socket buffers is never ignored.
        my $left = $deadline - _now();
        my $last = $left <= 0;
        my $sel = IO::Select->new(map { $_->{sock} } values %by_fd);
        for my $fh ($sel->can_read($last ? 0 : $left)) {
            $by_fd{ fileno $fh }->_read_once;
        }
        return ($cb && $cb->($subs)) ? 1 : 0 if $last;
    }
}

# PIDs of the master's children (workers, cache processes), from /proc.
sub worker_pids {
    my $master = nginx_pid() or return ();
    return _workers_of($master);
}

# the children of $master but a sanitizer's symbolizer (under valgrind,
# workers' cmdline is valgrind's, so nginx's own title cannot be required)
sub _workers_of {
    my ($master) = @_;
    return grep {
        my $cmd = _slurp("/proc/$_/cmdline") // '';
        $cmd !~ /symbolizer|addr2line/;
    } _children_of($master);
}

sub _children_of {
    my ($ppid_wanted) = @_;
    my @pids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $stat = _slurp("/proc/$p/stat");
        next unless $stat =~ s/^.*\)\s+//s;
        my ($state, $ppid) = split ' ', $stat;
        next if !defined $ppid || $state eq 'Z' || $state eq 'X';
        push @pids, $p if $ppid == $ppid_wanted;
    }
    closedir $dh;
    @pids = sort { $a <=> $b } @pids;
    return @pids;    # (a bare "return sort" is undefined in scalar context)
}

sub nginx_signal {
    my ($sig) = @_;
    my $pid = nginx_pid() or die "nginx is not running\n";
    return kill $sig, $pid;
}

# nginx_reload(%overrides): optionally rewrite nginx.conf with replaced
# sections (config => ..., http_config => ..., main_config => ...), send HUP
# and wait until the reload happened: returns the list of new worker PIDs
# (empty if the reload failed / timed out). Only in --- workers mode.
sub nginx_reload {
    my (%over) = @_;
    my $cur = _cur();
    die "nginx is not running\n" unless $cur->{pid};
    # With "master_process off" nginx does not really support reloading (the
    # new cycle gets no connections: "worker_connections are not enough").
    die "nginx_reload() needs a block with --- workers: N\n" unless $cur->{workers};
    if (%over) {
        $cur->{overrides} = { %{ $cur->{overrides} || {} }, %over };
        _write_conf($cur);
    }
    my $deadline = _now() + _tf(10);
    my @old = worker_pids();
    my %old = map { ($_ => 1) } @old;
    kill 'HUP', $cur->{pid};
    my @new;
    while (_now() < $deadline) {
        @new = grep { !$old{$_} } worker_pids();
        last if @new >= $cur->{workers};
        _sleep(0.02);
    }
    return () unless @new >= $cur->{workers};
    # The old workers keep accepting until they process the master's
    # SIGQUIT; wait until each one has logged "gracefully shutting down"
    # (i.e. closed its listening sockets) or has exited.
    my $grace = _now() + _tf(3);
    while (_now() < $grace) {
        my $log = error_log_text();
        my %alive = map { ($_ => 1) } worker_pids();
        last unless grep {
            $alive{$_} && $log !~ /\b$_#\d+: gracefully shutting down/
        } @old;
        _sleep(0.02);
    }
    return @new;
}

#-----------------------------------------------------------------------------
# nginx.conf generation, start and stop
#-----------------------------------------------------------------------------

# Expand $TEST_NGINX_* placeholders in a section value (strings, and strings
# inside arrayrefs; qr// objects are left alone). Unknown variables that are
# not in the environment, and $TEST_* names without the TEST_NGINX_ prefix
# (misspelled), are recorded in $cur->{missing_env}: the block fails.
sub _expand {
    my ($cur, $v) = @_;
    return $v unless defined $v;
    if (ref $v eq 'ARRAY') {
        return [map { _expand($cur, $_) } @$v];
    }
    return $v if ref $v;
    my %known = (
        TEST_NGINX_SERVER_PORT => $cur->{port},
        TEST_NGINX_PORT2       => $cur->{port2},
        TEST_NGINX_SERVER_ROOT => $cur->{dir},
    );
    $v =~ s{\$(TEST_[A-Za-z0-9_]+)}{
        my $name = $1;
        if (defined $known{$name}) {
            $known{$name};
        } elsif ($name =~ /^TEST_NGINX_/ && defined $ENV{$name}) {
            $ENV{$name};
        } else {
            push @{ $cur->{missing_env} }, $name;
            "\$$name";
        }
    }ge;
    return $v;
}

# Value of a section for the current block (placeholders expanded), or
# undef if the block does not have it. In list context, all values (e.g. an
# eval section returning a list).
sub _sec {
    my ($cur, $name) = @_;
    my $block = $cur->{block};
    return wantarray ? () : undef unless exists $block->{$name};
    my @v = $block->$name;
    @v = map { _expand($cur, $_) } @v if grep { $_ eq $name } @EXPANDED_SECTIONS;
    return wantarray ? @v : $v[0];
}

# Was the section run through the "eval" filter?
sub _is_eval {
    my ($block, $name) = @_;
    my $map = $block->{_section_map} && $block->{_section_map}[0];
    return 0 unless $map && $map->{$name};
    return ($map->{$name}{filters} // '') =~ /\beval\b/ ? 1 : 0;
}

# Value of a regex-like section: qr// objects are used as is; plain strings
# lose one trailing newline (so multi-line section syntax works) and are
# compiled with /s.
sub _re_sec {
    my ($cur, $name) = @_;
    my $v = _sec($cur, $name);
    return undef unless defined $v;
    return $v if ref $v eq 'Regexp';
    $v =~ s/\n\z// unless _is_eval($cur->{block}, $name);
    return qr/$v/s;
}

# Lists of patterns for error_log / no_error_log: each non-empty line is a
# literal substring; with "eval" the section may also return qr// objects or
# an arrayref of strings / qr// objects.
sub _log_patterns {
    my ($cur, $name) = @_;
    my @v = _sec($cur, $name);
    @v = @{ $v[0] } if @v == 1 && ref $v[0] eq 'ARRAY';
    my @pats;
    for my $v (@v) {
        next unless defined $v;
        if (ref $v eq 'Regexp') {
            push @pats, $v;
        } elsif (_is_eval($cur->{block}, $name)) {
            push @pats, $v if length $v;
        } else {
            push @pats, _lines($v);
        }
    }
    return @pats;
}

sub _section_text {
    my ($cur, $name) = @_;
    if (exists $cur->{overrides}{$name}) {
        return _expand($cur, $cur->{overrides}{$name}) // '';
    }
    return _sec($cur, $name) // '';
}

# Write conf/nginx.conf for the current block.
sub _write_conf {
    my ($cur) = @_;
    my $dir  = $cur->{dir};
    my $main = _section_text($cur, 'main_config');
    my $http = _section_text($cur, 'http_config');
    my $conf = _section_text($cur, 'config');
    my $evts = _section_text($cur, 'event_config');
    my $level = _sec($cur, 'log_level') || $LOG_LEVEL;

    # every server of the block answers the probe (see _probe)
    $http =~ s/(^|[\s;{}])(server\s*\{)/$1$2 $PROBE_LOCATION/g;

    my $text = "# generated by Test::Nginx::SSE for $cur->{name}\n";
    $text .= "load_module $MODULE_PATH;\n" if -f $MODULE_PATH;
    $text .= "daemon off;\n";
    if ($cur->{workers}) {
        $text .= "master_process on;\nworker_processes $cur->{workers};\n";
    } else {
        $text .= "master_process off;\n";
    }
    $text .= "user root;\n" if $> == 0 && $main !~ /^\s*user\s/m;
    $text .= "error_log logs/error.log $level;\n";
    $text .= "pid logs/nginx.pid;\n";
    $text .= "\n$main\n" if length $main;
    $text .= <<"EOF";

events {
    worker_connections 1024;
$evts
}

http {
    log_format harness '\$remote_addr [\$time_local] "\$request" \$status '
                       '\$body_bytes_sent \$request_length '
                       'conn=\$connection req=\$connection_requests';
    access_log $dir/logs/access.log harness;
    default_type text/plain;

    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path       $dir/proxy_temp;
    fastcgi_temp_path     $dir/fastcgi_temp;
    uwsgi_temp_path       $dir/uwsgi_temp;
    scgi_temp_path        $dir/scgi_temp;

$http

    server {
        listen 127.0.0.1:$cur->{port};
        server_name localhost;
        root $dir/html;
        $PROBE_LOCATION

$conf
    }
}
EOF
    _spew("$dir/conf/nginx.conf", $text);
}

# --- user_files: ">>> name" lines start files written (relative to the
# server root, i.e. nginx's prefix) before nginx starts, as in Test::Nginx.
sub _write_user_files {
    my ($cur) = @_;
    my $text = _sec($cur, 'user_files');
    return unless defined $text;
    my ($name, @files);
    for my $line (split /^/, $text) {
        if ($line =~ /^>>> (\S+)\s*$/) {
            push @files, [$1, ''];
            next;
        }
        $files[-1][1] .= $line if @files;
    }
    for my $f (@files) {
        my $path = "$cur->{dir}/$f->[0]";
        File::Path::make_path(File::Basename::dirname($path));
        _spew($path, $f->[1]);
    }
}

sub _prepare_dir {
    my ($dir) = @_;
    File::Path::remove_tree($dir) if -e $dir;
    File::Path::make_path(map { "$dir/$_" } qw(conf logs html));
}

sub _nginx_cmd {
    my ($cur, @extra) = @_;
    my $bin = _which($NGINX_BINARY) or die "nginx binary '$NGINX_BINARY' not found\n";
    return ($bin, '-p', "$cur->{dir}/", '-c', 'conf/nginx.conf', @extra);
}

sub _valgrind_cmd {
    my ($cur) = @_;
    my $vg = _which('valgrind') or die "TEST_NGINX_VALGRIND set but valgrind not found\n";
    my @cmd = ($vg, '--tool=memcheck', '--leak-check=full',
               '--errors-for-leak-kinds=definite', '--error-exitcode=42',
               '--num-callers=30',
               "--log-file=$cur->{dir}/logs/valgrind.%p.log");
    my $supp = "$REPO_ROOT/t/valgrind.supp";
    push @cmd, "--suppressions=$supp" if -f $supp;
    return @cmd;
}

# Start nginx in the foreground as a child process (in its own process
# group) and wait until it listens (pid file written; in workers mode also
# until the workers exist). Dies with a diagnostic on failure.
sub _start_nginx {
    my ($cur) = @_;
    my @cmd = _nginx_cmd($cur);
    unshift @cmd, _valgrind_cmd($cur) if $VALGRIND;
    my $stderr  = "$cur->{dir}/logs/stderr.log";
    my $pidfile = "$cur->{dir}/logs/nginx.pid";

    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        eval {
            setpgrp(0, 0);
            syscall($SYS_PRCTL, 1, 9) if $SYS_PRCTL;    # PR_SET_PDEATHSIG, SIGKILL
            $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP QUIT);
            open STDIN,  '<',  '/dev/null';
            open STDOUT, '>>', $stderr;
            open STDERR, '>&', \*STDOUT;
            exec { $cmd[0] } @cmd;
        };
        POSIX::_exit(127);
    }
    $CHILDREN{$pid} = 1;
    _watchdog_register('+', $pid);
    $cur->{pid} = $pid;

    my $deadline = _now() + ($VALGRIND ? 60 : 10) * ($ENV{TEST_NGINX_TIMEOUT_FACTOR} || 1);
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $cur->{exit_status} = $?;
            delete $CHILDREN{$pid};
            _watchdog_register('-', $pid);
            $cur->{pid} = undef;
            die "nginx exited during startup (status $cur->{exit_status}):\n"
                . _slurp($stderr) . _slurp("$cur->{dir}/logs/error.log");
        }
        if (-s $pidfile) {
            last unless $cur->{workers};
            # counted as worker_pids() counts them (a sanitizer's
            # symbolizer is not a worker)
            last if _workers_of($pid) >= $cur->{workers};
        }
        if (_now() > $deadline) {
            die "nginx did not start in time:\n" . _slurp($stderr)
                . _slurp("$cur->{dir}/logs/error.log");
        }
        _sleep(0.01);
    }
}

# Stop nginx: SIGQUIT, wait (5s; 60s under valgrind), then SIGKILL the whole
# process group. Records exit status and whether the stop timed out.
sub _stop_nginx {
    my ($cur) = @_;
    my $pid = $cur->{pid} or return;
    kill 'QUIT', $pid;
    my $deadline = _now() + ($VALGRIND ? 60 : 5) * ($ENV{TEST_NGINX_TIMEOUT_FACTOR} || 1);
    my $resend = _now() + 0.5;
    my $reaped = 0;
    while (_now() < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $reaped = 1;
            last;
        }
        # In single-process mode nginx can miss a signal that arrives just
        # before it blocks in epoll_wait() with no timers (easy to hit under
        # valgrind): repeat it. (The master process uses sigsuspend(), no race.)
        if (!$cur->{workers} && _now() > $resend) {
            kill 'QUIT', $pid;
            $resend = _now() + 0.5;
        }
        _sleep(0.01);
    }
    if (!$reaped) {
        $cur->{stop_timed_out} = 1;
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $cur->{exit_status} = $?;
    # Leftover workers (master killed) are in the same process group.
    kill 'KILL', -$pid if !$reaped || _children_of($pid);
    delete $CHILDREN{$pid};
    _watchdog_register('-', $pid);
    $cur->{pid} = undef;
}

# "nginx -t" for --- must_die; returns (exit status, combined output).
sub _nginx_test_config {
    my ($cur) = @_;
    my @cmd = _nginx_cmd($cur, '-t');
    my $pid = open(my $fh, '-|');
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        eval {
            setpgrp(0, 0);
            open STDERR, '>&', \*STDOUT;
            exec { $cmd[0] } @cmd;
        };
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($?, $out);
}

#-----------------------------------------------------------------------------
# Block runner
#-----------------------------------------------------------------------------

sub run_tests {
    my $builder = Test::More->builder;
    my @blocks = blocks();
    if (!_which($NGINX_BINARY)) {
        # a missing tool fails the suite (scripts/deps.sh installs nginx)
        $builder->ok(0, "nginx binary '$NGINX_BINARY' found");
        $builder->done_testing unless $builder->has_plan;
        return;
    }
    if (!-f $MODULE_PATH && !$ENV{TEST_NGINX_QUIET}) {
        $builder->note("module $MODULE_PATH not found; running without load_module");
    }
    for my $block (@blocks) {
        for my $r (1 .. $REPEAT) {
            _run_block($block, $r);
        }
    }
    # Test::Base wraps Test::Builder::plan and, at END, runs its own default
    # comparison (which plans again) unless plan() was ever called. A plan()
    # call without arguments is a no-op that just marks "planned" for it.
    $builder->plan();
    $builder->done_testing unless $builder->has_plan;
}

sub _run_block {
    my ($block, $rep) = @_;
    my $builder = Test::More->builder;
    my $name = $block->name;
    $name .= " (repeat $rep)" if $REPEAT > 1;

    (my $base = File::Basename::basename($0)) =~ s/\.t\z//;
    my $num = $block->name =~ /^TEST\s+(\d+)/ ? $1 : ($block->seq_num // 0);
    my $dir = "$SERVROOT/$base-$num";
    $dir .= "-r$rep" if $REPEAT > 1;

    my $workers = exists $block->{workers} ? ($block->workers // '') : 0;
    $workers =~ s/\s+//g;
    $workers = 0 if $workers eq '';
    die "$name: bad --- workers value '$workers'\n" unless $workers =~ /^\d+$/;

    my $cur = {
        block   => $block,
        name    => $name,
        dir     => $dir,
        port    => _free_port(),
        port2   => _free_port(),
        workers => $workers,
        clients => [],
        missing_env => [],
    };
    local $CUR = $cur;
    my $start_count = $builder->current_test;

    # A section name the harness does not know would check nothing, and a
    # $TEST_NGINX_* placeholder that is not set (or misspelled) would send
    # its own name to nginx: both fail the block, before nginx starts.
    my @unknown = grep { !$KNOWN_SECTIONS{$_} }
                  @{ $block->{_section_order}[0] || [] };
    if (@unknown) {
        _bk_fail("$name - known sections", "unknown section(s): @unknown");
        return;
    }
    _sec($cur, $_) for @EXPANDED_SECTIONS;    # records missing placeholders
    for my $sec (@{ $block->{_section_order}[0] || [] }) {
        next if $sec eq 'test' || grep { $_ eq $sec } @EXPANDED_SECTIONS;
        my @v = eval { $block->$sec };
        for my $v (@v) {
            next if !defined $v || ref $v;
            push @{ $cur->{missing_env} }, "$1 (in --- $sec, not expanded there)"
                while $v =~ /\$(TEST_\w+)/g;
        }
    }
    if (@{ $cur->{missing_env} }) {
        my %seen;
        my @m = grep { !$seen{$_}++ } @{ $cur->{missing_env} };
        _bk_fail("$name - placeholders expanded",
                 "placeholder(s) not set or misspelled: @m");
        return;
    }

    _prepare_dir($dir);
    _write_user_files($cur);
    eval { _write_conf($cur); 1 } or do {
        _bk_fail("$name - generate nginx.conf", $@);
        return;
    };

    if (exists $block->{must_die}) {
        _run_must_die($cur);
    } else {
        _run_live($cur);
    }

    # A block must assert something itself: a passing block that checked
    # nothing hides whatever it was meant to catch. The harness's own
    # checks (crashes, alerts, the probe) and skipped tests do not count.
    my @details = $builder->details;
    my $own = grep {
        !$cur->{bk}{ $_ + 1 } && ($details[$_]{type} // '') !~ /skip/
    } $start_count .. $builder->current_test - 1;
    _bk_fail("$name - the block makes an assertion of its own",
             "no check ran: give the block a response check, an error_log "
             . "check or assertions in --- test")
        unless $own;

    my @summary = $builder->summary;
    if (grep { !$_ } @summary[$start_count .. $#summary]) {
        my @log = split /\n/, _slurp("$dir/logs/error.log");
        @log = @log[-15 .. -1] if @log > 15;
        $builder->diag("servroot kept at $dir; last error.log lines:\n"
                       . join("\n", map { "  $_" } @log));
    }
}

# --- must_die: "nginx -t" must fail the way a configuration error does:
# a normal exit with a non-zero status (not a signal, not a sanitizer
# report), and every [emerg] / [alert] / [crit] line must be one the block
# names in --- error_log (which must name at least one).
sub _run_must_die {
    my ($cur) = @_;
    my $builder = Test::More->builder;
    my $name = $cur->{name};
    my ($status, $out) = _nginx_test_config($cur);
    my $log = $out . _slurp("$cur->{dir}/logs/error.log");
    if (POSIX::WIFSIGNALED($status)) {
        _bk_fail("$name - nginx -t killed by signal " . POSIX::WTERMSIG($status),
                 "nginx -t output:\n$out");
    } else {
        $builder->ok(POSIX::WEXITSTATUS($status) != 0,
                     "$name - nginx -t fails (must_die)")
            or $builder->diag("nginx -t output:\n$out");
    }
    my @san = $log =~ /^(.*$SANITIZER_RE.*)$/mg;
    _bk_fail("$name - sanitizer reports", join "\n", @san) if @san;
    my @expected = _log_patterns($cur, 'error_log');
    _bk_fail("$name - must_die names the expected error",
             "a must_die block needs --- error_log with the error nginx -t must report")
        unless @expected;
    _check_logs($cur, $log);
    _check_alerts($cur, $log);
}

sub _run_live {
    my ($cur) = @_;
    my $builder = Test::More->builder;
    my $block = $cur->{block};
    my $name  = $cur->{name};

    unless (eval { _start_nginx($cur); 1 }) {
        _bk_fail("$name - nginx started", $@);
        _stop_nginx($cur);
        return;
    }

    # Everything talking to nginx happens inside this eval, so that a harness
    # error or a dying --- test still stops nginx and checks the logs.
    my $ok = eval {
        _run_requests($cur);
        _run_test_code($cur) if exists $block->{test};
        my $wait = _sec($cur, 'wait');
        _sleep(_tf($wait)) if $wait;
        1;
    };
    my $err = $@;
    for my $c (@{ $cur->{clients} }) {
        my $resp = $c->{resp};
        _bk_fail("$name - nothing after the end of the response to GET $c->{uri}",
                 "got " . Test::Nginx::SSE::_snippet($resp->{buf}))
            if $resp->{complete} && length $resp->{buf};
        $c->close;
    }
    if (!$ok) {
        _bk_fail("$name - harness error", $err);
    }

    _stop_nginx($cur);

    my $log = _slurp("$cur->{dir}/logs/error.log")
            . _slurp("$cur->{dir}/logs/stderr.log");
    _check_logs($cur, $log);
    _check_alerts($cur, $log);
    _check_sanity($cur, $log);
}

# Open --- subscribe streams, send --- request(s), collect the streams and
# run the response / stream checks.
sub _run_requests {
    my ($cur) = @_;
    my $builder = Test::More->builder;
    my $block = $cur->{block};
    my $name  = $cur->{name};

    # 1. subscribers
    my @subs;
    if (exists $block->{subscribe}) {
        my $hdrs = _parse_header_lines(_sec($cur, 'subscribe_headers'));
        for my $line (_lines(_sec($cur, 'subscribe'))) {
            next if $line =~ /^\s*#/;
            $line =~ s/^\s+//;
            my ($method, $uri, $proto) = split ' ', $line;
            ($method, $uri) = ('GET', $method) if $method =~ m{^/};
            push @subs, sse_open($uri, $hdrs, method => $method,
                                 proto => $proto, no_wait => 1);
        }
        # Wait for all the response headers concurrently.
        my $hto = _tf(_sec($cur, 'subscribe_timeout') || 5);
        my $deadline = _now() + $hto;
        for my $i (0 .. $#subs) {
            next if $subs[$i]->_wait_headers_until($deadline) || $subs[$i]->{closed};
            $builder->diag("$name: subscriber " . ($i + 1) . " got no response"
                           . " headers within ${hto}s (not flushed?)");
        }
    }

    # 2. requests (the last response is the one checked), each on a
    # keep-alive connection followed by the probe (see _probe); with
    # --- pipeline all of them in one write on one connection
    my $more = _parse_header_lines(_sec($cur, 'more_headers'));
    my @reqs;
    if (exists $block->{raw_request}) {
        push @reqs, { raw => scalar _sec($cur, 'raw_request') };
    } elsif (exists $block->{requests}) {
        my @v = _sec($cur, 'requests');
        @v = @{ $v[0] } if @v == 1 && ref $v[0] eq 'ARRAY';
        @v = map { _lines($_) } @v unless _is_eval($block, 'requests');
        push @reqs, map { _parse_request_text($_, 0) } @v;
    } elsif (exists $block->{request}) {
        push @reqs, _parse_request_text(scalar _sec($cur, 'request'),
                                        !_is_eval($block, 'request'));
    }
    my $timeout = _tf(_sec($cur, 'timeout') || 5);
    my @wire = map {
        [defined $_->{raw} ? $_->{raw}
                           : _build_request(%$_, headers => $more, keepalive => 1),
         uc($_->{method} // '') eq 'HEAD' || ($_->{raw} // '') =~ /\AHEAD /]
    } @reqs;
    my $res;
    if (@wire && exists $block->{pipeline}) {
        my ($all, $perr) = _do_pipeline($cur->{port}, \@wire,
                                        $timeout * @wire, probe => 1);
        _probe_fail(scalar(@wire) . ' pipelined requests', $perr)
            if defined $perr;
        push @{ $cur->{responses} }, @$all;
        for my $i (0 .. $#$all) {
            my $r = $all->[$i];
            next if $i == $#$all || $r->{complete};
            _bk_fail("$name - pipelined request " . ($i + 1) . " answered",
                     "error: " . ($r->{error} // 'incomplete reply'));
        }
        $res = $all->[-1];
    } else {
        for my $i (0 .. $#wire) {
            $res = _do_request($cur->{port}, $wire[$i][0], $timeout,
                               head_only => $wire[$i][1], probe => 1);
            _probe_fail(_what($reqs[$i]{method}, $reqs[$i]{uri}, $wire[$i][0]),
                        $res->{probe_error})
                if defined $res->{probe_error};
            push @{ $cur->{responses} }, $res;
        }
    }

    # 3. collect the streams
    if (@subs) {
        my $until = _re_sec($cur, 'stream_until');
        my $stimeout = _sec($cur, 'stream_timeout') || 1.5;
        sse_pump(\@subs, $stimeout, sub {
            for my $s (@subs) {
                next if $s->{closed};
                return 0 unless defined $until && $s->body =~ $until;
            }
            return 1;
        });
        $_->close for @subs;
    }

    # 4. checks on the (last) response
    if ($res) {
        if ($res->{timed_out} || ($res->{error} && !defined $res->{status})) {
            _bk_fail("$name - request completed",
                     "error: " . ($res->{error} // 'timeout'));
        }
        _check_response($cur, $res, '', 'response');
    }

    # 5. checks on the streams
    if (@subs) {
        my $code = _sec($cur, 'stream_error_code');
        $code = 200 unless defined $code && $code =~ /\S/;
        for my $i (0 .. $#subs) {
            my $n = $i + 1;
            $builder->is_num($subs[$i]->status, $code,
                             "$name - subscriber $n status code ok")
                or $builder->diag("subscriber $n error: " . ($subs[$i]->{error} // 'none'));
        }
        if (defined(my $until = _re_sec($cur, 'stream_until'))) {
            for my $i (0 .. $#subs) {
                my $n = $i + 1;
                $builder->like($subs[$i]->body, $until,
                               "$name - subscriber $n stream_until matched");
            }
        }
        my $first = $subs[0];
        _check_headers($cur, $first->{resp}{headers}, 'stream_headers',
                       "subscriber 1");
        if (exists $block->{stream_body}) {
            $builder->is_eq($first->body, _sec($cur, 'stream_body'),
                            "$name - subscriber 1 stream_body ok");
        }
        if (defined(my $re = _re_sec($cur, 'stream_body_like'))) {
            for my $i (0 .. $#subs) {
                my $n = $i + 1;
                $builder->like($subs[$i]->body, $re,
                               "$name - subscriber $n stream_body_like ok");
            }
        }
    }
}

# error_code / response_headers(_like) / response_body(_like) checks.
sub _check_response {
    my ($cur, $res) = @_;
    my $builder = Test::More->builder;
    my $block = $cur->{block};
    my $name  = $cur->{name};

    my $code = _sec($cur, 'error_code');
    $code = 200 unless defined $code && $code =~ /\S/;
    $code =~ s/\s+//g;
    $builder->is_num($res->{status}, $code, "$name - status code ok");

    _check_headers($cur, $res->{headers}, 'response_headers', 'response');

    if (exists $block->{response_body}) {
        my $exp = _sec($cur, 'response_body');
        $builder->is_eq($res->{body}, $exp, "$name - response_body ok");
    }
    if (defined(my $re = _re_sec($cur, 'response_body_like'))) {
        $builder->like($res->{body}, $re, "$name - response_body_like ok");
    }
}

# Check a header hash against "<prefix>" (exact) and "<prefix>_like" (regex)
# sections. Lines: "Name: value" or "!Name" (header must be absent).
sub _check_headers {
    my ($cur, $headers, $sec, $what) = @_;
    my $builder = Test::More->builder;
    my $name = $cur->{name};
    for my $kind ('', '_like') {
        my $text = _sec($cur, "$sec$kind");
        next unless defined $text;
        for my $line (_lines($text)) {
            if ($line =~ /^\s*!\s*(\S+?)\s*$/) {
                my $h = lc $1;
                $builder->ok(!defined $headers->{$h},
                             "$name - $what header $1 absent")
                    or $builder->diag("got '$headers->{$h}'");
            } elsif ($line =~ /^\s*([^:\s]+)\s*:\s?(.*?)\s*$/) {
                my ($h, $v) = ($1, $2);
                if ($kind eq '') {
                    $builder->is_eq($headers->{ lc $h }, $v,
                                    "$name - $what header $h ok");
                } else {
                    $builder->like($headers->{ lc $h } // '', qr/$v/,
                                   "$name - $what header $h like ok");
                }
            } else {
                die "bad line in --- $sec$kind: '$line'\n";
            }
        }
    }
}

sub _run_test_code {
    my ($cur) = @_;
    my $code = $cur->{block}->test;
    my $label = $cur->{name};
    $label =~ s/["\n]//g;
    my $sub = eval "package main;\nno warnings 'once';\nsub {\nmy \$block = shift;\n#line 1 \"$label --- test\"\n$code\n;}";
    die "compiling --- test code failed: $@" unless $sub;
    $sub->($cur->{block});
}

# --- error_log / --- no_error_log
sub _check_logs {
    my ($cur, $log) = @_;
    my $builder = Test::More->builder;
    my $name = $cur->{name};
    for my $p (_log_patterns($cur, 'error_log')) {
        if (ref $p) {
            $builder->like($log, $p, "$name - error_log matches $p");
        } else {
            $builder->ok(index($log, $p) >= 0, "$name - error_log has '$p'");
        }
    }
    for my $p (_log_patterns($cur, 'no_error_log')) {
        if (ref $p) {
            $builder->unlike($log, $p, "$name - no_error_log $p");
        } else {
            my $pos = index($log, $p);
            $builder->ok($pos < 0, "$name - no_error_log '$p'") or do {
                my $start = rindex($log, "\n", $pos) + 1;
                my $end = index($log, "\n", $pos);
                $end = length $log if $end < 0;
                $builder->diag("found: " . substr($log, $start, $end - $start));
            };
        }
    }
}

sub _match_line {
    my ($line, $p) = @_;
    return ref $p ? $line =~ $p : index($line, $p) >= 0;
}

# Every [alert], [crit] and [emerg] line fails the block unless the block
# declares it: --- expect_alert (each pattern must match such a line: the
# test provokes it on purpose), --- allow_alert (may match), --- error_log
# (the lines the block expects), or --- killed_workers ("exited on signal 9").
sub _check_alerts {
    my ($cur, $log) = @_;
    my $builder = Test::More->builder;
    my $name = $cur->{name};
    my @lines = grep { /$ALERT_RE/ } split /\n/, $log;
    my @expect = _log_patterns($cur, 'expect_alert');
    for my $p (@expect) {
        my $shown = ref $p ? "$p" : "'$p'";
        $builder->ok(scalar(grep { _match_line($_, $p) } @lines),
                     "$name - expect_alert $shown")
            or $builder->diag("[alert]/[crit]/[emerg] lines:\n"
                              . (join("\n", @lines) || '(none)'));
    }
    my @allow = (@expect, _log_patterns($cur, 'allow_alert'),
                 _log_patterns($cur, 'error_log'));
    push @allow, qr/exited on signal 9\b/ if exists $cur->{block}{killed_workers};
    my @bad = grep { my $l = $_; !grep { _match_line($l, $_) } @allow } @lines;
    if (@bad) {
        @bad = (@bad[0 .. 9], '...') if @bad > 10;
        _bk_fail("$name - no [alert], [crit] or [emerg] in error.log",
                 join("\n", @bad),
                 "(a block that provokes one on purpose names it in --- expect_alert)");
    }
}

# Crash / sanitizer / valgrind checks after nginx stopped. Only failures are
# reported as extra assertions (plus one "valgrind clean" / "asan clean" pass
# when those modes are enabled), so plain runs have a predictable count.
sub _check_sanity {
    my ($cur, $log) = @_;
    my $builder = Test::More->builder;
    my $name = $cur->{name};

    if ($cur->{stop_timed_out}) {
        _bk_fail("$name - nginx exited after SIGQUIT");
    } elsif (defined(my $st = $cur->{exit_status})) {
        if (POSIX::WIFSIGNALED($st)) {
            _bk_fail("$name - nginx killed by signal " . POSIX::WTERMSIG($st));
        } elsif (POSIX::WEXITSTATUS($st) != 0 && !$VALGRIND) {
            _bk_fail("$name - nginx exit status " . POSIX::WEXITSTATUS($st));
        }
    }
    # --- killed_workers: the block kills workers itself (SIGKILL), and at
    # least one must have been killed; any other signal is still a crash
    my @signals = ($log =~ /^(.*exited on signal.*)$/mg);
    if (exists $cur->{block}{killed_workers}) {
        $builder->ok(scalar(grep { /exited on signal 9\b/ } @signals),
                     "$name - a worker was killed (killed_workers)")
            or $builder->diag('no "exited on signal 9" in the log');
        @signals = grep { !/exited on signal 9\b/ } @signals;
    }
    if (@signals) {
        _bk_fail("$name - worker crashed", $signals[0]);
    }
    my @san = $log =~ /^(.*$SANITIZER_RE.*)$/mg;
    if (@san) {
        _bk_fail("$name - sanitizer reports", join "\n", @san);
    } elsif ($ASAN) {
        _bk_ok(1, "$name - no sanitizer reports");
    }

    if ($VALGRIND) {
        my @bad;
        for my $f (glob "$cur->{dir}/logs/valgrind.*.log") {
            my $t = _slurp($f);
            push @bad, $f if $t =~ /ERROR SUMMARY: [1-9]/ || $t =~ /definitely lost: [1-9]/
                || $t =~ /==\d+== (?:Invalid (?:read|write|free)|Conditional jump|Use of uninitialised|Syscall param)/;
            # a worker the block SIGKILLed itself leaves an unfinished log;
            # what it had reported so far is still checked above
            push @bad, "$f (incomplete: process killed?)"
                if $t !~ /ERROR SUMMARY:/ && !exists $cur->{block}{killed_workers};
        }
        _bk_ok(!@bad, "$name - valgrind clean", "see @bad");
    }
}

#=============================================================================
package Test::Nginx::SSE::Conn;
# One client connection that may carry several requests (keep-alive,
# pipelining): what is queued with write() goes out as the socket takes it
# while replies are read; replies are parsed one after the other from what
# arrived ("in" holds the bytes not parsed yet).

use strict;
use warnings;
use Errno qw(EAGAIN EWOULDBLOCK EINTR);

sub new {
    my ($class, %a) = @_;
    my $self = bless {
        sock => undef, out => '', in => '', eof => 0,
        error => undef, read_error => undef,
    }, $class;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $a{port},
        Proto    => 'tcp',
        Timeout  => $a{timeout},
    );
    unless ($sock) {
        $self->{error} = "connect to port $a{port} failed: $@";
        $self->{eof} = 1;
        return $self;
    }
    $sock->blocking(0);
    $self->{sock} = $sock;
    return $self;
}

sub write { $_[0]{out} .= $_[1] }

# One select(): writes what the socket takes, reads what is there. False
# when nothing can happen any more (closed, nothing to write).
sub _io {
    my ($self, $left) = @_;
    my $sock = $self->{sock} or return 0;
    my $want_r = !$self->{eof};
    my $want_w = length $self->{out};
    return 0 unless $want_r || $want_w;
    my $sel = IO::Select->new($sock);
    my ($r, $w) = IO::Select->select($want_r ? $sel : undef,
                                     $want_w ? $sel : undef, undef,
                                     $left > 0 ? $left : 0);
    if ($w && @$w && length $self->{out}) {
        my $n = syswrite($sock, $self->{out});
        if (defined $n) {
            substr($self->{out}, 0, $n, '');
        } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            $self->{out} = '';    # the peer is gone; keep reading what it sent
        }
    }
    if ($r && @$r) {
        my $n = sysread($sock, my $buf, 65536);
        if ($n) {
            $self->{in} .= $buf;
        } elsif (defined $n) {
            $self->{eof} = 1;
        } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            $self->{read_error} = "read failed: $!";
            $self->{eof} = 1;
        }
    }
    return 1;
}

# Reads the next reply. Returns (Response, timed_out). Bytes after a
# complete reply stay in "in" for the next one.
sub read_response {
    my ($self, $deadline, %o) = @_;
    my $resp = Test::Nginx::SSE::Response->new(head_only => $o{head_only});
    my $timed_out = 0;
    while (1) {
        if (length $self->{in}) {
            $resp->feed($self->{in});
            $self->{in} = '';
        }
        last if $resp->{complete} || $resp->{state} eq 'done';
        if ($self->{eof}) {
            $resp->set_eof;
            last;
        }
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            $timed_out = 1;
            last;
        }
        $self->_io($left) or last;
    }
    if ($resp->{complete} && length $resp->{buf}) {
        # what follows this reply belongs to the next one
        $self->{in} = $resp->{buf};
        substr($resp->{raw}, -length $resp->{buf}) = '';
        $resp->{buf} = '';
    }
    return ($resp, $timed_out);
}

# Reads (and writes what is queued) until the server closes the connection
# or the deadline; what arrives meanwhile is in "in".
sub wait_eof {
    my ($self, $deadline) = @_;
    while (!$self->{eof}) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0;
        $self->_io($left) or last;
    }
    return $self->{eof};
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

#=============================================================================
package Test::Nginx::SSE::Dechunker;
# Incremental decoder for "Transfer-Encoding: chunked".

use strict;
use warnings;

sub new {
    my ($class) = @_;
    return bless {
        buf      => '',
        state    => 'size',    # size | data | crlf | trailer
        left     => 0,         # bytes left in the current chunk
        complete => 0,         # last chunk + trailers seen
        error    => undef,
        trailers => [],
    }, $class;
}

# Feed raw bytes; returns the newly decoded data.
sub feed {
    my ($self, $data) = @_;
    $self->{buf} .= $data if defined $data;
    my $out = '';
    while (!$self->{complete} && !$self->{error}) {
        my $st = $self->{state};
        if ($st eq 'size') {
            last unless $self->{buf} =~ s/\A([^\n]*)\n//;
            my $line = $1;
            $line =~ s/\r\z//;
            if ($line =~ /\A\s*([0-9a-fA-F]{1,15})\s*(?:;.*)?\z/) {
                my $n = hex $1;
                if ($n == 0) {
                    $self->{state} = 'trailer';
                } else {
                    $self->{left}  = $n;
                    $self->{state} = 'data';
                }
            } else {
                $self->{error} = "invalid chunk size line '$line'";
            }
        } elsif ($st eq 'data') {
            last unless length $self->{buf};
            my $piece = substr($self->{buf}, 0, $self->{left}, '');
            $self->{left} -= length $piece;
            $out .= $piece;
            $self->{state} = 'crlf' if $self->{left} == 0;
        } elsif ($st eq 'crlf') {
            if ($self->{buf} =~ s/\A\r?\n//) {
                $self->{state} = 'size';
            } elsif ($self->{buf} eq '' || $self->{buf} eq "\r") {
                last;
            } else {
                $self->{error} = "missing CRLF after chunk data";
            }
        } else {    # trailer
            last unless $self->{buf} =~ s/\A([^\n]*)\n//;
            (my $line = $1) =~ s/\r\z//;
            if ($line eq '') {
                $self->{complete} = 1;
            } else {
                push @{ $self->{trailers} }, $line;
            }
        }
    }
    return $out;
}

#=============================================================================
package Test::Nginx::SSE::Response;
# Incremental HTTP/1.x response parser (status line, headers, body with
# Content-Length / chunked / until-EOF framing).

use strict;
use warnings;

sub new {
    my ($class, %o) = @_;
    return bless {
        head_only   => $o{head_only} ? 1 : 0,
        raw         => '',
        buf         => '',
        state       => 'status',    # status | headers | body | done
        proto       => undef,
        status      => undef,
        reason      => undef,
        headers     => {},          # lower-cased name => value (joined ", ")
        header_list => [],          # [name, value] in order received
        body        => '',          # decoded body
        chunks      => [],          # [time, decoded piece] as received
        mode        => undef,       # none | length | chunked | eof
        left        => 0,
        dechunker   => undef,
        complete    => 0,
        eof         => 0,
        error       => undef,
    }, $class;
}

sub headers_done { $_[0]{state} eq 'body' || $_[0]{state} eq 'done' }

sub feed {
    my ($self, $data) = @_;
    $self->{raw} .= $data;
    $self->{buf} .= $data;
    $self->_parse;
}

sub set_eof {
    my ($self) = @_;
    $self->{eof} = 1;
    $self->_parse;
    if ($self->{state} eq 'body' && $self->{mode} eq 'eof') {
        $self->{complete} = 1;
        $self->{state} = 'done';
    }
}

sub _add_body {
    my ($self, $piece) = @_;
    return unless length $piece;
    $self->{body} .= $piece;
    push @{ $self->{chunks} }, [Time::HiRes::time(), $piece];
}

sub _parse {
    my ($self) = @_;
    while (1) {
        my $st = $self->{state};
        if ($st eq 'status') {
            return unless $self->{buf} =~ s/\A([^\n]*)\n//;
            (my $line = $1) =~ s/\r\z//;
            if ($line =~ m{\A(HTTP/\d\.\d)\s+(\d{3})(?:\s+(.*))?\z}) {
                @$self{qw(proto status reason)} = ($1, $2, $3 // '');
                $self->{state} = 'headers';
            } else {
                $self->{error} = "bad status line '$line'";
                $self->{state} = 'done';
                return;
            }
        } elsif ($st eq 'headers') {
            return unless $self->{buf} =~ s/\A([^\n]*)\n//;
            (my $line = $1) =~ s/\r\z//;
            if ($line ne '') {
                if ($line =~ /\A[ \t]+(.*)\z/ && @{ $self->{header_list} }) {
                    # obsolete line folding
                    my $last = $self->{header_list}[-1];
                    $last->[1] .= " $1";
                    $self->{headers}{ lc $last->[0] } .= " $1";
                } elsif ($line =~ /\A([^:]+?)\s*:\s*(.*?)\s*\z/) {
                    my ($n, $v) = ($1, $2);
                    push @{ $self->{header_list} }, [$n, $v];
                    my $k = lc $n;
                    $self->{headers}{$k} = exists $self->{headers}{$k}
                        ? "$self->{headers}{$k}, $v" : $v;
                } else {
                    $self->{error} = "bad header line '$line'";
                }
                next;
            }
            # end of headers
            if ($self->{status} =~ /^1/) {    # interim response: start over
                $self->{headers} = {};
                $self->{header_list} = [];
                $self->{state} = 'status';
                next;
            }
            my $te = lc($self->{headers}{'transfer-encoding'} // '');
            my $cl = $self->{headers}{'content-length'};
            if ($self->{head_only} || $self->{status} =~ /^(?:204|304)$/) {
                $self->{mode} = 'none';
            } elsif ($te =~ /chunked/) {
                $self->{mode} = 'chunked';
                $self->{dechunker} = Test::Nginx::SSE::Dechunker->new;
            } elsif (defined $cl && $cl =~ /^\d+$/) {
                $self->{mode} = 'length';
                $self->{left} = $cl;
            } else {
                $self->{mode} = 'eof';
            }
            $self->{state} = 'body';
        } elsif ($st eq 'body') {
            my $mode = $self->{mode};
            if ($mode eq 'none' || ($mode eq 'length' && $self->{left} == 0)) {
                $self->{complete} = 1;
                $self->{state} = 'done';
                return;
            }
            return unless length $self->{buf};
            if ($mode eq 'length') {
                my $piece = substr($self->{buf}, 0, $self->{left}, '');
                $self->{left} -= length $piece;
                $self->_add_body($piece);
                next;
            }
            if ($mode eq 'eof') {
                $self->_add_body($self->{buf});
                $self->{buf} = '';
                return;
            }
            # chunked
            my $d = $self->{dechunker};
            $self->_add_body($d->feed($self->{buf}));
            $self->{buf} = '';
            if ($d->{error}) {
                $self->{error} = $d->{error};
                $self->{state} = 'done';
            } elsif ($d->{complete}) {
                $self->{complete} = 1;
                $self->{state} = 'done';
                # bytes after the last chunk are not this reply's
                $self->{buf} = $d->{buf};
                $d->{buf} = '';
            }
            return;
        } else {
            return;
        }
    }
}

#=============================================================================
package Test::Nginx::SSE::Client;
# A streaming (SSE) client connection created by sse_open().

use strict;
use warnings;
use Errno qw(EAGAIN EWOULDBLOCK EINTR);

sub new {
    my ($class, %a) = @_;
    my $head = uc($a{method}) eq 'HEAD';
    my $self = bless {
        uri    => $a{uri},
        resp   => Test::Nginx::SSE::Response->new(head_only => $head),
        sock   => undef,
        closed => 0,    # server closed the connection (EOF / error)
        error  => undef,
    }, $class;

    my $deadline = Time::HiRes::time() + $a{timeout};
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $a{port},
        Proto    => 'tcp',
        Timeout  => $a{timeout},
    );
    unless ($sock) {
        $self->{error}  = "connect to port $a{port} failed: $@";
        $self->{closed} = 1;
        return $self;
    }
    $sock->blocking(0);
    $self->{sock} = $sock;

    my $req = Test::Nginx::SSE::_build_request(
        method  => $a{method},
        uri     => $a{uri},
        proto   => $a{proto},
        body    => $a{body},
        headers => $a{headers},
        default_headers => [['Accept', 'text/event-stream']],
    );
    if (my $err = Test::Nginx::SSE::_write_all($sock, $req, $deadline)) {
        $self->{error} = $err;
    }

    $self->_wait_headers_until($deadline) unless $a{no_wait};
    return $self;
}

# wait_headers($timeout): wait up to $timeout seconds (scaled; default 5)
# for the status line and headers. Returns true when they arrived.
sub wait_headers {
    my ($self, $timeout) = @_;
    return $self->_wait_headers_until(
        Time::HiRes::time() + Test::Nginx::SSE::_tf($timeout // 5));
}

sub _wait_headers_until {
    my ($self, $deadline) = @_;
    Test::Nginx::SSE::_pump_until([$self], $deadline,
                                  sub { $self->{resp}->headers_done });
    $self->{error} //= "timeout waiting for response headers"
        unless $self->{resp}->headers_done || $self->{closed};
    return $self->{resp}->headers_done;
}

# One non-blocking read; records EOF.
sub _read_once {
    my ($self) = @_;
    my $sock = $self->{sock} or return 0;
    my $n = sysread($sock, my $buf, 65536);
    if ($n) {
        $self->{resp}->feed($buf);
        return $n;
    }
    if (defined $n) {
        $self->{closed} = 1;
        $self->{resp}->set_eof;
    } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
        $self->{error} //= "read failed: $!";
        $self->{closed} = 1;
        $self->{resp}->set_eof;
    }
    return 0;
}

sub status   { $_[0]{resp}{status} }
sub headers  { $_[0]{resp}{headers} }
sub header   { $_[0]{resp}{headers}{ lc $_[1] } }
sub body     { $_[0]{resp}{body} }
sub raw      { $_[0]{resp}{raw} }
sub chunks   { @{ $_[0]{resp}{chunks} } }
sub closed   { $_[0]{closed} }
sub error    { $_[0]{error} // $_[0]{resp}{error} }
sub finished { $_[0]{resp}{complete} }    # response body ended (last chunk)
sub events   { Test::Nginx::SSE::_parse_events($_[0]->body) }
sub comments { Test::Nginx::SSE::_parse_comments($_[0]->body) }

# read_until($regex, $timeout): read until the de-chunked body matches (or
# timeout (scaled), or the server closes). Scalar context: the body; list
# context: (body, matched).
sub read_until {
    my ($self, $re, $timeout) = @_;
    $re = Test::Nginx::SSE::_re($re);
    my $matched = Test::Nginx::SSE::sse_pump([$self], $timeout // 5,
                                             sub { $self->body =~ $re });
    $matched ||= $self->body =~ $re ? 1 : 0;
    return wantarray ? ($self->body, $matched) : $self->body;
}

# read_for($seconds): just read for that long (or until closed).
sub read_for {
    my ($self, $secs) = @_;
    Test::Nginx::SSE::sse_pump([$self], $secs);
    return $self->body;
}

# Wait until the server closes the connection; returns true if it did.
sub wait_closed {
    my ($self, $timeout) = @_;
    Test::Nginx::SSE::sse_pump([$self], $timeout // 5);
    return $self->{closed};
}

sub close {
    my ($self) = @_;
    if ($self->{sock}) {
        CORE::close($self->{sock});
        $self->{sock} = undef;
    }
}

1;

__END__

=head1 NAME

Test::Nginx::SSE - data-driven nginx test harness for ngx_http_sse_module

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::Nginx::SSE;
    run_tests();
    __DATA__

    === TEST 1: hello
    --- config
    location /t { return 200 "hello"; }
    --- request
    GET /t
    --- response_body: hello

Run with C<prove -r t/> from the repository root. No plan line is needed
(run_tests() calls done_testing); an explicit C<plan> also works.

=head1 BLOCK SECTIONS

Configuration (all accept Test::Base filters, e.g. C<--- config eval>):

  main_config     top-level nginx.conf lines
  event_config    inside events {}
  http_config     inside http {} (before the test server{})
  config          inside server { listen 127.0.0.1:$TEST_NGINX_SERVER_PORT; }
  workers: N      master_process on + worker_processes N (default: single
                  process, master_process off); always daemon off
  log_level: L    error_log level for this block (default $TEST_NGINX_LOG_LEVEL)
  must_die        only run "nginx -t"; it must exit normally with a
                  non-zero status (a signal or a sanitizer report fails),
                  and --- error_log must name the error (every [emerg] /
                  [alert] / [crit] line must match one of its patterns);
                  error_log / no_error_log are matched against its
                  output + error.log

Requests:

  request         "METHOD URI [HTTP/1.0]" then the body (one trailing newline
                  of the section is stripped; use "--- request eval" for exact
                  strings). Sends Host: localhost and Content-Length (if there
                  is a body), on a keep-alive connection (no Connection:
                  close), followed by the probe (see KEEP-ALIVE PROBE).
  requests        several requests sent in order (one per line, or with eval
                  an arrayref of "METHOD URI\nbody" strings); the last
                  response is the one checked
  raw_request     bytes sent verbatim (use eval), then the probe
  pipeline        (flag) the request(s) and the probe in one write on one
                  connection; every reply must come, the last is checked
  more_headers    "Name: value" lines added to every request; a name replaces
                  the default header of the same name; "!Name" removes it
  timeout: N      seconds for each request (default 5)
  wait: N         sleep N seconds before nginx is stopped

Response checks (error_code defaults to 200 whenever a request is sent):

  error_code            expected status
  response_headers      "Name: value" exact; "!Name" = header absent
  response_headers_like "Name: regex"
  response_body         exact (de-chunked). Test::Base trims trailing blank
                        lines: use "--- response_body eval" for bodies that
                        end in "\n\n"
  response_body_like    regex, /s (one trailing newline of the section removed)

Streaming subscribers:

  subscribe           one subscriber per line: "GET /uri", "/uri" or
                      "GET /uri HTTP/1.0". All are connected before the
                      request(s) and the harness waits (concurrently, up to
                      subscribe_timeout, default 5s) for their response
                      headers; a diag is printed if they do not arrive.
  subscribe_headers   "Name: value" / "!Name" lines for every subscriber
                      (defaults: Host, Connection: close,
                      Accept: text/event-stream)
  stream_until        regex (/s); after the request(s) the streams are read
                      until every open subscriber's body matches it (and it
                      is then asserted for each subscriber), or until
  stream_timeout      seconds (default 1.5) elapse; then they are closed
  stream_error_code   status of every subscriber (default 200)
  stream_headers      like response_headers, subscriber 1 (also
                      stream_headers_like)
  killed_workers      the block SIGKILLs workers itself: "exited on signal 9"
                      is not a crash (any other signal still is), and at
                      least one such line must be in the log
  user_files          ">>> name" lines start files written under the server
                      root (nginx's prefix) before nginx starts
  stream_body         exact de-chunked body of subscriber 1 (usually eval)
  stream_body_like    regex applied to every subscriber's body

Logs (checked after nginx has been stopped, on error.log + stderr):

  error_log       each line is a substring that must appear (with eval:
                  qr// objects or an arrayref of strings / qr//)
  no_error_log    each line must not appear
  expect_alert    [alert] / [crit] / [emerg] lines the block provokes on
                  purpose: each pattern must match one such line (an
                  assertion), and the lines it matches are allowed
  allow_alert     such lines that may appear (not asserted)

Other:

  test            perl code run while nginx is up, in package main, with
                  $block set; use ok/is/like/is_deeply/... and the helpers
  ONLY / SKIP     Test::Base: run only this block / skip this block

Any other section name fails the block (a typo would check nothing).

Placeholders in config/request/check sections: $TEST_NGINX_SERVER_PORT,
$TEST_NGINX_PORT2 (a second free port), $TEST_NGINX_SERVER_ROOT (the block's
directory, with html/ as the server root), and any other $TEST_NGINX_FOO
taken from the environment (e.g. $TEST_NGINX_REDIS_PORT). A block that uses
an unset variable, a $TEST_* name without the TEST_NGINX_ prefix, or a
placeholder in a section that is not expanded, fails (it is not skipped).

=head1 WHAT FAILS A BLOCK BESIDES ITS OWN CHECKS

These harness checks are reported only when they fail, so counts stay
stable ("valgrind clean" (TEST_NGINX_VALGRIND) and "no sanitizer reports"
(TEST_NGINX_ASAN) add one passing assertion per block):

  - nginx did not start, did not exit within 5s of SIGQUIT, was killed by a
    signal, or exited with a non-zero status;
  - "exited on signal" in the log (a crashed worker), a sanitizer report,
    valgrind errors;
  - any [alert], [crit] or [emerg] line the block does not declare
    (expect_alert, allow_alert, error_log, or killed_workers for
    "exited on signal 9");
  - the keep-alive probe (below) after any request;
  - bytes after the end of a subscriber's complete response;
  - a block that makes no assertion of its own: its response, stream and
    log checks and the assertions of --- test count; the harness's checks
    and skipped tests do not ("nginx ran" is gone);
  - an unknown section, an unset or misspelled placeholder.

=head1 KEEP-ALIVE PROBE

Every request the harness sends (--- request, --- requests, --- raw_request,
http(), http_pipeline()) goes out without "Connection: close" and, once its
reply is complete, the harness sends on the same connection

  GET /__harness_probe HTTP/1.1       (Connection: close)

which every server of the generated nginx.conf answers with 204 (the
location is added to the test server and to every "server {" of
--- http_config). The block fails unless the probe's reply is the next,
separate response, with nothing before or after it, or the server closed
the connection cleanly after the first reply (no more bytes). This catches
replies that leave bytes behind (a second response, a body longer than its
Content-Length) and request bodies a module did not read that nginx then
parses as the next request (request smuggling). http(..., probe => 0) skips
it for requests that must not be followed by anything.

The access log is on: logs/access.log in the block's directory, format
"harness": '$remote_addr [$time_local] "$request" $status $body_bytes_sent
$request_length conn=$connection req=$connection_requests'; see
access_log_text().

=head1 HELPERS (exported)

  port(), port2(), server_root(), current_block(), nginx_pid()
  http($method, $uri, $body, \%headers, %opt)
      -> { status, headers => {lc name => value}, header_list, body (de-chunked),
           raw, complete, timed_out, error }
      keep-alive, followed by the probe; opt: port, proto => 'HTTP/1.0',
      timeout, raw => $bytes, probe => 0
  http_pipeline(\@requests, %opt) -> list of results as http()
      all requests (raw bytes, or [$method, $uri, $body, \%headers, $proto])
      and the probe in one write on one connection; opt: port, timeout,
      probe => 0
  sse_open($uri, \%headers, %opt) -> client (header value undef = do not send)
      opt: port, method, body, proto, timeout (headers wait, default 5),
           no_wait => 1 (return at once; call ->wait_headers later)
  client methods: status, header($name), headers, body, raw, chunks
      ([time, data] pieces as received), events, comments,
      read_until($re, $secs) (list: body, matched), read_for($secs),
      wait_headers($secs), wait_closed($secs), closed (server closed),
      finished (response body ended), error, close
  sse_pump(\@clients, $secs [, sub { my ($clients) = @_; ... }])
      read all concurrently; returns 1 as soon as the callback is true,
      0 on timeout or when all are closed
  worker_pids(), nginx_signal($sig), error_log_text(), access_log_text()
  nginx_reload(config => ..., http_config => ..., main_config => ...)
      (--- workers only) rewrites nginx.conf, sends HUP, returns the new
      worker pids once they run and the old ones stopped accepting
  timeout_factor(); explain, note, subtest (besides Test::Base's exports)
  Test::Nginx::SSE::_dechunk($s), _parse_events($s), _parse_comments($s)

Events are hashrefs { id, event, data, retry } dispatched on a blank line
whenever any field was seen (data lines joined with "\n"; a field that did
not occur is undef - unlike a browser, events without data are kept).
All helper timeouts are multiplied by timeout_factor().

=head1 ENVIRONMENT

  TEST_NGINX_BINARY          nginx binary (default: nginx in PATH)
  TEST_NGINX_MODULE          module .so (default build/ngx_http_sse_module.so;
                             load_module is emitted only if it exists)
  TEST_NGINX_LOG_LEVEL       error_log level (default info)
  TEST_NGINX_VALGRIND=1      run under valgrind memcheck (t/valgrind.supp)
  TEST_NGINX_ASAN=1          report "no sanitizer reports" per block
  TEST_NGINX_TIMEOUT_FACTOR  timeout multiplier (default 1, 10 with valgrind)
  TEST_NGINX_REPEAT          repeat each block N times (or repeat_each(N))
  TEST_NGINX_SERVROOT        where block directories go (default t/servroot)

=cut
