#!/usr/bin/env bash
# make bench: ngx_http_sse_module and nchan side by side, same nginx, same
# machine, same scenarios, in one run; prints a table with both modules'
# figures, their ratios and the issue's targets as PASS/FAIL lines.
#
# Environment:
#   BENCH_QUICK=1        a quick pass (small counts, short runs: ~1.5 min)
#   BENCH_SCALE=F        multiplies subscriber counts (default 1)
#   BENCH_TIME=F         multiplies durations (default 1)
#   BENCH_SCALE_SUBS=N   subscribers of the scale scenario (default 100000;
#                        it also runs with half as many: the slope between
#                        the two projects to 1,000,000)
#   BENCH_ONLY="a b"     only these scenarios: floor idle (HTTP/1.1, and
#                        HTTP/2 streams through h2load) fanout5 fanoutmax
#                        channels pubonly scale redis2
#   BENCH_REDIS_SUBS=N   subscribers per server in redis2 (default 2500;
#                        quick: 500); the one-server reference has 2N
#   BENCH_MODULES="sse nchan"   which modules to run
#   BENCH_PORT=N         first port (default 18181)
#   BENCH_REPEAT=N       repetitions of each scenario (3; quick: 1), the
#                        modules taking turns; the median run counts (the
#                        best one for "as fast as possible" throughput)
#   BENCH_CH_CONC="16 32"  publisher connections tried in "channels"
#   BENCH_PERF=1         perf record the workers during every generator run:
#                        build/bench/results/<scenario>.<module>.perf.txt
#
# Everything lives under build/bench/ (nginx prefixes, configs, raw results
# in build/bench/results/).  nginx is started and stopped here, by pid.
#
# redis2: two nginx servers (2 workers each, prefixes build/bench/<m>-A and
# <m>-B) on one redis-server (a free 127.0.0.1 port, --save '' --appendonly
# no, started and stopped here), the subscribers spread over both, the
# publisher on A; against the same load on one server without Redis (sse).
#
# floor: what no module can beat on this machine, measured in the same run
# (results under the module name "floor"): the idle-connection floor, the
# same nginx without a module (bench/nginx-floor.conf.in) holding idle
# HTTP/1.1 keep-alive connections that each made one request ("return
# 204"), measured as the idle subscribers are (ssebench --plain
# --idle-only); and the write-round floor, bench/floor.c (one process, one
# thread, epoll, no nginx: each publish is one write() of the event to every
# subscriber) under the fanout5 and fanoutmax generator runs.  The table
# shows our figures as ratios to nchan and to the floor.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
root="$top/build/bench"
res="$root/results"
gen="$top/bench/bin/ssebench"
floor_bin="$top/bench/bin/floor"

quick=${BENCH_QUICK:-0}
scale=${BENCH_SCALE:-1}
tscale=${BENCH_TIME:-1}
only=${BENCH_ONLY:-floor idle fanout5 fanoutmax channels pubonly scale redis2}
modules=${BENCH_MODULES:-sse nchan}
port0=${BENCH_PORT:-18181}

n() { awk -v a="$1" -v s="$2" 'BEGIN { v = int(a * s); print (v < 1 ? 1 : v) }'; }
t() { awk -v a="$1" -v s="$2" 'BEGIN { printf "%.1f", a * s }'; }

if [ "$quick" = 1 ]; then
    idle_subs=$(n 2000 "$scale");  fan_subs=$(n 1000 "$scale")
    ch_subs=$(n 500 "$scale");     scale_subs=${BENCH_SCALE_SUBS:-20000}
    d_rate=$(t 4 "$tscale");       d_max=$(t 3 "$tscale")
    d_pub=$(t 2 "$tscale");        hold=1
    ch_conc=${BENCH_CH_CONC:-32}
    reps=${BENCH_REPEAT:-1}
    redis_subs=${BENCH_REDIS_SUBS:-$(n 500 "$scale")}
else
    idle_subs=$(n 10000 "$scale"); fan_subs=$(n 5000 "$scale")
    ch_subs=$(n 2000 "$scale");    scale_subs=${BENCH_SCALE_SUBS:-100000}
    d_rate=$(t 12 "$tscale");      d_max=$(t 8 "$tscale")
    d_pub=$(t 5 "$tscale");        hold=3
    ch_conc=${BENCH_CH_CONC:-16 32}
    reps=${BENCH_REPEAT:-3}
    redis_subs=${BENCH_REDIS_SUBS:-$(n 2500 "$scale")}
fi

"$top/scripts/deps.sh" build bench
if [ "${BENCH_PERF:-0}" = 1 ] && ! command -v perf > /dev/null; then
    echo "bench: BENCH_PERF=1 needs perf (apt-get install linux-perf)" >&2
    exit 1
fi
if [[ " $only " == *" redis2 "* ]]; then
    "$top/scripts/deps.sh" redis
fi
make -s -C "$top" >/dev/null
make -s -C "$top/bench" >/dev/null

mkdir -p "$res"
rm -f "$res"/*

master=""
workers=""
port=""
rep=0

nginx_start() {   # module workers [prefix-name redis-url]
    local m=$1 w=$2 p="$root/${3:-$1}" redis=${4:-} so conns tpl
    local avoid=$port
    case "$m" in
        sse)   so="$top/build/ngx_http_sse_module.so" ;;
        nchan) so=/usr/lib/nginx/modules/ngx_nchan_module.so ;;
        floor) so="" ;;     # the idle-connection floor: no module
    esac
    tpl="$top/bench/nginx-$m.conf.in"
    [ -n "$redis" ] && tpl="$top/bench/nginx-$m-redis.conf.in"
    port=$((port0 + RANDOM % 2000))
    # a second server (redis2) must not take the first one's port
    # (nor its HTTP/2 port, the next one)
    while [ -n "$avoid" ] && [ "$port" -ge $((avoid - 1)) ] \
        && [ "$port" -le $((avoid + 1)) ]
    do
        port=$((port0 + RANDOM % 2000))
    done
    rm -rf "$p"
    mkdir -p "$p"/{conf,logs,temp,modules}
    # a copy: the module may be rebuilt while this nginx runs
    [ -n "$so" ] && cp "$so" "$p/modules/"
    conns=19000
    sed -e "s#@MODULE@#$p/modules/$(basename "$so")#" \
        -e "s#@WORKERS@#$w#" -e "s#@NOFILE@#20000#" -e "s#@CONNS@#$conns#" \
        -e "s#@SHM@#512m#" -e "s#@PORT@#$port#" -e "s#@H2PORT@#$((port + 1))#" -e "s#@REDIS@#$redis#" \
        "$tpl" > "$p/conf/nginx.conf"
    ulimit -n "$(ulimit -Hn)"
    nginx -p "$p/" -c conf/nginx.conf -e "$p/logs/error.log"
    local i
    for i in $(seq 100); do
        [ -s "$p/logs/nginx.pid" ] && break
        sleep 0.05
    done
    master=$(cat "$p/logs/nginx.pid")
    for i in $(seq 100); do
        workers=$(ps -o pid= --ppid "$master" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
        [ "$(wc -w <<< "$workers")" -ge "$w" ] && break
        sleep 0.05
    done
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/none" && break
        sleep 0.05
    done
}

nginx_stop() {
    local i
    [ -n "$master" ] || return 0
    kill -TERM "$master" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$master" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$master" 2>/dev/null || true
    for w in $workers; do kill -KILL "$w" 2>/dev/null || true; done
    # SIGKILL is nginx's own: the master escalates a fast shutdown (TERM)
    # after ~1.5 s, which closing tens of thousands of sockets can take
    if grep "exited on signal" "$root/$cur/logs/error.log" 2>/dev/null \
        | grep -vq "signal 9"
    then
        echo "bench: $cur: a worker crashed, see $root/$cur/logs/error.log" >&2
    fi
    master=""
}

cur=""

# redis2 keeps its second server and its redis-server here, for the trap
b_master=""
b_workers=""
b_cur=""
redis_pid=""

redis_start() {   # sets redis_port, redis_pid
    local d="$root/redis" i
    for i in $(seq 50); do
        redis_port=$((20000 + RANDOM % 20000))
        (exec 3<> "/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null || break
    done
    rm -rf "$d"
    mkdir -p "$d"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$d" --logfile "$d/redis.log" \
        --daemonize no > /dev/null 2>&1 &
    redis_pid=$!
    for i in $(seq 100); do
        [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "bench: redis-server did not start on port $redis_port" >&2
    return 1
}

redis_stop() {
    local i
    [ -n "$redis_pid" ] || return 0
    kill -TERM "$redis_pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
}

# the second server of redis2 (its variables swapped in for nginx_stop)
b_stop() {
    local m=$master w=$workers c=$cur
    [ -n "$b_master" ] || return 0
    master=$b_master; workers=$b_workers; cur=$b_cur
    nginx_stop
    master=$m; workers=$w; cur=$c
    b_master=""
}

# the write-round floor (bench/floor.c): its pid stands in for the workers
# (gen measures its CPU), its port in $port; stopped by pid
floor_pid=""

floor_srv_start() {
    local pf="$root/floor-srv.port" i
    rm -f "$pf"
    "$floor_bin" --port-file "$pf" --timeout 300 \
        > "$root/floor-srv.txt" 2> "$root/floor-srv.err" &
    floor_pid=$!
    for i in $(seq 100); do
        [ -s "$pf" ] && break
        sleep 0.05
    done
    if [ ! -s "$pf" ]; then
        echo "bench: the floor server did not start, see $root/floor-srv.err" >&2
        floor_srv_stop
        return 1
    fi
    port=$(cat "$pf")
    master=""
    workers=$floor_pid
}

floor_srv_stop() {   # [result name]: its own figures appended there
    local i
    [ -n "$floor_pid" ] || return 0
    kill -TERM "$floor_pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$floor_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$floor_pid" 2>/dev/null || true
    wait "$floor_pid" 2>/dev/null || true
    floor_pid=""
    workers=""
    if [ -n "${1:-}" ] && [ -f "$res/$1.floor.r$rep.txt" ]; then
        cat "$root/floor-srv.txt" >> "$res/$1.floor.r$rep.txt"
    fi
}

trap 'nginx_stop; b_stop; redis_stop; floor_srv_stop' EXIT

# until N publishes in a row are accepted (2xx) by the server on PORT: every
# worker is connected to Redis (reuseport spreads new connections)
pub_ready() {   # port
    local ok=0 i c
    for i in $(seq 200); do
        c=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary x \
            -H 'Content-Type: text/plain' \
            "http://127.0.0.1:$1/pub?channel=warmup" 2>/dev/null) || true
        if [[ "$c" == 2* ]]; then
            ok=$((ok + 1))
            [ "$ok" -ge 10 ] && return 0
        else
            ok=0
            sleep 0.05
        fi
    done
    echo "bench: the server on port $1 does not accept publishes (last: $c)" >&2
    return 1
}

# redis2: redis-server, server A (left in master/workers/port) and server B
# (b_master/b_workers/b_port), both on Redis
two_start() {   # module
    local m=$1
    redis_start
    cur="$m-B"; b_cur=$cur
    nginx_start "$m" 2 "$m-B" "redis://127.0.0.1:$redis_port"
    b_master=$master; b_workers=$workers; b_port=$port
    cur="$m-A"
    nginx_start "$m" 2 "$m-A" "redis://127.0.0.1:$redis_port"
    pub_ready "$port" || true
    pub_ready "$b_port" || true
}

two_stop() {
    nginx_stop
    b_stop
    redis_stop
}

pids_csv() { tr ' ' ',' <<< "$*"; }

# gen SCENARIO MODULE ARGS...: one generator run against the running nginx
gen() {
    local s=$1 m=$2 perf=""
    shift 2
    if [ "${BENCH_PERF:-0}" = 1 ]; then
        perf record -q -g -F 999 -p "$(pids_csv $workers)" \
            -o "$res/$s.$m.r$rep.perf.data" > /dev/null 2>&1 &
        perf=$!
        sleep 0.5
    fi
    timeout 300 "$gen" -p "$port" --cpu-pids "$(pids_csv $workers)" \
        --mem-pids "$(pids_csv $master $workers)" --label "$s/$m" "$@" \
        > "$res/$s.$m.r$rep.txt" 2> "$res/$s.$m.r$rep.err" || true
    if [ -n "$perf" ]; then
        kill -INT "$perf" 2>/dev/null || true
        wait "$perf" 2>/dev/null || true
        perf report -i "$res/$s.$m.r$rep.perf.data" --no-children \
            --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' \
            | head -40 > "$res/$s.$m.r$rep.perf.txt" || true
    fi
}

# idle HTTP/2 streams on one channel: h2load (nghttp2-client) opens them,
# 10 connections of up to 1000 streams each, over h2c (prior knowledge,
# the second port); counted as subscribers by the channel's info
idle_h2() {   # module
    local m=$1 before after n=0 i hp f="$res/idle_h2.$1.r$rep.txt"
    before=$(pss_sum $master $workers)
    timeout 300 h2load -c 10 -m $(( (idle_subs + 9) / 10 )) -n "$idle_subs" \
        -t 1 -H 'Accept: text/event-stream' \
        "http://127.0.0.1:$((port + 1))/sub?channel=h2" \
        > "$res/idle_h2.$m.r$rep.err" 2>&1 &
    hp=$!
    for i in $(seq 1200); do
        n=$(curl -s "http://127.0.0.1:$port/pub?channel=h2" \
            | grep -oE 'subscribers"?: *[0-9]+' | grep -oE '[0-9]+$') || true
        [ "${n:-0}" -ge "$idle_subs" ] && break
        sleep 0.1
    done
    sleep "$hold"
    after=$(pss_sum $master $workers)
    kill "$hp" 2>/dev/null || true
    wait "$hp" 2>/dev/null || true
    {
        echo "subs_ok=${n:-0}"
        echo "mem_pss_before=$before"; echo "mem_pss_after=$after"
        [ "${n:-0}" -gt 0 ] && echo "mem_pss_per_sub=$(( (after - before) / n ))"
    } > "$f"
}

get() {   # scenario module key
    local f="$res/$1.$2.txt"
    [ -f "$f" ] || { echo "-"; return; }
    local v
    v=$(grep -m1 "^$3=" "$f" | cut -d= -f2) || true
    echo "${v:--}"
}

pss_sum() {
    local p s=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ { print $2 * 1024 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        s=$((s + ${v:-0}))
    done
    echo "$s"
}

want() { [[ " $only " == *" $1 "* ]]; }

echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(nginx -v 2>&1 | sed 's/.*: //')"
echo "bench: subscribers idle=$idle_subs fan-out=$fan_subs channels=$ch_subs scale=$scale_subs; results in $res"

# one scenario, one module, one repetition; results in $res/<name>.<m>.r<rep>.txt
scenario() {   # scenario module
    local sc=$1 m=$2 k
    cur=$m
    case "$sc" in
    floor_idle)
        echo "bench: floor: $idle_subs idle HTTP/1.1 keep-alive connections (one request each, return 204) on nginx without a module (run $rep)"
        nginx_start floor 2
        gen idle_ka floor --plain --sub-path /ka --subs "$idle_subs" \
            --channels "$idle_subs" --src 8 --idle-only --hold "$hold" \
            --timeout 120
        nginx_stop
        ;;
    floor_fan5)
        echo "bench: floor: write rounds, no nginx, 1 channel x $fan_subs subscribers at 5 msg/s for ${d_rate}s (run $rep)"
        if floor_srv_start; then
            gen fanout5 floor --subs "$fan_subs" --channels 1 --rate 5 \
                --duration "$d_rate" --hold 1 --timeout 120
            floor_srv_stop fanout5
        fi
        ;;
    floor_fanmax)
        echo "bench: floor: write rounds, no nginx, 1 channel x $fan_subs subscribers, as fast as possible for ${d_max}s (run $rep)"
        if floor_srv_start; then
            gen fanoutmax floor --subs "$fan_subs" --channels 1 --rate 0 \
                --window 32 --pubconns 8 --duration "$d_max" --hold 1 \
                --timeout 120
            floor_srv_stop fanoutmax
        fi
        ;;
    idle)
        echo "bench: $m: idle memory, $idle_subs subscribers on $idle_subs channels / on 1 channel (run $rep)"
        nginx_start "$m" 2
        gen idle_many "$m" --subs "$idle_subs" --channels "$idle_subs" --src 8 \
            --idle-only --hold "$hold" --timeout 120
        nginx_stop
        nginx_start "$m" 2
        gen idle_one "$m" --subs "$idle_subs" --channels 1 --src 8 \
            --idle-only --hold "$hold" --timeout 120
        nginx_stop
        nginx_start "$m" 2
        idle_h2 "$m"
        nginx_stop
        ;;
    fanout5)
        echo "bench: $m: fan-out, 1 channel x $fan_subs subscribers at 5 msg/s for ${d_rate}s (run $rep)"
        nginx_start "$m" 2
        gen fanout5 "$m" --subs "$fan_subs" --channels 1 --rate 5 \
            --duration "$d_rate" --hold 1 --timeout 120
        nginx_stop
        ;;
    fanoutmax)
        echo "bench: $m: fan-out, 1 channel x $fan_subs subscribers, as fast as possible for ${d_max}s (run $rep)"
        nginx_start "$m" 2
        gen fanoutmax "$m" --subs "$fan_subs" --channels 1 --rate 0 \
            --window 32 --pubconns 8 --duration "$d_max" --hold 1 \
            --timeout 120
        nginx_stop
        ;;
    channels)
        # "as fast as possible" depends on how many publishes are in flight:
        # each module is measured at several concurrencies, its best counts
        for k in $ch_conc; do
            echo "bench: $m: $ch_subs channels x 1 subscriber, as fast as possible for ${d_max}s, $k publisher connections (run $rep)"
            nginx_start "$m" 2
            gen "channels_c$k" "$m" --subs "$ch_subs" --channels "$ch_subs" \
                --rate 0 --window 2000 --pubconns "$k" --duration "$d_max" \
                --hold 1 --timeout 120
            echo "pubconns=$k" >> "$res/channels_c$k.$m.r$rep.txt"
            nginx_stop
        done
        ;;
    pubonly)
        echo "bench: $m: publish only, no subscribers, ${d_pub}s (run $rep)"
        nginx_start "$m" 2
        gen pubonly_raw "$m" --channels 100 --rate 0 --pubconns 16 \
            --duration "$d_pub" --no-end --timeout 60
        if [ "$m" = sse ]; then
            gen pubonly_json "$m" --channels 100 --rate 0 --pubconns 16 \
                --duration "$d_pub" --no-end --json --timeout 60
        fi
        nginx_stop
        ;;
    redis2)
        # the reference: the same subscribers on one server, no Redis
        if [ "$m" = sse ]; then
            echo "bench: $m: one server, no Redis, 1 channel x $((2 * redis_subs)) subscribers at 5 msg/s for ${d_rate}s (run $rep)"
            nginx_start "$m" 2
            gen redis2_one5 "$m" --subs $((2 * redis_subs)) --channels 1 \
                --rate 5 --duration "$d_rate" --hold 1 --timeout 120
            nginx_stop
            echo "bench: $m: one server, no Redis, 1 channel x $((2 * redis_subs)) subscribers, as fast as possible for ${d_max}s (run $rep)"
            nginx_start "$m" 2
            gen redis2_onemax "$m" --subs $((2 * redis_subs)) --channels 1 \
                --rate 0 --window 32 --pubconns 8 --duration "$d_max" \
                --hold 1 --timeout 120
            nginx_stop
        fi
        echo "bench: $m: two servers on Redis, 1 channel x $redis_subs + $redis_subs subscribers, publishing on A at 5 msg/s for ${d_rate}s (run $rep)"
        two_start "$m"
        gen redis2_two5 "$m" --subs $((2 * redis_subs)) --channels 1 \
            --port2 "$b_port" --cpu-pids2 "$(pids_csv $b_workers)" \
            --cpu-pids3 "$redis_pid" \
            --rate 5 --duration "$d_rate" --hold 1 --timeout 120
        two_stop
        echo "bench: $m: two servers on Redis, 1 channel x $redis_subs + $redis_subs subscribers, publishing on A as fast as possible for ${d_max}s (run $rep)"
        two_start "$m"
        gen redis2_twomax "$m" --subs $((2 * redis_subs)) --channels 1 \
            --port2 "$b_port" --cpu-pids2 "$(pids_csv $b_workers)" \
            --cpu-pids3 "$redis_pid" \
            --rate 0 --window 32 --pubconns 8 --duration "$d_max" \
            --hold 1 --timeout 120
        two_stop
        # the ceiling of one Redis primary, which carries a whole zone:
        # publishing only, as fast as possible, from both servers at once
        echo "bench: $m: two servers on Redis, no subscribers, publishing on A and B as fast as possible for ${d_pub}s (run $rep)"
        two_start "$m"
        timeout 300 "$gen" -p "$b_port" --channels 100 --rate 0 \
            --pubconns 16 --duration "$d_pub" --no-end --timeout 60 \
            --label "redis2_pub/$m/B" > "$res/redis2_pubB.$m.r$rep.txt" \
            2> "$res/redis2_pubB.$m.r$rep.err" &
        local bp=$!
        gen redis2_pub "$m" --channels 100 --rate 0 --pubconns 16 \
            --duration "$d_pub" --no-end --timeout 60 \
            --cpu-pids3 "$redis_pid"
        wait "$bp" || true
        awk -F= '/^publishes_per_s=/ { b = $2 } /^published=/ { n = $2 }
                 END { print "publishes_per_s_b=" b + 0; print "published_b=" n + 0 }' \
            "$res/redis2_pubB.$m.r$rep.txt" >> "$res/redis2_pub.$m.r$rep.txt"
        two_stop
        ;;
    esac
}

# pick NAME MODULE KEY median|max: the repetition that counts -> NAME.MODULE.txt
pick() {
    local nm=$1 m=$2 key=$3 how=$4 f v list=()
    for f in "$res/$nm.$m".r*.txt; do
        [ -f "$f" ] || continue
        v=$(grep -m1 "^$key=" "$f" | cut -d= -f2) || true
        [ -n "$v" ] && list+=("$v $f")
    done
    [ ${#list[@]} -gt 0 ] || return 0
    if [ "$how" = max ]; then
        f=$(printf '%s\n' "${list[@]}" | sort -g | tail -1 | cut -d' ' -f2)
    else
        f=$(printf '%s\n' "${list[@]}" | sort -g \
            | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
    fi
    cp "$f" "$res/$nm.$m.txt"
    # every repetition's figure, for the record
    echo "runs_$key=$(printf '%s\n' "${list[@]}" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')" \
        >> "$res/$nm.$m.txt"
}

# the modules take turns in every repetition, so a burst of load from
# something else on the machine does not hit only one of them; the floor
# takes its turn after them in the scenario it belongs to (its three parts
# run whenever "floor" is wanted, even if that scenario is not)
for sc in idle fanout5 fanoutmax channels pubonly redis2; do
    fl=""
    if want floor; then
        case "$sc" in
            idle)      fl=floor_idle ;;
            fanout5)   fl=floor_fan5 ;;
            fanoutmax) fl=floor_fanmax ;;
        esac
    fi
    want "$sc" || [ -n "$fl" ] || continue
    for rep in $(seq "$reps"); do
        if want "$sc"; then
            for m in $modules; do
                scenario "$sc" "$m"
            done
        fi
        if [ -n "$fl" ]; then
            scenario "$fl" floor
        fi
    done
done
rep=0

for m in $modules; do
    pick idle_many "$m" mem_pss_per_sub median
    pick idle_one "$m" mem_pss_per_sub median
    pick idle_h2 "$m" mem_pss_per_sub median
    pick fanout5 "$m" lat_p99_us median
    pick fanoutmax "$m" cpu_ns_per_delivery median
    best=0
    for k in $ch_conc; do
        pick "channels_c$k" "$m" publishes_per_s max
        v=$(get "channels_c$k" "$m" publishes_per_s)
        if [ "$v" != "-" ] && [ "$v" -gt "$best" ]; then
            best=$v
            cp "$res/channels_c$k.$m.txt" "$res/channels.$m.txt"
        fi
    done
    pick pubonly_raw "$m" publishes_per_s max
    pick pubonly_json "$m" publishes_per_s max
    pick redis2_one5 "$m" lat_p99_us median
    pick redis2_onemax "$m" deliveries_per_s max
    pick redis2_two5 "$m" lat_p99_us median
    pick redis2_twomax "$m" deliveries_per_s max
    pick redis2_pub "$m" publishes_per_s max
done

# the floor: one idle connection for both idle scenarios
if want floor; then
    pick idle_ka floor mem_pss_per_sub median
    pick fanout5 floor round_p99_us median
    pick fanoutmax floor cpu_ns_per_delivery median
    for s in idle_many idle_one; do
        if [ -f "$res/idle_ka.floor.txt" ]; then
            cp "$res/idle_ka.floor.txt" "$res/$s.floor.txt"
        fi
    done
fi

# one scale run: $2 subscribers on one channel, results in $res/<name>.<m>.txt
scale_run() {   # module subscribers name
    local m=$1 subs=$2 nm=$3 nprocs nw per before after gpids t0 t1 i r k p
    local connected
    # generators by the count; workers by the larger run, the same in both
    nprocs=$(( (subs + 16999) / 17000 ))
    [ "$nprocs" -lt 1 ] && nprocs=1
    nw=$(( (scale_subs + 14999) / 15000 ))
    [ "$nw" -lt 2 ] && nw=2
    per=$(( (subs + nprocs - 1) / nprocs ))
    echo "bench: $m: scale, $subs subscribers on 1 channel ($nprocs generators, $nw workers), one broadcast"
    nginx_start "$m" "$nw"
    rm -f "$res"/$nm.$m.*
    before=$(pss_sum $master $workers)
    gpids=()
    t0=$(date +%s.%N)
    for k in $(seq 0 $((nprocs - 1))); do
        timeout 300 "$gen" -p "$port" --subs "$per" --channels 1 \
            --src 4 --src-first $((10 + k * 4)) --no-pub --conn-burst 128 \
            --ready-file "$res/$nm.$m.ready$k" --timeout 240 \
            --label "$nm/$m/$k" \
            > "$res/$nm.$m.part$k" 2> "$res/$nm.$m.part$k.err" &
        gpids+=($!)
    done
    for i in $(seq 2400); do
        r=$(compgen -G "$res/$nm.$m.ready*" | wc -l) || true
        [ "$r" -ge "$nprocs" ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    sleep "$hold"
    after=$(pss_sum $master $workers)
    connected=$(cat "$res"/$nm.$m.ready* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    timeout 60 "$gen" -p "$port" --channels 1 --count 1 --timeout 30 \
        --label "$nm/$m/pub" > "$res/$nm.$m.pub" 2>&1 || true
    for p in "${gpids[@]}"; do wait "$p" || true; done
    for k in $(seq 0 $((nprocs - 1))); do cat "$res/$nm.$m.part$k"; done \
      | awk -v conn="$connected" -v b="$before" -v a="$after" \
            -v st="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" '
        /^deliveries=/ { d += substr($0, 12) }
        /^lost=/ { l += substr($0, 6) }
        /^subs_incomplete=/ { inc += substr($0, 17) }
        /^subs_closed=/ { cl += substr($0, 13) }
        /^lat_max_us=/ { v = substr($0, 12) + 0; if (v > mx) mx = v }
        /^lat_p50_us=/ { v = substr($0, 12) + 0; if (v > p50) p50 = v }
        END {
            print "subs_ok=" conn; print "deliveries=" d + 0
            print "lost=" l + 0 + inc; print "subs_closed=" cl + 0
            print "broadcast_ms=" mx / 1000
            print "subscribe_s=" st
            print "mem_pss_before=" b; print "mem_pss_after=" a
            if (conn > 0) printf "mem_pss_per_sub=%.0f\n", (a - b) / conn
        }' > "$res/$nm.$m.txt"
    echo "workers=$nw" >> "$res/$nm.$m.txt"
    sleep 2     # the workers are still closing the subscribers' sockets
    nginx_stop
}

for m in $modules; do
    cur=$m
    if want scale; then
        # two sizes: the slope between them projects to 1,000,000
        scale_run "$m" $((scale_subs / 2)) scale_half
        scale_run "$m" "$scale_subs" scale
    fi
done

cur=""

# ---------------------------------------------------------------- the table

ratio() {   # ours theirs
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) { print "-"; exit }
        printf "%.2f", a / b }'
}

# one line of the table: sse, nchan, sse/nchan, the floor, sse/floor
line() {    # label sse nchan floor
    printf "| %-46s | %12s | %12s | %9s | %10s | %9s |\n" "$1" "$2" "$3" \
        "$(ratio "$2" "$3")" "$4" "$(ratio "$2" "$4")"
}

row() {     # label scenario key [unit divisor]
    local lbl=$1 s=$2 k=$3 div=${4:-1} a b f
    a=$(get "$s" sse "$k"); b=$(get "$s" nchan "$k"); f=$(get "$s" floor "$k")
    if [ "$div" != 1 ]; then
        a=$(awk -v v="$a" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
        b=$(awk -v v="$b" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
        f=$(awk -v v="$f" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
    fi
    line "$lbl" "$a" "$b" "$f"
}

if want idle || want fanout5 || want fanoutmax || want channels \
    || want pubonly || want scale || want floor
then
echo
echo "| scenario / figure                              |   sse module |        nchan | sse/nchan |      floor | sse/floor |"
echo "|------------------------------------------------|-------------:|-------------:|----------:|-----------:|----------:|"
fi
if want idle || want floor; then
    row "idle $idle_subs subs / $idle_subs ch: Pss bytes/sub" idle_many mem_pss_per_sub
    row "idle $idle_subs subs / $idle_subs ch: Rss bytes/sub" idle_many mem_rss_per_sub
    row "idle $idle_subs subs / 1 ch: Pss bytes/sub" idle_one mem_pss_per_sub
    row "idle $idle_subs subs / 1 ch: Rss bytes/sub" idle_one mem_rss_per_sub
    row "idle $idle_subs HTTP/2 streams / 1 ch: Pss B/sub" idle_h2 mem_pss_per_sub
fi
if want fanout5 || want floor; then
    row "fan-out 5/s x $fan_subs: deliveries" fanout5 deliveries
    row "fan-out 5/s x $fan_subs: lost" fanout5 lost
    row "fan-out 5/s x $fan_subs: latency p50 ms" fanout5 lat_p50_us 1000
    row "fan-out 5/s x $fan_subs: latency p90 ms" fanout5 lat_p90_us 1000
    row "fan-out 5/s x $fan_subs: latency p99 ms" fanout5 lat_p99_us 1000
    row "fan-out 5/s x $fan_subs: latency max ms" fanout5 lat_max_us 1000
    row "fan-out 5/s x $fan_subs: round p50 ms" fanout5 round_p50_us 1000
    row "fan-out 5/s x $fan_subs: round p99 ms" fanout5 round_p99_us 1000
    row "fan-out 5/s x $fan_subs: server CPU ns/delivery" fanout5 cpu_ns_per_delivery
fi
if want fanoutmax || want floor; then
    row "fan-out max x $fan_subs: publishes/s" fanoutmax publishes_per_s
    row "fan-out max x $fan_subs: deliveries/s" fanoutmax deliveries_per_s
    row "fan-out max x $fan_subs: lost" fanoutmax lost
    row "fan-out max x $fan_subs: latency p50 ms" fanoutmax lat_p50_us 1000
    row "fan-out max x $fan_subs: latency p99 ms" fanoutmax lat_p99_us 1000
    row "fan-out max x $fan_subs: round p50 ms" fanoutmax round_p50_us 1000
    row "fan-out max x $fan_subs: server CPU ns/delivery" fanoutmax cpu_ns_per_delivery
fi
if want floor; then
    row "floor 5/s x $fan_subs: write loop p50 ms" fanout5 floor_write_p50_us 1000
    row "floor 5/s x $fan_subs: write loop p99 ms" fanout5 floor_write_p99_us 1000
    row "floor max x $fan_subs: write loop p50 ms" fanoutmax floor_write_p50_us 1000
fi
if want channels; then
    for k in $ch_conc; do
        row "$ch_subs ch x 1 sub, $k pub conns: publishes/s" "channels_c$k" publishes_per_s
    done
    row "$ch_subs ch x 1 sub: best publishes/s" channels publishes_per_s
    row "$ch_subs ch x 1 sub: lost" channels lost
    row "$ch_subs ch x 1 sub: latency p99 ms" channels lat_p99_us 1000
    row "$ch_subs ch x 1 sub: server CPU ns/publish" channels cpu_ns_per_publish
fi
if want pubonly; then
    row "publish only, raw body: publishes/s" pubonly_raw publishes_per_s
    row "publish only, server CPU ns/publish (raw)" pubonly_raw cpu_ns_per_publish
    line "publish only, sse JSON vs nchan raw: pub/s" \
        "$(get pubonly_json sse publishes_per_s)" \
        "$(get pubonly_raw nchan publishes_per_s)" -
fi
if want scale; then
    row "scale: subscribers connected" scale subs_ok
    row "scale: nginx workers" scale workers
    row "scale: time to connect all, s" scale subscribe_s
    row "scale: Pss bytes/sub" scale mem_pss_per_sub
    row "scale: one broadcast reaches all, ms" scale broadcast_ms
    row "scale: lost" scale lost
    row "scale, half: subscribers connected" scale_half subs_ok
    row "scale, half: time to connect all, s" scale_half subscribe_s
    row "scale, half: Pss bytes/sub" scale_half mem_pss_per_sub
    row "scale, half: one broadcast reaches all, ms" scale_half broadcast_ms
    # a projection, not a measurement: the line through the two runs
    for key in mem_pss_after:"1M subs (projected): memory, GB":1073741824 \
               subscribe_s:"1M subs (projected): time to connect all, s":1 \
               broadcast_ms:"1M subs (projected): broadcast reaches all, ms":1
    do
        k=${key%%:*}; rest=${key#*:}; lbl=${rest%:*}; div=${rest##*:}
        vals=()
        for m in sse nchan; do
            vals+=("$(awk -v n1="$(get scale_half $m subs_ok)" -v y1="$(get scale_half $m "$k")" \
                        -v n2="$(get scale $m subs_ok)" -v y2="$(get scale $m "$k")" \
                        -v b1="$(get scale_half $m mem_pss_before)" -v b2="$(get scale $m mem_pss_before)" \
                        -v mem="$([ "$k" = mem_pss_after ] && echo 1 || echo 0)" -v d="$div" 'BEGIN {
                if (n1 == "-" || n2 == "-" || y1 == "-" || y2 == "-" || n2 <= n1) { print "-"; exit }
                if (mem) { y1 -= b1; y2 -= b2 }
                slope = (y2 - y1) / (n2 - n1)
                printf "%.1f", (y2 + slope * (1000000 - n2)) / d }')")
        done
        line "$lbl" "${vals[0]}" "${vals[1]}" -
    done
fi

# ------------------------------------------------- two servers on Redis

# r2row LABEL KEY-ONE KEY-TWO [DIVISOR]: the redis2 table, one figure; the
# 5 msg/s or the max runs by $r2
r2row() {
    local lbl=$1 k1=$2 k2=$3 div=${4:-1} a b c
    a=$(get "redis2_one$r2" sse "$k1")
    b=$(get "redis2_two$r2" sse "$k2")
    c=$(get "redis2_two$r2" nchan "$k2")
    if [ "$div" != 1 ]; then
        a=$(awk -v v="$a" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
        b=$(awk -v v="$b" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
        c=$(awk -v v="$c" -v d="$div" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v / d }')
    fi
    [ "$k1" = - ] && a="-"
    printf "| %-44s | %9s | %12s | %6s | %12s | %6s |\n" "$lbl" "$a" "$b" \
        "$(ratio "$b" "$a")" "$c" "$(ratio "$b" "$c")"
}

if want redis2; then
    tot=$((2 * redis_subs))
    echo
    echo "Two servers on one Redis: $redis_subs subscribers on A + $redis_subs on B, 1 channel, publisher on A;"
    echo "one server: the $tot subscribers on one server without Redis (2 workers per server)"
    echo
    printf "| %-44s | %9s | %12s | %6s | %12s | %6s |\n" figure "sse 1 srv" \
        "sse 2 srv+R" "2/1" "nchan 2srv+R" "sse/nc"
    echo "|----------------------------------------------|----------:|-------------:|-------:|-------------:|-------:|"
    r2=5
    r2row "5 msg/s x $tot: deliveries" deliveries deliveries
    r2row "5 msg/s x $tot: deliveries on A" - deliveries_a
    r2row "5 msg/s x $tot: deliveries on B" - deliveries_b
    r2row "5 msg/s x $tot: lost" lost lost
    r2row "5 msg/s x $tot: latency p50 ms, subs on A" lat_p50_us lat_p50_us_a 1000
    r2row "5 msg/s x $tot: latency p50 ms, subs on B" lat_p50_us lat_p50_us_b 1000
    r2row "5 msg/s x $tot: latency p99 ms, subs on A" lat_p99_us lat_p99_us_a 1000
    r2row "5 msg/s x $tot: latency p99 ms, subs on B" lat_p99_us lat_p99_us_b 1000
    r2row "5 msg/s x $tot: nginx CPU ns/delivery" cpu_ns_per_delivery cpu_ns_per_delivery
    r2row "5 msg/s x $tot: Redis CPU ms" - other_cpu_ms
    r2=max
    r2row "max x $tot: publishes/s" publishes_per_s publishes_per_s
    r2row "max x $tot: deliveries/s" deliveries_per_s deliveries_per_s
    r2row "max x $tot: deliveries on A" - deliveries_a
    r2row "max x $tot: deliveries on B" - deliveries_b
    r2row "max x $tot: lost" lost lost
    r2row "max x $tot: latency p50 ms, subs on A" lat_p50_us lat_p50_us_a 1000
    r2row "max x $tot: latency p50 ms, subs on B" lat_p50_us lat_p50_us_b 1000
    r2row "max x $tot: latency p99 ms, subs on A" lat_p99_us lat_p99_us_a 1000
    r2row "max x $tot: latency p99 ms, subs on B" lat_p99_us lat_p99_us_b 1000
    r2row "max x $tot: nginx CPU ns/delivery (A+B)" cpu_ns_per_delivery cpu_ns_per_delivery
    r2row "max x $tot: nginx CPU ms, server A" - server_a_cpu_ms
    r2row "max x $tot: nginx CPU ms, server B" - server_b_cpu_ms
    r2row "max x $tot: Redis CPU ns/publish" - other_cpu_ns_per_publish
    r2row "max x $tot: Redis CPU ms" - other_cpu_ms
    echo
    echo "The ceiling of one Redis primary (a zone lives in one hash slot): both servers publish"
    echo "as fast as possible, 16 connections each, 100 channels, no subscribers"
    echo
    printf "| %-44s | %12s | %12s | %6s |\n" figure sse nchan sse/nc
    echo "|----------------------------------------------|-------------:|-------------:|-------:|"
    for m in sse nchan; do
        f="$res/redis2_pub.$m.txt"
        [ -f "$f" ] || continue
        # Redis's CPU over A's run, which B's overlaps
        awk -F= '/^publishes_per_s=/ { a = $2 } /^publishes_per_s_b=/ { b = $2 }
                 /^published=/ { na = $2 } /^published_b=/ { nb = $2 }
                 /^other_cpu_ms=/ { c = $2 }
                 END {
                     print "publishes_per_s_ab=" a + b
                     if (na + nb > 0) {
                         ns = c * 1e6 / (na + nb)
                         printf "redis_ns_per_publish=%.0f\n", ns
                         if (ns > 0) printf "redis_ceiling_per_s=%.0f\n", 1e9 / ns
                     }
                 }' "$f" >> "$f"
    done
    for k in "publishes/s, A + B:publishes_per_s_ab" \
             "Redis CPU ns/publish:redis_ns_per_publish" \
             "Redis at 100% of a core (projected), pub/s:redis_ceiling_per_s"
    do
        a=$(get redis2_pub sse "${k##*:}"); b=$(get redis2_pub nchan "${k##*:}")
        printf "| %-44s | %12s | %12s | %6s |\n" "${k%%:*}" "$a" "$b" "$(ratio "$a" "$b")"
    done
fi

# ---------------------------------------------------------------- targets

echo
verdict() {   # name value op limit
    local name=$1 v=$2 op=$3 lim=$4 ok
    if [ "$v" = "-" ]; then
        printf "%-4s %s (not measured)\n" "SKIP" "$name"; return
    fi
    ok=$(awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN {
        print ((op == "<=" && v <= l) || (op == ">=" && v >= l)) ? "PASS" : "FAIL" }')
    printf "%-4s %s: %s %s %s\n" "$ok" "$name" "$v" "$op" "$lim"
}

if want fanoutmax; then
    verdict "fan-out server CPU/delivery, sse/nchan" \
        "$(ratio "$(get fanoutmax sse cpu_ns_per_delivery)" "$(get fanoutmax nchan cpu_ns_per_delivery)")" "<=" 0.33
fi
# issue 14 (its targets replace the earlier ones for idle memory, 0.45x
# nchan, and p99 latency, 0.25x nchan): against nchan and against the
# floor of this machine
if want idle; then
    for s in idle_many idle_one; do
        if [ "$s" = idle_many ]; then w="$idle_subs channels"; else w="1 channel"; fi
        verdict "issue 14: idle memory/subscriber ($w), sse/nchan" \
            "$(ratio "$(get $s sse mem_pss_per_sub)" "$(get $s nchan mem_pss_per_sub)")" "<=" 0.15
        verdict "issue 14: idle memory/subscriber ($w), sse/floor connection" \
            "$(ratio "$(get $s sse mem_pss_per_sub)" "$(get $s floor mem_pss_per_sub)")" "<=" 2.5
    done
fi
if want fanout5; then
    verdict "issue 14: p99 latency 5 msg/s x $fan_subs, sse/floor round p99" \
        "$(ratio "$(get fanout5 sse lat_p99_us)" "$(get fanout5 floor round_p99_us)")" "<=" 1.3
fi
if want scale; then
    verdict "issue 14: scale, time to connect all, sse/nchan" \
        "$(ratio "$(get scale sse subscribe_s)" "$(get scale nchan subscribe_s)")" "<=" 1
fi
if want channels; then
    verdict "$ch_subs channels x 1: publishes/s, sse/nchan" \
        "$(ratio "$(get channels sse publishes_per_s)" "$(get channels nchan publishes_per_s)")" ">=" 1.5
fi
if want pubonly; then
    verdict "publish only, sse JSON / nchan raw" \
        "$(ratio "$(get pubonly_json sse publishes_per_s)" "$(get pubonly_raw nchan publishes_per_s)")" ">=" 1.2
fi
lost_total=0
for s in fanout5 fanoutmax channels scale scale_half redis2_one5 redis2_onemax \
    redis2_two5 redis2_twomax
do
    v=$(get "$s" sse lost)
    [ "$v" = "-" ] && continue
    lost_total=$((lost_total + v))
done
verdict "messages lost by the sse module, all scenarios" "$lost_total" "<=" 0
for s in fanout5 fanoutmax channels scale scale_half redis2_one5 redis2_onemax \
    redis2_two5 redis2_twomax
do
    v=$(get "$s" sse subs_failed); f=$(get "$s" sse subs_closed)
    if [ "$v" != "-" ] && [ "$v" != 0 ]; then echo "note: $s: $v sse subscribers failed to connect"; fi
    if [ "$f" != "-" ] && [ "$f" != 0 ]; then echo "note: $s: $f sse subscribers closed by the server"; fi
done
# a floor that lost messages or subscribers is no floor
for s in fanout5 fanoutmax; do
    v=$(get "$s" floor lost); f=$(get "$s" floor floor_subs_overflow)
    if [ "$v" != "-" ] && [ "$v" != 0 ]; then echo "note: floor $s: $v messages lost"; fi
    if [ "$f" != "-" ] && [ "$f" != 0 ]; then echo "note: floor $s: $f subscribers closed past --max-pending"; fi
done
v=$(get idle_ka floor subs_failed)
if [ "$v" != "-" ] && [ "$v" != 0 ]; then echo "note: floor idle: $v connections failed"; fi
