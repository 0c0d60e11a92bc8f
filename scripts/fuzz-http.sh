#!/usr/bin/env bash
# make fuzz-http / make test-fuzz-http: the HTTP-level fuzzer (fuzz/http/)
# against a real nginx with the module, on 127.0.0.1 only.
#
# Builds build/fuzz-http/httpfuzz, starts nginx with fuzz/http/nginx.conf.in
# (2 workers, then a shorter run with master_process off) under
# build/fuzz-http/<mode>/, replays the regression inputs of
# fuzz/http/crashes/, runs the generator, and fails on: a crash, a
# sanitizer report, [alert]/[crit]/[emerg] in error.log, /status not
# answering, worker RSS growing after the warm-up, nginx not stopping.
# A finding's candidate connections are replayed one by one against a
# fresh nginx to find the one that reproduces it (build/fuzz-http/repro/).
#
# Environment:
#   FUZZ_HTTP_SECONDS=600   total fuzzing time (4/5 workers, 1/5 single)
#   FUZZ_HTTP_NGINX=asan    asan: the ASan+UBSan nginx of scripts/asan.sh;
#                           module: Debian's nginx with build/*.so
#   FUZZ_HTTP_SEED=N        replay a run (default: a new seed, printed)
#   FUZZ_HTTP_CONNS=6 FUZZ_HTTP_SUBS=6   request connections, subscribers
#   FUZZ_HTTP_MODES="workers single"
#   FUZZ_HTTP_IGNORE="a|b"  error.log substrings not counted (known issues)
#   FUZZ_HTTP_REPRODUCE=1   replay a finding's candidates (0: skip)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/fuzz-http"
seconds=${FUZZ_HTTP_SECONDS:-600}
flavour=${FUZZ_HTTP_NGINX:-asan}
modes=${FUZZ_HTTP_MODES:-workers single}
seed=${FUZZ_HTTP_SEED:-$(( ($(date +%s) * 7919 + $$) % 1000000000 ))}
fuzzer="$out/httpfuzz"

mkdir -p "$out"

cc=${CC:-gcc}
command -v "$cc" >/dev/null || cc=clang
# FUZZ_HTTP_CFLAGS: e.g. "-O1 -g -fsanitize=address,undefined" (with
# CC=clang) to check the fuzzer itself
$cc ${FUZZ_HTTP_CFLAGS:--O2 -g} -Wall -Wextra -Werror -o "$fuzzer.tmp" \
    "$top"/fuzz/http/hf_*.c
mv -f "$fuzzer.tmp" "$fuzzer"

case "$flavour" in
asan)
    nginx=$(ASAN_BUILD_ONLY=1 "$top/scripts/asan.sh" | sed -n 's/^asan nginx: //p')
    load=""
    ;;
module)
    "$top/scripts/deps.sh" build
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    [ -f "$top/build/ngx_http_sse_module.so" ] || "$top/scripts/build.sh"
    load="load_module $top/build/ngx_http_sse_module.so;"
    ;;
*)
    echo "fuzz-http: FUZZ_HTTP_NGINX is asan or module" >&2
    exit 2
    ;;
esac

[ -x "$nginx" ] || { echo "fuzz-http: no nginx binary ($nginx)" >&2; exit 2; }

# nginx frees its cycle pools only at exit: leaks are valgrind's job;
# a smaller quarantine keeps RSS meaningful (it plateaus sooner)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=stderr:quarantine_size_mb=64"
export UBSAN_OPTIONS="print_stacktrace=1:suppressions=$top/t/ubsan.supp"

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}

port=$(free_port)
h2port=$(free_port)
appport=$(free_port)
while [ "$h2port" = "$port" ]; do h2port=$(free_port); done
while [ "$appport" = "$port" ] || [ "$appport" = "$h2port" ]; do appport=$(free_port); done

ignore_args=()
if [ -n "${FUZZ_HTTP_IGNORE:-}" ]; then
    IFS='|' read -r -a ignores <<< "$FUZZ_HTTP_IGNORE"
    for i in "${ignores[@]}"; do ignore_args+=(--ignore "$i"); done
fi

passed=0
failed=0
failures=()
master=
prefix=

pass() { passed=$((passed + 1)); echo "fuzz-http: ok: $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "fuzz-http: FAILED: $1" >&2; }

# start_nginx MODE [DIR]: a fresh prefix (build/fuzz-http/DIR, default
# MODE), its configuration, nginx in the foreground of its own process group
start_nginx() {
    local mode=$1 processes
    prefix="$out/${2:-$mode}"
    rm -rf "$prefix"
    mkdir -p "$prefix"/{conf,logs,temp}

    if [ "$mode" = single ]; then
        processes="master_process off;"
    else
        processes="worker_processes 2;"
    fi

    sed -e "s|@LOAD_MODULE@|$load|" -e "s|@PROCESSES@|$processes|" \
        -e "s|@PORT@|$port|" -e "s|@H2_PORT@|$h2port|" \
        -e "s|@APP_PORT@|$appport|" \
        -e "s|@SECRET@|fuzz-secret-0123456789abcdef0123456789|" \
        -e "s|@API_KEY@|fuzz-key-1|" -e "s|@API_KEY2@|fuzz-key-2|" \
        "$top/fuzz/http/nginx.conf.in" > "$prefix/conf/nginx.conf"

    "$nginx" -t -q -p "$prefix/" -c conf/nginx.conf -e "$prefix/logs/error.log"

    setsid "$nginx" -p "$prefix/" -c conf/nginx.conf \
        -e "$prefix/logs/error.log" -g "daemon off;" \
        2>>"$prefix/logs/stderr.log" &
    master=$!

    for _ in $(seq 100); do
        [ -s "$prefix/logs/nginx.pid" ] && break
        sleep 0.1
    done

    # up when it answers
    for _ in $(seq 100); do
        curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/status" && return 0
        sleep 0.1
    done

    echo "fuzz-http: nginx did not start" >&2
    cat "$prefix/logs/error.log" >&2
    return 1
}

# stop_nginx: SIGQUIT, 15 s, then SIGKILL (a failure)
stop_nginx() {
    [ -n "$master" ] || return 0
    if ! kill -0 "$master" 2>/dev/null; then
        wait "$master" 2>/dev/null || true
        master=
        return 1
    fi
    kill -QUIT "$master" 2>/dev/null || true
    for _ in $(seq 150); do
        kill -0 "$master" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$master" 2>/dev/null; then
        kill -KILL -- "-$master" 2>/dev/null || kill -KILL "$master" 2>/dev/null || true
        wait "$master" 2>/dev/null || true
        master=
        return 2
    fi
    wait "$master" 2>/dev/null || true
    master=
    return 0
}

trap 'stop_nginx >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

# what error.log holds that fails a run (also after the fuzzer's last look:
# sanitizers report at exit too)
log_findings() {
    local f=$1 pattern='exited on signal|AddressSanitizer|LeakSanitizer|runtime error:|\[alert\]|\[crit\]|\[emerg\]'
    if [ -n "${FUZZ_HTTP_IGNORE:-}" ]; then
        grep -aE "$pattern" "$f" | grep -avF -e "${FUZZ_HTTP_IGNORE//|/$'\n'}" || true
    else
        grep -aE "$pattern" "$f" || true
    fi
}

fuzz() {
    "$fuzzer" --port "$port" --h2-port "$h2port" "$@" \
        --error-log "$prefix/logs/error.log" --pid-file "$prefix/logs/nginx.pid" \
        ${ignore_args[@]+"${ignore_args[@]}"}
}

# replay_together MODE FILE.bin...: a fresh nginx, the connections at
# once; fails when they make a finding (or nginx is gone after them)
replay_together() {
    local mode=$1 rc=0 args=() bin
    shift
    for bin in "$@"; do args+=(--replay "$bin"); done
    start_nginx "$mode" replay >/dev/null 2>&1 || return 2
    fuzz "${args[@]}" > "$out/replay.log" 2>&1 || rc=1
    kill -0 "$master" 2>/dev/null || rc=1
    stop_nginx >/dev/null 2>&1 || true
    [ -n "$(log_findings "$prefix/logs/error.log")" ] && rc=1
    return $rc
}

# reproduce DIR MODE: the candidates of a finding together, then one by
# one; what reproduces it goes to build/fuzz-http/repro/
reproduce() {
    local dir=$1 mode=$2 keep="$out/repro/$(basename "$(dirname "$dir")")-$(basename "$dir")"
    local cands=() c
    [ -f "$dir/candidates.txt" ] || return 0
    while read -r c _; do cands+=("$dir/$c"); done < <(head -64 "$dir/candidates.txt")
    [ ${#cands[@]} -gt 0 ] || return 0
    if replay_together "$mode" "${cands[@]}"; then
        echo "fuzz-http: $dir: not reproduced by its ${#cands[@]} candidates replayed together (timing, or state built earlier)"
        return 0
    fi
    mkdir -p "$keep"
    for c in "${cands[@]:0:40}"; do
        if ! replay_together "$mode" "$c"; then
            cp "$c" "${c%.bin}.sched" "$keep/"
            echo "fuzz-http: $dir: reproduced alone by $keep/$(basename "$c"):"
            log_findings "$prefix/logs/error.log" | head -3 | cut -c1-240 | sed 's/^/fuzz-http:     /'
            return 0
        fi
    done
    cp "${cands[@]}" "$keep/"
    for c in "${cands[@]}"; do cp "${c%.bin}.sched" "$keep/" 2>/dev/null || true; done
    echo "fuzz-http: $dir: reproduced only by its ${#cands[@]} candidates together: $keep/"
}

# token_leaks DIR: log lines about a subscriber whose ?token= value holds
# a valid token (SPEC: it shows as [redacted]): the access log's GET/HEAD
# on subscriber locations answered by the module (200, 401, 403), and
# error.log lines naming such a request once it was read.  The tokens
# are the fuzzer's (DIR/tokens.txt), found by their signature.
token_leaks() {
    local dir=$1
    [ -f "$dir/tokens.txt" ] || return 0
    perl -ne '
        BEGIN {
            open(my $f, "<", shift @ARGV) or die;
            @sigs = map { chomp; (split /\./)[2] // () } <$f>;
        }
        my $sub = qr{/(?:sub|sub/all|sub2|jsub|xsub)\?[^ "]*};
        # not the lines of requests nginx refused while still reading them
        next if /while reading client (?:pipelined )?request/;
        next unless m{"(?:GET|HEAD) ($sub) HTTP/1\.[01]" (?:200|401|403) }
                    || m{request: "(?:GET|HEAD) ($sub)};
        my $uri = $1;
        VALUE: for my $v ($uri =~ /[?&]token=([^&]*)/g) {
            for my $s (@sigs) {
                if (index($v, $s) >= 0) { print; last VALUE; }
            }
        }
    ' "$dir/tokens.txt" "$prefix/logs/access.log" "$prefix/logs/error.log"
}

# scripts/fuzz-http.sh replay FILE.bin...: the connections at once
if [ "${1:-}" = replay ]; then
    shift
    [ $# -gt 0 ] || { echo "usage: scripts/fuzz-http.sh replay FILE.bin..." >&2; exit 2; }
    mode=${modes%% *}
    if replay_together "$mode" "$@"; then
        echo "fuzz-http: replay: no finding"
        exit 0
    fi
    sed 's/^/fuzz-http:     /' "$out/replay.log" | grep -a "FINDING\|#[0-9] \|SUMMARY" | head -30
    echo "fuzz-http: replay: FINDING (log: $prefix/logs/error.log)"
    exit 1
fi

echo "fuzz-http: nginx $nginx ($flavour), seed $seed, ${seconds}s, modes: $modes"
echo "fuzz-http: replay this run: FUZZ_HTTP_SEED=$seed FUZZ_HTTP_SECONDS=$seconds FUZZ_HTTP_NGINX=$flavour scripts/fuzz-http.sh"

nmodes=$(wc -w <<< "$modes")
total_req=0
total_conn=0
total_secs=0

for mode in $modes; do
    if [ "$nmodes" -gt 1 ] && [ "$mode" = single ]; then
        secs=$(( seconds / 5 ))
    elif [ "$nmodes" -gt 1 ]; then
        secs=$(( seconds - seconds / 5 ))
    else
        secs=$seconds
    fi
    [ "$secs" -ge 1 ] || secs=1

    start_nginx "$mode"

    # the regression inputs first: a .bin alone, a directory's together
    regress=0
    for input in "$top"/fuzz/http/crashes/*.bin "$top"/fuzz/http/crashes/*/; do
        [ -e "$input" ] || continue
        args=()
        if [ -d "$input" ]; then
            for bin in "$input"*.bin; do args+=(--replay "$bin"); done
        else
            args=(--replay "$input")
        fi
        if fuzz "${args[@]}" >"$out/regress.log" 2>&1 \
                && kill -0 "$master" 2>/dev/null; then
            regress=$((regress + 1))
        else
            fail "$mode: regression input ${input#"$top"/} (see $out/regress.log)"
            grep -a "FINDING" "$out/regress.log" | head -5 | cut -c1-240 | sed 's/^/fuzz-http:     /' >&2
            stop_nginx || true
            start_nginx "$mode"
        fi
    done
    [ $regress -gt 0 ] && pass "$mode: $regress regression inputs replayed"

    rm -rf "$out/findings-$mode"
    set +e
    fuzz --seconds "$secs" --seed "$seed" --conns "${FUZZ_HTTP_CONNS:-6}" \
        --subs "${FUZZ_HTTP_SUBS:-6}" --out "$out/findings-$mode" \
        --rss-slack-mb "$([ "$flavour" = asan ] && echo 48 || echo 8)" \
        --rss-max-mb "$([ "$flavour" = asan ] && echo 1024 || echo 256)" \
        2>&1 | tee "$out/fuzz-$mode.log"
    rc=${PIPESTATUS[0]}
    set -e

    alive=1
    kill -0 "$master" 2>/dev/null || alive=0

    stop_rc=0
    stop_nginx || stop_rc=$?

    late=$(log_findings "$prefix/logs/error.log")

    if [ "$rc" = 0 ] && [ -z "$late" ]; then
        pass "$mode: ${secs}s, no crash, sanitizer report, alert or crit; /status answered; RSS bounded"
    else
        fail "$mode: findings (exit $rc; $out/fuzz-$mode.log, $prefix/logs/error.log)"
        [ -n "$late" ] && echo "$late" | head -10 | sed 's/^/fuzz-http:     /' >&2
    fi

    # FUZZ_HTTP_TOKEN_LOG: 1 fails on a token in a log, report only says
    # so (make test, while the redaction is not merged), 0 skips
    if [ "${FUZZ_HTTP_TOKEN_LOG:-1}" != 0 ]; then
        leaks=$(token_leaks "$out/findings-$mode" | wc -l)
        if [ "$leaks" = 0 ]; then
            pass "$mode: no valid token in access.log or error.log lines about subscribers"
        elif [ "${FUZZ_HTTP_TOKEN_LOG:-1}" = report ]; then
            echo "fuzz-http: known, not counted: $mode: $leaks log lines about subscribers show a valid token (e.g. $(token_leaks "$out/findings-$mode" | head -1 | cut -c1-160))"
        else
            fail "$mode: $leaks log lines about subscribers show a valid token, e.g.:"
            token_leaks "$out/findings-$mode" | head -3 | cut -c1-240 | sed 's/^/fuzz-http:     /' >&2
        fi
    fi

    if [ $alive = 1 ] && [ $stop_rc = 0 ]; then
        pass "$mode: nginx up to the end and stopped on SIGQUIT"
    else
        fail "$mode: nginx $([ $alive = 0 ] && echo "was gone at the end" || echo "did not stop within 15 s of SIGQUIT")"
    fi

    summary=$(grep -a '^httpfuzz: seed .* connections' "$out/fuzz-$mode.log" | tail -1 || true)
    if [ -n "$summary" ]; then
        total_conn=$((total_conn + $(sed -E 's/.* ([0-9]+) connections.*/\1/' <<< "$summary")))
        total_req=$((total_req + $(sed -E 's/.* ([0-9]+) requests.*/\1/' <<< "$summary")))
        total_secs=$((total_secs + secs))
    fi

    # each distinct finding has its directory; the first few are replayed
    if [ "$rc" != 0 ] && [ "${FUZZ_HTTP_REPRODUCE:-1}" = 1 ]; then
        for dir in $(ls -d "$out/findings-$mode"/finding-* 2>/dev/null | sort -t- -k3 -n | head -6); do
            reproduce "$dir" "$mode"
        done
    fi
done

if [ "$total_secs" -gt 0 ]; then
    echo "fuzz-http: $total_req requests on $total_conn connections in ${total_secs}s ($((total_req / total_secs)) requests/s), seed $seed"
fi
for f in ${failures[@]+"${failures[@]}"}; do echo "fuzz-http: failed: $f" >&2; done
echo "fuzz-http: $passed passed, $failed failed"
[ "$failed" = 0 ]
