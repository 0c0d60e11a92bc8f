#!/usr/bin/env bash
# make soak: a bounded soak of ngx_http_sse_module.  nginx (2 workers, prefix
# build/soak/) with a zone that has a history and a ttl; subscribers that come
# and go (some resume with Last-Event-ID, some on several channels, some slow
# or stalled), steady publishing (raw, JSON, JSON batches, form bodies, several
# channels), GETs and DELETEs; every SOAK_INTERVAL seconds one line with the
# workers' total RSS, the zone's shm.used and the status counters.  Fails
# (exit 1) if RSS or shm.used grows after the warm-up, or if a long-lived
# checking subscriber loses, reorders or repeats a message.  The client is
# scripts/soak.pl (plain Perl, IO::Select).
#
# Environment:
#   SOAK_SECONDS=600      duration (the first third is warm-up)
#   SOAK_SUBSCRIBERS=100  churning subscribers kept connected
#   SOAK_RATE=100         messages published per second
#   SOAK_INTERVAL=10      seconds between samples
#   SOAK_RELOAD_EVERY=0   seconds between "nginx -s reload" (0: none; a reload
#                         starts fresh workers, which hides RSS growth)
#   SOAK_PORT=N           port (default: a free one)
#   SOAK_TOLERANCE=10     growth allowed, in percent, on top of SOAK_RSS_SLACK_KB
#   SOAK_RSS_SLACK_KB=2048 / SOAK_SHM_SLACK_KB=128   absolute slack
#
# Everything is on 127.0.0.1; nginx is stopped at the end, whatever happens.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix="$top/build/soak"
module="$top/build/ngx_http_sse_module.so"

[ -f "$module" ] || { echo "soak: $module missing (run make)" >&2; exit 1; }

port=${SOAK_PORT:-$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')}

rm -rf "$prefix"
mkdir -p "$prefix"/{conf,logs,html,temp}

cat > "$prefix/conf/nginx.conf" <<CONF
load_module $module;
worker_processes 2;
pid logs/nginx.pid;
error_log logs/error.log notice;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;

    # history 50 per channel, kept 30 s: shm.used plateaus after ~30 s
    sse_zone zone=soak:32m history=50 ttl=30s;

    server {
        listen 127.0.0.1:$port reuseport;
        sse_keepalive 5s;
        # churning subscribers: the stalled ones get closed at 256k
        location /sub { sse_subscribe; sse_max_pending 256k; sse_replay 5; }
        # long-lived checking subscribers
        location /chk { sse_subscribe; sse_max_pending 8m; }
        location /pub { sse_publish; client_body_buffer_size 64k; }
        location /status { sse_status; }
    }
}
CONF

nginx -t -q -p "$prefix/" -c conf/nginx.conf -e "$prefix/logs/error.log"

master=
stop_nginx() {
    if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
        kill -QUIT "$master" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$master" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$master" 2>/dev/null; then
            echo "soak: nginx did not stop within 5 s of SIGQUIT, killing it" >&2
            kill -KILL -- "-$master" 2>/dev/null || kill -KILL "$master" 2>/dev/null || true
        fi
    fi
}
trap stop_nginx EXIT
trap 'exit 130' INT TERM

# its own process group (setsid), so that a leftover worker can be killed too
setsid nginx -p "$prefix/" -c conf/nginx.conf -e "$prefix/logs/error.log" \
    -g "daemon off;" &
master=$!
for _ in $(seq 50); do
    [ -s "$prefix/logs/nginx.pid" ] && break
    sleep 0.1
done
[ -s "$prefix/logs/nginx.pid" ] || { echo "soak: nginx did not start" >&2; cat "$prefix/logs/error.log" >&2; exit 1; }

echo "soak: nginx $(nginx -v 2>&1 | sed 's/.*\///'), master $master, 127.0.0.1:$port, prefix $prefix"

SOAK_PORT=$port SOAK_PREFIX=$prefix SOAK_MASTER=$master \
    perl "$top/scripts/soak.pl"
