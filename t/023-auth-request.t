# nginx's auth_request in front of subscribers: the app checks its own
# session (here a second server block deciding on a cookie), nginx passes
# its answer on, and sse_user takes the user it named for user-targeted
# messages.  Also sse_user on its own, and beside sse_auth_jwt.
use lib 't/lib';
use Test::Nginx::SSE;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;
use IO::Select;
use IO::Socket::INET;

our $SECRET = 'test-secret-0123456789abcdef0123456789';

sub make_jwt {
    my ($claims) = @_;
    my $json = JSON::PP->new->canonical;
    my $h = encode_base64url($json->encode({alg => 'HS256', typ => 'JWT'}));
    my $p = encode_base64url($json->encode($claims));
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $SECRET));
}

# sends bytes on one connection, returns all that comes back until nginx
# closes it
sub exchange {
    my ($bytes) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port())
        or die "connect: $!";
    print $sock $bytes;
    my $sel = IO::Select->new($sock);
    my ($out, $deadline) = ('', time + 5 * timeout_factor());
    while (time < $deadline && $sel->can_read($deadline - time)) {
        last unless sysread($sock, my $buf, 65536);
        $out .= $buf;
    }
    return $out;
}

sub data_of { join ' | ', map { $_->{data} } $_[0]->events }

run_tests();

__DATA__

=== TEST 1: allowed by the app: the stream opens and receives
--- http_config
sse_zone zone=ev:1m;
map $cookie_session $app_user {
    s-alice  alice;
    s-bob    bob;
    default  "";
}
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    # the app: checks its session cookie, names the user
    location = /auth {
        if ($cookie_session = s-banned) { return 403; }
        if ($app_user = "") { return 401; }
        add_header X-User $app_user;
        return 204;
    }
}
--- config
location = /_auth {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2/auth;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}
location /events {
    auth_request /_auth;
    auth_request_set $sse_user $upstream_http_x_user;
    sse_subscribe;
    sse_user $sse_user;
    sse_connected_event connected;
}
location /pub { sse_publish; }
--- test
my $s = sse_open('/events?channel=news', {Cookie => 'session=s-alice'});
is($s->status, 200, 'the app said yes: 200');
like($s->header('content-type'), qr{^text/event-stream}, 'an event stream');
($s->read_until(qr/event: connected\n/, 2))[1] or fail('connected event');
my $r = http('POST', '/pub?channel=news', 'hello', {'Content-Type' => 'text/plain'});
like($r->{body}, qr/"subscribers":1\}/, 'counted');
($s->read_until(qr/data: hello\n\n/, 2))[1] or fail('the stream receives');
ok(!$s->closed, 'and stays open');
--- no_error_log
[error]
[alert]



=== TEST 2: refused by the app: its 401 and 403 reach the client as JSON errors; the app down: 500 JSON
--- http_config
sse_zone zone=ev:1m;
map $cookie_session $app_user {
    s-alice  alice;
    default  "";
}
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location = /auth {
        if ($cookie_session = s-banned) { return 403; }
        if ($app_user = "") { return 401; }
        add_header X-User $app_user;
        return 204;
    }
}
--- config
location = /_auth {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2/auth;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}
location = /_down {
    internal;
    proxy_pass http://127.0.0.1:1/auth;
}
location /events {
    auth_request /_auth;
    auth_request_set $sse_user $upstream_http_x_user;
    sse_subscribe;
    sse_user $sse_user;
}
location /events-down {
    auth_request /_down;
    sse_subscribe;
}
location /pub { sse_publish; }
--- test
my $r = http('GET', '/events?channel=news');
is($r->{status}, 401, 'no session: 401');
is($r->{body}, '{"error":"unauthorized","status":401}', 'as JSON');
like($r->{headers}{'content-type'}, qr{^application/json}, 'application/json');

$r = http('GET', '/events?channel=news', undef, {Cookie => 'session=s-unknown'});
is($r->{status}, 401, 'an unknown session: 401');
is($r->{body}, '{"error":"unauthorized","status":401}', 'as JSON');

$r = http('GET', '/events?channel=news', undef, {Cookie => 'session=s-banned'});
is($r->{status}, 403, 'a banned session: 403');
is($r->{body}, '{"error":"forbidden","status":403}', 'as JSON');
like($r->{headers}{'content-type'}, qr{^application/json}, 'application/json');

# refused over a keep-alive connection: the next request is served
my $raw = main::exchange("GET /events?channel=news HTTP/1.1\r\nHost: localhost\r\n\r\n"
    . "GET /events?channel=news HTTP/1.1\r\nHost: localhost\r\nCookie: session=s-banned\r\nConnection: close\r\n\r\n");
like($raw, qr/^HTTP\/1.1 401 .*\{"error":"unauthorized","status":401\}HTTP\/1.1 403 .*\{"error":"forbidden","status":403\}\z/s,
     'two refusals on one connection, each a whole JSON reply');

$r = http('GET', '/events-down?channel=news');
is($r->{status}, 500, 'the app is down: 500');
is($r->{body}, '{"error":"internal server error","status":500}', 'as JSON');

is(http('GET', '/pub?channel=news')->{status}, 404, 'no refused subscriber made a channel');
my $s = sse_open('/events?channel=news', {Cookie => 'session=s-alice'});
is($s->status, 200, 'a good session still gets in');
--- no_error_log
[alert]
[crit]



=== TEST 3: user targeting through sse_user: live, replay and resume
--- http_config
sse_zone zone=ev:1m;
map $cookie_session $app_user {
    s-alice  alice;
    s-bob    bob;
    default  "";
}
server {
    listen 127.0.0.1:$TEST_NGINX_PORT2;
    location = /auth {
        # a signed-in guest: allowed, no user
        if ($cookie_session = s-guest) { return 204; }
        if ($app_user = "") { return 401; }
        add_header X-User $app_user;
        return 204;
    }
}
--- config
location = /_auth {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2/auth;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}
location /events {
    auth_request /_auth;
    auth_request_set $sse_user $upstream_http_x_user;
    sse_subscribe;
    sse_user $sse_user;
    sse_replay all;
}
location /pub { sse_publish; }
--- test
my $alice = sse_open('/events?channel=team', {Cookie => 'session=s-alice'});
my $bob = sse_open('/events?channel=team', {Cookie => 'session=s-bob'});
my $guest = sse_open('/events?channel=team', {Cookie => 'session=s-guest'});
is(join(' ', map { $_->status } $alice, $bob, $guest), '200 200 200', 'three subscribers');
my $h = {'Content-Type' => 'application/json'};
http('POST', '/pub', '{"channel":"team","data":"for alice","user":"alice"}', $h);
http('POST', '/pub', '{"channel":"team","data":"for bob","user":"bob"}', $h);
http('POST', '/pub', '{"channel":"team","data":"for all","user":"*"}', $h);
http('POST', '/pub', 'channel=team&data=for+alice+too&userId=alice',
     {'Content-Type' => 'application/x-www-form-urlencoded'});
http('POST', '/pub', '{"channel":"team","data":"for all too"}', $h);
$_->read_until(qr/for all too/, 2) for $alice, $bob, $guest;
is(main::data_of($alice), 'for alice | for all | for alice too | for all too', 'alice: hers and everyone\'s');
is(main::data_of($bob), 'for bob | for all | for all too', 'bob: his and everyone\'s');
is(main::data_of($guest), 'for all | for all too', 'a guest without a user: only everyone\'s');

my $late = sse_open('/events?channel=team', {Cookie => 'session=s-bob'});
$late->read_until(qr/for all too/, 2);
is(main::data_of($late), 'for bob | for all | for all too', 'replay honours the user');
my $resume = sse_open('/events?channel=team', {Cookie => 'session=s-alice', 'Last-Event-ID' => '2'});
$resume->read_until(qr/for all too/, 2);
is(main::data_of($resume), 'for all | for alice too | for all too', 'resume honours the user');
$resume = sse_open('/events?channel=team', {Cookie => 'session=s-guest', 'Last-Event-ID' => '0'});
$resume->read_until(qr/for all too/, 2);
is(main::data_of($resume), 'for all | for all too', 'resume of a guest: only everyone\'s');
--- no_error_log
[error]
[alert]



=== TEST 4: sse_user from any variable, inherited; taken as it is; with sse_auth_jwt the token's user wins
--- http_config
sse_zone zone=ev:1m;
--- config
sse_user $http_x_user;
location /sub { sse_subscribe; }
location /jwt { sse_subscribe; sse_auth_jwt test-secret-0123456789abcdef0123456789; }
location /pub { sse_publish; }
--- test
my $exp = time + 600;
my $alice = sse_open('/sub?channel=t', {'X-User' => 'alice'});
my $none = sse_open('/sub?channel=t', {'X-User' => ''});
my $raw = sse_open('/sub?channel=t', {'X-User' => 'a%41'});
my $tok_bob = sse_open('/jwt?channel=t&token=' . main::make_jwt({exp => $exp, sub => 'bob'}), {'X-User' => 'alice'});
my $tok_none = sse_open('/jwt?channel=t&token=' . main::make_jwt({exp => $exp}), {'X-User' => 'alice'});
my $h = {'Content-Type' => 'application/json'};
http('POST', '/pub', '{"channel":"t","data":"for alice","user":"alice"}', $h);
http('POST', '/pub', '{"channel":"t","data":"for bob","user":"bob"}', $h);
http('POST', '/pub', '{"channel":"t","data":"for aA","user":"aA"}', $h);
http('POST', '/pub', '{"channel":"t","data":"for a%41","user":"a%41"}', $h);
http('POST', '/pub', '{"channel":"t","data":"end"}', $h);
$_->read_until(qr/data: end/, 2) for $alice, $none, $raw, $tok_bob, $tok_none;
is(main::data_of($alice), 'for alice | end', 'sse_user $http_x_user: alice');
is(main::data_of($none), 'end', 'an empty value: no user');
is(main::data_of($raw), 'for a%41 | end', 'the value as it is, not URL-decoded');
is(main::data_of($tok_bob), 'for bob | end', 'sse_auth_jwt: the token\'s user, not sse_user');
is(main::data_of($tok_none), 'end', 'a token without a user: no user, sse_user is not used');
--- no_error_log
[error]
[alert]



=== TEST 5: sse_user needs one value
--- must_die
--- http_config
sse_zone zone=ev:1m;
--- config
location /sub { sse_subscribe; sse_user; }
--- error_log
invalid number of arguments in "sse_user" directive
