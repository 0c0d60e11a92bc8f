#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets in fuzz/ (clang, ASan, UBSan)
# against nginx's own pool, array and string code, then runs each for
# FUZZ_SECONDS (default 60).  Seeds: fuzz/seeds/<target>/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
out="$top/build/fuzz"
tree="$out/nginx"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer $san"

command -v clang >/dev/null || "$top/scripts/deps.sh" fuzz
"$top/scripts/deps.sh" fuzz

src=$("$top/scripts/nginx-src.sh")

if [ ! -f "$tree/objs/Makefile" ]; then
    rm -rf "$tree"
    mkdir -p "$out"
    cp -a "$src" "$tree"
    (cd "$tree" && CC=clang ./configure --with-cc-opt="$cflags -fsanitize=fuzzer-no-link" \
        --without-pcre --without-http_rewrite_module --without-http_gzip_module \
        > "$out/configure.log" 2>&1) || { tail -20 "$out/configure.log" >&2; exit 1; }
fi

core="objs/src/core/ngx_palloc.o objs/src/core/ngx_array.o
      objs/src/core/ngx_string.o objs/src/os/unix/ngx_alloc.o"
(cd "$tree" && make -s -f objs/Makefile $core)

incs=""
for d in objs src/core src/event src/event/modules src/os/unix src/http src/http/modules; do
    incs="$incs -I$tree/$d"
done

objs=""
for o in $core; do objs="$objs $tree/$o"; done

mkdir -p "$out/bin"
for t in publish jwt frame; do
    clang $cflags -fsanitize=fuzzer -Wall -Wextra -Werror -Wno-unused-function $incs \
        -o "$out/bin/fuzz_$t" "$top/fuzz/fuzz_$t.c" "$top/fuzz/stubs.c" \
        "$top/ngx_http_sse_parse.c" "$top/ngx_http_sse_format.c" \
        "$top/ngx_http_sse_jwt.c" $objs -lcjson -lcrypto
done

[ "${FUZZ_BUILD_ONLY:-}" = 1 ] && exit 0

fail=0
failed=0
for t in publish jwt frame; do
    corpus="$out/corpus/$t"
    mkdir -p "$corpus"
    cp -n "$top/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
    echo "fuzz_$t: ${seconds}s"
    if ! (cd "$out" && "$out/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
            -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
            "$corpus" > "$out/fuzz_$t.log" 2>&1); then
        echo "fuzz_$t FAILED: see $out/fuzz_$t.log" >&2
        tail -40 "$out/fuzz_$t.log" >&2
        failed=$((failed + 1))
        fail=1
    else
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/fuzz_$t.log" | tail -1
    fi
done

echo "fuzz: $((3 - failed)) passed, $failed failed"
exit $fail
