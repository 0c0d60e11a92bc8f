#!/usr/bin/env bash
# make run: nginx in the foreground with nginx.conf.example under ./run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix="$top/run"

mkdir -p "$prefix"/{conf,logs,html,modules,temp}
cp "$top/build/ngx_http_sse_module.so" "$prefix/modules/"
cp "$top/nginx.conf.example" "$prefix/conf/nginx.conf"
cp -r "$top/demo/." "$prefix/html/"
chmod -R a+rX "$prefix"

nginx -t -q -p "$prefix/" -c conf/nginx.conf -e stderr -g "pid logs/nginx.pid;"

cat <<MSG
ngx_http_sse_module: http://127.0.0.1:8080/ (demo page); Ctrl-C stops.
Publish an event:
  curl -H 'Content-Type: application/json' \\
    -d '{"channel":"user_123","event":"workflow_update","data":{"status":"processing","progress":45,"message":"Halfway"}}' \\
    http://127.0.0.1:8080/publish
MSG

exec nginx -p "$prefix/" -c conf/nginx.conf -e stderr \
    -g "daemon off; pid logs/nginx.pid;"
