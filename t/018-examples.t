# examples/: every publisher example reaches a subscriber; the n8n node's
# request is accepted; the X-Accel-Redirect app publishes; the Node
# subscriber receives.
use lib 't/lib';
use Test::Nginx::SSE;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;
use IO::Socket::INET;

our $EX = abs_path(dirname(__FILE__) . '/../examples');

run_tests();

__DATA__

=== TEST 1: curl, Node fetch, Python urllib and the n8n node publish
--- http_config
sse_zone zone=ev:1m;
--- config
location = /events { sse_subscribe; }
location = /publish { sse_publish; }
--- test
my $ex = $main::EX;
local $ENV{SSE_URL} = 'http://127.0.0.1:' . port();
my $s = sse_open('/events?channel=user_123');
like(`sh $ex/publish-curl.sh 2>&1`, qr/^\{"id":"1","channel":"user_123","subscribers":1\}$/m, 'curl');
# a missing tool is a failure (make test installs node: scripts/deps.sh browser)
ok(system('command -v node >/dev/null') == 0, 'node is installed');
like(`node $ex/publish-node.mjs 60 2>&1`, qr/^200 \{"id":"2"/m, 'Node fetch');
like(`python3 $ex/publish-python.py 80 2>&1`, qr/^200 \{"id":"\d+"/m, 'Python urllib');

# the n8n HTTP Request node: its method, URL path, content type and body
my $node = decode_json(do { local $/; open my $fh, '<', "$ex/n8n-http-request-node.json" or die; <$fh> })->{nodes}[0];
my $p = $node->{parameters};
is($p->{method}, 'POST', 'n8n: POST');
like($p->{url}, qr{/publish$}, 'n8n: to the publisher');
is($p->{contentType}, 'json', 'n8n: JSON body');
my $r = http('POST', '/publish', $p->{jsonBody}, {'Content-Type' => 'application/json'});
is($r->{status}, 200, 'n8n: its body is accepted');

$s->read_until(qr/"progress":45,"message":"Halfway"\}\n\n.*"progress":45/s, 3);
my @p = map { decode_json($_->{data})->{progress} } grep { ($_->{event} // '') eq 'workflow_update' } $s->events;
is(join(',', @p), '45,60,80,45', 'the subscriber got every example, in order');



=== TEST 2: the X-Accel-Redirect app publishes the body it received
--- http_config
sse_zone zone=ev:1m;
--- config
location = /events { sse_subscribe; }
location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PORT2; }
location /internal/publish { internal; sse_publish; }
--- test
my $ex = $main::EX;
my $pid = fork();
if ($pid == 0) {
    $ENV{PORT} = port2();
    exec('python3', "$ex/xaccel/app.py") or exit 1;
}
for (1..100) {
    last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port2());
    select(undef, undef, undef, 0.05);
}
my $s = sse_open('/events?channel=job42');
my $r = http('POST', '/app/job42', 'resized 20 images', {'Content-Type' => 'text/plain'});
is($r->{status}, 200, 'the client gets the publish reply');
like($r->{body}, qr/^\{"id":"1","channel":"job42","subscribers":1\}$/, 'published on the channel the app named');
my ($body) = $s->read_until(qr/resized/, 3);
is($body, "id: 1\nevent: done\ndata: resized 20 images\n\n", 'the original body, with the app\'s event');
kill 'TERM', $pid;
waitpid($pid, 0);



=== TEST 3: the Node subscriber (npm eventsource) receives
--- http_config
sse_zone zone=ev:1m;
--- config
location = /events { sse_subscribe; }
location = /publish { sse_publish; }
--- test
my $ex = $main::EX;
my $mods = "$ex/../browser/node_modules";
# a missing tool is a failure: make test runs make test-browser first,
# which installs node and browser/node_modules
ok(-d "$mods/eventsource", 'browser/node_modules/eventsource is installed (make test-browser)');
ok(system('command -v node >/dev/null') == 0, 'node is installed');
{
    symlink('../browser/node_modules', "$ex/node_modules") unless -e "$ex/node_modules";
    local $ENV{SSE_URL} = 'http://127.0.0.1:' . port();
    open(my $out, '-|', "timeout 10 node $ex/subscribe-node.mjs 2 2>&1") or die;
    select(undef, undef, undef, 0.8);
    my $h = {'Content-Type' => 'application/json'};
    http('POST', '/publish', qq({"channel":"user_123","event":"workflow_update","data":{"progress":$_}}), $h) for (10, 20);
    my $text = do { local $/; <$out> };
    close $out;
    like($text, qr/^workflow_update #1: \{"progress":10\}\nworkflow_update #2: \{"progress":20\}$/m, 'both events printed');
    is($? >> 8, 0, 'it exited after two events');
}
