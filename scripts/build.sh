#!/usr/bin/env bash
# Builds build/ngx_http_sse_module.so against Debian's nginx-dev tree
# (copied into build/) or against the nginx source given as NGINX_SRC.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
src=${NGINX_SRC:-/usr/share/nginx/src}
tree="$build/nginx"
cflags="-g -O2 -Wall -Wextra -Werror ${SSE_EXTRA_CFLAGS:-}"

mkdir -p "$build"

stamp="$src|$cflags|$(cat "$top/config" | md5sum)"
if [ ! -f "$tree/objs/Makefile" ] || [ "$(cat "$build/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$tree"
    cp -a "$src" "$tree"
    cd "$tree"
    if [ -f conf_flags ]; then
        # Debian's nginx-dev: configure exactly as the packaged nginx was
        # shellcheck disable=SC1091
        . ./conf_flags
        flags=("${NGX_CONF_FLAGS[@]}")
    else
        flags=(--with-compat --with-threads --with-http_ssl_module
               --with-http_v2_module)
    fi
    [ -x configure ] || { echo "build.sh: $src has no configure script" >&2; exit 1; }
    ./configure "${flags[@]}" --with-cc-opt="$cflags" \
        --add-dynamic-module="$top" >"$build/configure.log" 2>&1 || {
        tail -30 "$build/configure.log" >&2; exit 1; }
    echo "$stamp" > "$build/.stamp"
fi

cd "$tree"
make -s -f objs/Makefile modules
# atomically: a running nginx keeps the module it mapped
cp objs/ngx_http_sse_module.so "$build/ngx_http_sse_module.so.tmp"
mv -f "$build/ngx_http_sse_module.so.tmp" "$build/ngx_http_sse_module.so"
