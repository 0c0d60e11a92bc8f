# Anyone can subscribe, and every subscribed name is a channel in shared
# memory: channels without messages may fill at most half of a zone.  Past
# that, a subscription that would create one gets 503; existing channels can
# still be subscribed, and publishing (to existing or new channels) is never
# refused because of subscribers.
use lib 't/lib';
use Test::Nginx::SSE;
use JSON::PP;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

my $seq = 0;

# a new channel name of 200 bytes, random past a unique prefix
sub name {
    my $n = sprintf('%d-%d-', $$, $seq++);
    return $n . join('', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 200 - length $n);
}

sub limit_json {
    my ($zone) = @_;
    return qq({"error":"no room for new channels in sse_zone \\"$zone\\": )
         . qq(channels without messages fill half of it","status":503});
}

sub status { decode_json(http('GET', '/status')->{body}) }

# waits until the zone holds $n channels (unsubscribes are asynchronous);
# a failed test if it does not
sub wait_channels {
    my ($n) = @_;
    my $got;
    for (1 .. 100 * timeout_factor()) {
        $got = status()->{channels};
        return 1 if $got == $n;
        select(undef, undef, undef, 0.05);
    }
    fail("the zone holds $got channels, not $n");
    return 0;
}

# Subscribes new channels, $o{per} to a connection, until one subscription
# is refused: (the accepted streams, how many channels they hold, the
# refused stream).
sub fill {
    my (%o) = @_;
    my $per = $o{per} // 32;
    my (@ok, $refused);
    for (1 .. $o{max} // 1000) {
        my $c = sse_open('/sub?channel=' . join(',', map { name() } 1 .. $per),
                         undef, port => $o{port} // port());
        if (($c->status // 0) != 200) {
            $refused = $c;
            last;
        }
        push @ok, $c;
    }
    return (\@ok, $per * @ok, $refused);
}

# How many new channels (of 200-byte names) fit, exactly: eight to a
# connection, then one; then they are closed and the zone is back at $base
# channels.
sub capacity {
    my (%o) = @_;
    my ($eight, $n8) = fill(per => 8, port => $o{port});
    my ($one, $n1, $refused) = fill(per => 1, port => $o{port});
    is($refused && $refused->status, 503, 'the capacity is bounded by 503') if $o{check};
    $_->close for @$eight, @$one;
    wait_channels($o{base} // 0);
    return $n8 + $n1;
}

# A minimal HTTP/2 client (cleartext, prior knowledge): one connection,
# any number of GET streams, the status and body of each.
sub h2_frame {
    my ($type, $flags, $id, $payload) = @_;
    return substr(pack('N', length $payload), 1) . pack('CCN', $type, $flags, $id) . $payload;
}

# HPACK: a literal header field without indexing, its name from the static
# table, its value without Huffman coding
sub h2_literal {
    my ($index, $value) = @_;
    my $len = length $value;
    my $out = chr($index);
    if ($len < 127) {
        $out .= chr($len);
    } else {
        $out .= chr(127);
        $len -= 127;
        while ($len >= 128) { $out .= chr(($len & 127) | 128); $len >>= 7 }
        $out .= chr($len);
    }
    return $out . $value;
}

sub h2_connect {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    binmode $sock;
    syswrite($sock, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . h2_frame(4, 0, 0, ''));
    return { sock => $sock, next => 1, buf => '', streams => {}, status => {} };
}

sub h2_get {
    my ($h2, $path) = @_;
    my $id = $h2->{next};
    $h2->{next} += 2;
    # :method GET (2), :scheme http (6), :path (4), :authority (1)
    my $block = "\x82\x86" . h2_literal(4, $path) . h2_literal(1, 'localhost');
    syswrite($h2->{sock}, h2_frame(1, 0x5, $id, $block));
    $h2->{streams}{$id} = { body => '' };
    return $id;
}

# reads frames for up to $secs, until $done->($h2) is true
sub h2_read {
    my ($h2, $secs, $done) = @_;
    my $deadline = time() + $secs * timeout_factor();
    my $sel = IO::Select->new($h2->{sock});
    until ($done->($h2) || $h2->{closed} || time() > $deadline) {
        next unless $sel->can_read(0.1);
        my $n = sysread($h2->{sock}, my $chunk, 65536);
        if (!$n) { $h2->{closed} = 1; last }
        $h2->{buf} .= $chunk;
        while (length $h2->{buf} >= 9) {
            my ($l1, $l2, $type, $flags, $id) = unpack('CnCCN', $h2->{buf});
            my $len = ($l1 << 16) | $l2;
            last if length $h2->{buf} < 9 + $len;
            my $payload = substr($h2->{buf}, 9, $len);
            substr($h2->{buf}, 0, 9 + $len) = '';
            $id &= 0x7fffffff;
            my $st = $h2->{streams}{$id};
            if ($type == 4 && !($flags & 1)) {
                syswrite($h2->{sock}, h2_frame(4, 1, 0, ''));
            } elsif ($type == 6 && !($flags & 1)) {
                syswrite($h2->{sock}, h2_frame(6, 1, 0, $payload));
            } elsif ($type == 1 && $st) {
                # nginx: 0x88 is 200, else a literal "\x48\x03NNN"
                $st->{status} = ord($payload) == 0x88 ? 200
                              : $payload =~ /^\x48\x03(\d{3})/ ? $1 : -1;
                $h2->{status}{$id} = 1;
                $st->{ended} = 1 if $flags & 1;
            } elsif ($type == 0 && $st) {
                $st->{body} .= $payload;
                $st->{ended} = 1 if $flags & 1;
                # give the window back, so that nothing stalls
                syswrite($h2->{sock}, h2_frame(8, 0, 0, pack('N', $len))
                                    . h2_frame(8, 0, $id, pack('N', $len))) if $len;
            } elsif ($type == 3 && $st) {
                $st->{ended} = 1;
            } elsif ($type == 7) {
                $h2->{closed} = 1;
            }
        }
    }
    return $done->($h2);
}

run_tests();

__DATA__

=== TEST 1: the attack over HTTP/1.1: 100 connections x 32 random names on a 1m zone
--- workers: 2
--- http_config
sse_zone zone=small:1m;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
is(http('POST', '/pub?channel=news', 'first', $h)->{status}, 200, 'a channel with a message before');
my $watch = sse_open('/sub?channel=watch');
is($watch->status, 200, 'a subscriber on a channel without messages before');

my ($ok, $n, $refused) = fill(per => 32, max => 100);
my @refused = $refused ? ($refused) : ();
for (scalar(@$ok) + 2 .. 100) {
    push @refused, sse_open('/sub?channel=' . join(',', map { name() } 1 .. 32));
}
cmp_ok(scalar(@$ok), '>=', 10, scalar(@$ok) . " attackers got their 32 channels");
is(scalar(@refused), 100 - @$ok, 'the others were refused');
is(scalar(grep { $_->status == 503 } @refused), scalar(@refused), 'all with 503');
is($refused[-1]->body, limit_json('small'), 'the JSON error names the zone');
like($refused[-1]->header('content-type'), qr{^application/json}, 'application/json');
my $st = status();
is($st->{channels}, $n + 2, 'refused subscriptions created no channel');
# up to the last byte, one name at a time
my ($ones, $n1) = fill(per => 1);
push @$ok, @$ones;
$n += $n1;
cmp_ok($n1, '<', 32, "$n1 more channels fit one by one");
$st = status();
cmp_ok($st->{shm}{used}, '<', $st->{shm}{size} * 0.6, "the zone is not full: $st->{shm}{used} of $st->{shm}{size} used");

# existing channels can still be subscribed
my $one_name = ($ok->[0]->{uri} =~ /channel=([^,]+),/)[0];
my @more = (sse_open('/sub?channel=news'), sse_open('/sub?channel=watch'),
            sse_open("/sub?channel=$one_name"), sse_open("/sub?channel=news,watch,$one_name"));
is(join(' ', map { $_->status } @more), '200 200 200 200',
   'existing channels, with and without messages, can be subscribed');
my $r = sse_open('/sub?channel=news,watch,' . name());
is($r->status, 503, 'with one new channel among them: 503');

# publishing is never refused because of subscribers
my $pub = 0;
for my $i (1 .. 100) {
    $pub++ if http('POST', "/pub?channel=new-$i", 'y' x 1000, $h)->{status} == 200;
}
is($pub, 100, '100 publishes of 1000 bytes to new channels: 200');
$pub = 0;
for my $i (1 .. 20) {
    $pub++ if http('POST', "/pub?channel=" . ($i % 2 ? 'news' : $one_name), "m$i", $h)->{status} == 200;
}
is($pub, 20, 'publishes to existing channels: 200');
is(http('POST', '/pub?channel=watch', 'w', $h)->{status}, 200, 'and to the watched one');
($watch->read_until(qr/data: w\n\n/, 3))[1] or fail('the early subscriber receives');

# the attackers go: new subscriptions work again
$_->close for @$ok, @refused, @more;
wait_channels(103);    # news, watch, new-1..100, the one that got messages
my ($again, $m) = fill(per => 32, max => 5);
is(scalar(@$again), 5, 'after the attackers left, new subscriptions get 200');
--- no_error_log
[alert]
[crit]
[emerg]
exited on signal



=== TEST 2: the subscribers' half is full: publishers still have the other half of the zone
--- http_config
sse_zone zone=small:1m history=100000 ttl=0;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my ($ok, $n) = fill(per => 32);
my ($ones, $n1, $refused) = fill(per => 1);
is($refused->status, 503, "$n + $n1 channels, then 503");
my $h = {'Content-Type' => 'text/plain'};
my ($pub, $r) = (0);
for (1 .. 1000) {
    $r = http('POST', '/pub?channel=bulk', 'z' x 1000, $h);
    last unless $r->{status} == 200;
    $pub++;
}
is($r->{status}, 507, "the zone is full after $pub messages of 1000 bytes");
# a message takes 2048 bytes of the zone; half of 1m less the zone's root
cmp_ok($pub * 2048, '>', 400 * 1024, 'they took more than 400k');
is(sse_open('/sub?channel=' . name())->status, 503, 'a new channel: still 503, not 507');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 3: the attack over HTTP/2: one cleartext connection, 60 streams x 32 random names
--- workers: 2
--- http_config
sse_zone zone=small:1m;
log_format conn '$connection $status';
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    access_log logs/h2.log conn;
    location /sub { sse_subscribe; sse_keepalive off; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $dir = server_root();
is(http('POST', '/pub?channel=news', 'first', $h)->{status}, 200, 'a channel with a message before');

my $h2 = h2_connect(port2());
h2_get($h2, '/sub?channel=' . join(',', map { name() } 1 .. 32)) for 1 .. 60;
h2_read($h2, 5, sub { keys %{ $_[0]{status} } == 60 && !grep { $_->{status} != 200 && !$_->{ended} } values %{ $_[0]{streams} } });
my @st = map { $h2->{streams}{$_} } sort { $a <=> $b } keys %{ $h2->{streams} };
my $open = grep { ($_->{status} // 0) == 200 } @st;
my $refused = grep { ($_->{status} // 0) == 503 } @st;
is($open + $refused, 60, "60 streams answered: $open with 200, $refused with 503");
cmp_ok($open, '>=', 10, 'the first streams got their channels');
cmp_ok($refused, '>=', 10, 'the others were refused');
is(status()->{subscribers}, 32 * $open, 'the open streams are subscribed');
my ($bad) = grep { ($_->{status} // 0) == 503 && $_->{body} ne limit_json('small') } @st;
ok(!$bad, 'every refused stream got the JSON error') or diag($bad->{body});
ok(!$h2->{closed}, 'the connection stays open');

# up to the last byte: one name a stream
my @ones = map { h2_get($h2, '/sub?channel=' . name()) } 1 .. 40;
h2_read($h2, 5, sub { !grep { !defined $_[0]{streams}{$_}{status} } @ones });
my $ones = grep { $h2->{streams}{$_}{status} == 200 } @ones;
is(scalar(grep { $h2->{streams}{$_}{status} == 503 } @ones), 40 - $ones,
   "then $ones streams of one new channel, the others 503");
cmp_ok($ones, '<', 32, 'fewer than 32');

is(sse_open('/sub?channel=' . name())->status, 503, 'meanwhile a new channel over HTTP/1.1: 503');
my $c = sse_open('/sub?channel=news');
is($c->status, 200, 'an existing channel: 200');
my $news = h2_get($h2, '/sub?channel=news');
h2_read($h2, 3, sub { defined $_[0]{streams}{$news}{status} });
is($h2->{streams}{$news}{status}, 200, 'an existing channel on the same HTTP/2 connection: 200');
my $pub = 0;
for my $i (1 .. 50) {
    $pub++ if http('POST', "/pub?channel=" . ($i % 2 ? 'news' : "new-$i"), 'y' x 1000, $h)->{status} == 200;
}
is($pub, 50, 'publishes to existing and new channels: 200');
sse_pump([$c], 3, sub { (() = $c->body =~ /^data: y+$/mg) >= 25 });
is(scalar(() = $c->body =~ /^data: y+$/mg), 25, 'the subscriber of news gets its 25 messages');

my %conns = map { ((split ' ', $_)[0] => 1) } split /\n/, do { local (@ARGV, $/) = ("$dir/logs/h2.log"); <> };
is(scalar(keys %conns), 1, 'nginx saw one connection');

# the attacker is gone: new subscriptions work again
close($h2->{sock});
$c->close;
wait_channels(26);    # news and new-2..new-50
my ($again) = fill(per => 32, max => 3);
is(scalar(@$again), 3, 'new subscriptions get 200 again');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 4: the count is exact: channels move out with their first message and back with their last (expiry, DELETE)
--- workers: 2
--- http_config
sse_zone zone=small:128k ttl=1s;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $n0 = capacity(check => 1);
cmp_ok($n0, '>', 40, "$n0 new channels fit in a 128k zone");
is(capacity(), $n0, 'and again as many once they are gone');

# ten channels with a message, held by a subscriber: not counted
my @kept = map { name() } 1 .. 10;
is(http('POST', "/pub?channel=$_", 'kept', $h)->{status}, 200, 'published') for @kept[0, 9];
http('POST', "/pub?channel=$_", 'kept', $h) for @kept[1 .. 8];
my $holder = sse_open('/sub?channel=' . join(',', @kept));
is($holder->status, 200, 'a subscriber of the ten');
is(capacity(base => 10), $n0, 'channels with messages are not counted');

# their messages expire: now they count
select(undef, undef, undef, 1.2);
is(capacity(base => 10), $n0 - 10, 'once their messages expired, they count');
is(http('POST', "/pub?channel=$kept[0]", 'again', $h)->{status}, 200, 'one gets a message again');
is(capacity(base => 10), $n0 - 9, 'and is no longer counted');
$holder->close;
wait_channels(1);
is(capacity(base => 1), $n0, 'the subscriber left: the nine are freed');
select(undef, undef, undef, 1.2);
is(capacity(), $n0, 'the last message expired: the last one is freed');

# DELETE of channels with messages and subscribers
my @del = map { name() } 1 .. 5;
http('POST', "/pub?channel=$_", 'd', $h) for @del;
my @subs = map { sse_open("/sub?channel=$_") } @del;
is(capacity(base => 5), $n0, 'five channels with a message and a subscriber are not counted');
is(http('DELETE', "/pub?channel=$_")->{status}, 200, 'DELETE') for @del;
ok($_->wait_closed(3), "a subscriber's stream ends") for @subs;
wait_channels(0);
is(capacity(), $n0, 'after DELETE: nothing counted');

# a channel created by a publish alone
http('POST', '/pub?channel=' . name(), 'p', $h) for 1 .. 10;
is(capacity(base => 10), $n0, 'channels made by publishes are not counted');
select(undef, undef, undef, 1.2);
http('GET', '/pub?channel=x');    # drops what expired
is(capacity(), $n0, 'their messages expired: they are gone');
--- no_error_log
[alert]
[crit]
exited on signal



=== TEST 5: a worker killed with SIGKILL: the channels only its subscribers held are no longer counted
--- workers: 2
--- killed_workers
--- http_config
sse_zone zone=small:128k;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; sse_keepalive off; add_header X-Worker $pid; }
    location /status { sse_status; }
}
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $n0 = capacity(port => port2());
cmp_ok($n0, '>', 40, "$n0 new channels fit");

# the zone filled from both workers; a channel with messages on each
http('POST', '/pub?channel=news', 'n1', $h);
my ($eight, $n8) = fill(per => 8, port => port2());
my ($one, $n1) = fill(per => 1, port => port2());
my @all = (@$eight, @$one);
push @all, sse_open('/sub?channel=news', undef, port => port2()) for 1 .. 4;
my %by;
push @{ $by{ $_->header('x-worker') } }, $_ for @all;
is(scalar(keys %by), 2, 'subscribers on both workers');
my ($victim, $other) = sort keys %by;
my $held = 0;
for (@{ $by{$other} }) {
    my ($list) = $_->{uri} =~ /channel=(.*)/;
    $held += split(/,/, $list) unless $list eq 'news';
}
is(sse_open('/sub?channel=' . name(), undef, port => port2())->status, 503, 'full');

kill 'KILL', $victim;
sse_pump($by{$victim}, 3, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { $_->closed } @{ $by{$victim} }), scalar(@{ $by{$victim} }), "the killed worker's streams dropped");
wait_channels($held + 1);
is(capacity(base => $held + 1, port => port2()), $n0 - $held,
   "the new worker took the slot back: only the $held channels of the other worker's subscribers count");
$_->close for @{ $by{$other} };
wait_channels(1);
is(capacity(base => 1, port => port2()), $n0, 'all gone: as many new channels fit as at first');
my $r = http('POST', '/pub?channel=news', 'n2', $h);
is($r->{status}, 200, 'publishing works');
--- no_error_log eval
[qr/\[alert\](?!.*exited on signal 9)/, '[crit]', '[emerg]']



=== TEST 6: reload: the zone and its count are taken over; the old workers' subscribers leave and are no longer counted
--- workers: 2
--- http_config
sse_zone zone=small:128k;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
location /status { sse_status; }
--- test
my $h = {'Content-Type' => 'text/plain'};
my $n0 = capacity();
http('POST', '/pub?channel=news', 'n1', $h);
my ($eight) = fill(per => 8);
my ($one) = fill(per => 1);
my $early = sse_open('/sub?channel=news');
is(sse_open('/sub?channel=' . name())->status, 503, 'full before the reload');
my @new = nginx_reload();
is(scalar(@new), 2, 'reloaded');
# the old workers end their streams; the channels go with them
sse_pump([@$eight, @$one, $early], 5, sub { !grep { !$_->closed } @{$_[0]} });
is(scalar(grep { !$_->closed } @$eight, @$one, $early), 0, "the old workers' streams ended");
wait_channels(1);
is(capacity(base => 1), $n0, 'after the reload as many new channels fit as at first');
my ($again) = fill(per => 8);
my $last = sse_open('/sub?channel=' . name());
is($last->status, 200, 'a reload in a full zone: a new worker can fill it to the end');
($one) = fill(per => 1);
is(sse_open('/sub?channel=' . name())->status, 503, 'and then 503');
$_->close for @$again, @$one, $last;
wait_channels(1);

# a reload with another size: a new zone, counted from zero
nginx_reload(http_config => 'sse_zone zone=small:256k;');
my $n1 = capacity();
cmp_ok($n1, '>', 2 * $n0, "a 256k zone: $n1 new channels fit");
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 7: limit_conn per address bounds the streams one address holds, over HTTP/1.1 and HTTP/2
--- http_config
sse_zone zone=ev:1m;
limit_conn_zone $binary_remote_addr zone=sse_streams:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2 http2;
    location /sub { limit_conn sse_streams 3; limit_conn_status 429; sse_subscribe; }
}
--- config
location /sub { limit_conn sse_streams 3; limit_conn_status 429; sse_subscribe; }
location /status { sse_status; }
--- test
my @s = map { sse_open('/sub?channel=' . join(',', map { name() } 1 .. 32)) } 1 .. 4;
is(join(' ', map { $_->status } @s), '200 200 200 429', 'three streams, the fourth refused');
is($s[3]->body, '{"error":"too many requests","status":429}', 'as JSON');
is(status()->{channels}, 96, 'the address holds 96 channels');
$s[0]->close;
wait_channels(64);
my $next = sse_open('/sub?channel=' . name());
is($next->status, 200, 'one ended: another may open');

# HTTP/2: every stream counts
$_->close for @s, $next;
wait_channels(0);
my $h2 = h2_connect(port2());
my @ids = map { h2_get($h2, '/sub?channel=' . name()) } 1 .. 5;
h2_read($h2, 5, sub { !grep { !defined $_[0]{streams}{$_}{status} || ($_[0]{streams}{$_}{status} != 200 && !$_[0]{streams}{$_}{ended}) } @ids });
is(join(' ', sort map { $h2->{streams}{$_}{status} } @ids), '200 200 200 429 429', 'one HTTP/2 connection: three streams, then 429');
my ($refused) = grep { $h2->{streams}{$_}{status} == 429 } @ids;
is($h2->{streams}{$refused}{body}, '{"error":"too many requests","status":429}', 'as JSON');
--- no_error_log
[alert]
[crit]
