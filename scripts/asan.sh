#!/usr/bin/env bash
# make test-asan: a whole nginx from its full source (apt-get source) with
# -fsanitize=address,undefined and the module compiled in (a static build),
# then the whole t/ suite against it.  Any sanitizer report fails a block.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/asan"
tree="$out/nginx"
san="-fsanitize=address,undefined -fno-omit-frame-pointer"

"$top/scripts/deps.sh" build test redis asan
src=$("$top/scripts/nginx-src.sh")

stamp="$(cat "$top/config" "$0" | md5sum)"
if [ ! -f "$tree/objs/Makefile" ] || [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$tree"
    mkdir -p "$out"
    cp -a "$src" "$tree"
    (cd "$tree" && CC=clang ./configure \
        --with-cc-opt="-g -O1 $san -Wno-unused-but-set-variable" \
        --with-ld-opt="$san" \
        --with-threads --with-http_ssl_module --with-http_v2_module \
        --with-http_realip_module --with-http_auth_request_module \
        --with-http_stub_status_module --with-http_sub_module \
        --add-module="$top" > "$out/configure.log" 2>&1) \
        || { tail -20 "$out/configure.log" >&2; exit 1; }
    echo "$stamp" > "$out/.stamp"
fi

(cd "$tree" && make -s -j2 -f objs/Makefile > "$out/make.log" 2>&1) \
    || { grep -E "error|warning" "$out/make.log" | head -20 >&2; exit 1; }

echo "asan nginx: $tree/objs/nginx"

[ "${ASAN_BUILD_ONLY:-}" = 1 ] && exit 0

# nginx frees its cycle pools only at exit of the master: leaks are
# valgrind's job (make test-valgrind); here memory errors and UB fail
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=stderr"
# UBSan reports are recoverable so that t/ubsan.supp can name nginx's own
# benign ones; the harness fails a block on any "runtime error:" line
export UBSAN_OPTIONS="print_stacktrace=1:suppressions=$top/t/ubsan.supp"

TEST_NGINX_BINARY="$tree/objs/nginx" TEST_NGINX_MODULE=/nonexistent.so \
TEST_NGINX_ASAN=1 TEST_NGINX_TIMEOUT_FACTOR=${TEST_NGINX_TIMEOUT_FACTOR:-3} \
    prove ${PROVE_ARGS:--r t/}
