# Reload without loss: subscribers that reconnect with their Last-Event-ID,
# as a browser's EventSource does, receive every message exactly once, in
# order, while nginx is reloaded under a steady stream of publishes.
use lib 't/lib';
use Test::Nginx::SSE;

# A reconnecting subscriber: { conn, last, seen, got => [[id, data, event]],
# conns, uri, opt }.
sub rs_new {
    my ($uri, %opt) = @_;
    my $st = { uri => $uri, opt => \%opt, last => undef, got => [],
               conns => 0, seen => 0, bad_status => 0 };
    rs_connect($st);
    return $st;
}

sub rs_connect {
    my ($st) = @_;
    my %h;
    $h{'Last-Event-ID'} = $st->{last} if defined $st->{last};
    $st->{conn} = sse_open($st->{uri}, \%h, %{ $st->{opt} });
    $st->{seen} = 0;
    $st->{conns}++;
    $st->{bad_status}++ unless ($st->{conn}->status // 0) == 200;
}

# Takes the complete events received since the last call.
sub rs_harvest {
    my ($st) = @_;
    my @ev = $st->{conn}->events;
    for my $e (@ev[$st->{seen} .. $#ev]) {
        push @{ $st->{got} }, [$e->{id}, $e->{data}, $e->{event}];
        $st->{last} = $e->{id} if defined $e->{id};
    }
    $st->{seen} = @ev;
}

# Harvests every subscriber; reconnects the ones the server ended.
sub rs_service {
    my ($subs) = @_;
    for my $st (@$subs) {
        rs_harvest($st);
        # bounded: a server that keeps refusing or ending the stream must
        # fail the test, not spin it
        if ($st->{conn}->closed && $st->{conns} < 20 && $st->{bad_status} < 3) {
            $st->{conn}->close;
            rs_connect($st);
        }
    }
}

sub rs_pump {
    my ($subs, $secs, $cb) = @_;
    sse_pump([map { $_->{conn} } @$subs], $secs, $cb);
    rs_service($subs);
}

# "id:data" list of what a subscriber received, for is() comparisons.
sub rs_list {
    my ($st) = @_;
    return join ' ', map { ($_->[0] // '-') . ':' . ($_->[1] // '')
                           . (defined $_->[2] ? "/$_->[2]" : '') } @{ $st->{got} };
}

run_tests();

__DATA__

=== TEST 1: 3 reconnecting subscribers, 300 publishes, two reloads: each gets m1..m300 once, in order
--- workers: 2
--- http_config
sse_zone zone=ev:8m history=1000;
server {
    # reuseport: the kernel spreads the subscribers over the workers
    listen 127.0.0.1:$TEST_NGINX_PORT2 reuseport;
    location /sub { sse_subscribe; sse_keepalive off; }
}
--- config
location /pub { sse_publish; }
--- test
use Time::HiRes qw(time sleep);
my @subs = map { rs_new('/sub?channel=r', port => port2()) } 1..3;
my $h = {'Content-Type' => 'text/plain'};
my ($pub_bad, @ids) = (0);
my $budget = time + 60 * timeout_factor();    # the whole block stays bounded
for my $i (1..300) {
    last if time > $budget;
    my $r = http('POST', '/pub?channel=r', "m$i", $h);
    if (($r->{status} // 0) == 200 && $r->{body} =~ /^\{"id":"(\d+)","channel":"r",/) {
        push @ids, $1;
    } else {
        $pub_bad++;
        diag("publish m$i: " . ($r->{status} // $r->{error} // '?') . " " . ($r->{body} // ""));
        last if $pub_bad >= 3;    # fail fast instead of 300 timeouts
    }
    rs_pump(\@subs, 0.003);
    if ($i == 100 || $i == 200) {
        my @new = nginx_reload();
        ok(scalar(@new) >= 2, "reload at m$i: new workers run");
        rs_service(\@subs);
    }
}
is($pub_bad, 0, 'every publish answered 200 with an id');
is(join(',', @ids), join(',', 1..300), 'publish ids 1..300, in order');

# read until everyone has m300 (reconnecting whoever is ended meanwhile)
my $deadline = time + 10 * timeout_factor();
while (time < $deadline) {
    last unless grep { !@{ $_->{got} } || ($_->{got}[-1][1] // '') ne 'm300' } @subs;
    rs_pump(\@subs, 0.2, sub {
        !grep { $_->body !~ /data: m300\n\n/ && !$_->closed } @{$_[0]};
    });
}

my $want = join ' ', map { "$_:m$_" } 1..300;
for my $n (0..$#subs) {
    my $st = $subs[$n];
    is(rs_list($st), $want, "subscriber $n: ids and data 1..300 exactly once, in order");
    is($st->{bad_status}, 0, "subscriber $n: every (re)connect answered 200");
    cmp_ok($st->{conns}, '>=', 3, "subscriber $n: ended by both reloads and reconnected ($st->{conns} connections)");
}
my $no_id = grep { !defined $_->[0] } map { @{ $_->{got} } } @subs;
is($no_id, 0, 'no event without id (no sse_gap)');
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 2: one reconnecting subscriber, publisher on either worker, reload at 100 and 200
--- workers: 2
--- http_config
sse_zone zone=ev:8m history=1000;
--- config
location /sub { sse_subscribe; }
location /pub { sse_publish; }
--- test
use Time::HiRes qw(time);
my $st = rs_new('/sub?channel=r');
my $h = {'Content-Type' => 'text/plain'};
my $pub_bad = 0;
my $budget = time + 60 * timeout_factor();    # the whole block stays bounded
for my $i (1..300) {
    last if time > $budget;
    my $r = http('POST', '/pub?channel=r', "m$i", $h);
    unless (($r->{status} // 0) == 200 && $r->{body} =~ /^\{"id":"$i",/) {
        diag("publish m$i: " . ($r->{status} // $r->{error} // '?') . " " . ($r->{body} // ""));
        last if ++$pub_bad >= 3;
    }
    rs_pump([$st], 0.004);
    nginx_reload() if $i == 100 || $i == 200;
}
is($pub_bad, 0, 'ids 1..300');
my $deadline = time + 10 * timeout_factor();
while (time < $deadline && ($st->{got}[-1][1] // '') ne 'm300') {
    rs_pump([$st], 0.2, sub { $_[0][0]->body =~ /data: m300\n\n/ || $_[0][0]->closed });
}
is(rs_list($st), join(' ', map { "$_:m$_" } 1..300), 'm1..m300 exactly once, in order');
cmp_ok($st->{conns}, '>=', 3, "reconnected after each reload ($st->{conns} connections)");
--- no_error_log
[alert]
[crit]



=== TEST 3: Last-Event-ID resumes both channels of a multi-channel subscriber across a reload
--- workers: 2
--- http_config
sse_zone zone=ev:2m history=100;
--- config
location /sub { sse_subscribe; sse_keepalive off; }
location /pub { sse_publish; }
--- test
my $j = {'Content-Type' => 'application/json'};
my $s = sse_open('/sub?channel=a,b');
is($s->status, 200, 'subscribed to a,b');
# ids: a1=1 c1=2 b1=3 a2=4
for my $m (['a', 'a1'], ['c', 'c1'], ['b', 'b1'], ['a', 'a2']) {
    http('POST', '/pub', qq({"channel":"$m->[0]","data":"$m->[1]"}), $j);
}
my ($body, $ok) = $s->read_until(qr/data: a2\n\n/, 3);
ok($ok, 'live events before the reload');
nginx_reload();
ok($s->wait_closed(3), 'the reload ended the stream');
is(join(' ', map { "$_->{id}:$_->{data}" } $s->events), '1:a1 3:b1 4:a2',
   'a and b delivered, c not, before the end');
my $last = ($s->events)[-1]{id};
is($last, 4, 'last id received');

# while the subscriber is away: b2=5 c2=6 a3=7 and a batch on a and b: 8, 9
for my $m (['b', 'b2'], ['c', 'c2'], ['a', 'a3']) {
    http('POST', '/pub', qq({"channel":"$m->[0]","data":"$m->[1]"}), $j);
}
my $r = http('POST', '/pub', '{"channel":["a","b"],"event":"both","data":"ab"}', $j);
is($r->{body}, '[{"id":"8","channel":"a","subscribers":0},{"id":"9","channel":"b","subscribers":0}]',
   'published on both channels while nobody listens');

my $s2 = sse_open('/sub?channel=b,a', {'Last-Event-ID' => $last});
is($s2->status, 200, 'reconnected with Last-Event-ID: 4');
($body, $ok) = $s2->read_until(qr/id: 9\n/, 3);
ok($ok, 'resumed');
$r = http('POST', '/pub', '{"channel":"b","data":"live"}', $j);
($body, $ok) = $s2->read_until(qr/data: live\n\n/, 3);
ok($ok, 'then live');
is($body, "id: 5\ndata: b2\n\nid: 7\ndata: a3\n\nid: 8\nevent: both\ndata: ab\n\n"
        . "id: 9\nevent: both\ndata: ab\n\nid: 10\ndata: live\n\n",
   'one id resumed both channels, in id order, no duplicate, then live');

# the same resume from an id in the middle, with ?last_event_id= (EventSource
# polyfills) on a fresh connection after a second reload
nginx_reload();
$s2->wait_closed(3);
my $s3 = sse_open('/sub?channel=a,b&last_event_id=3');
($body, $ok) = $s3->read_until(qr/data: live\n\n/, 3);
is(join(' ', map { "$_->{id}:$_->{data}" } $s3->events),
   '4:a2 5:b2 7:a3 8:ab 9:ab 10:live', 'resume from 3 after a second reload');
--- no_error_log
[alert]
[crit]
