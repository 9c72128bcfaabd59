#!/bin/sh
# bench/server.sh — burrowd against redis-server over the network, in one run
# on one machine, and the "## Server" section of docs/benchmarks.md (or
# $BENCH_OUT), replaced when present (bench/section.sh).
#
#   bench/server.sh                 the whole run (about 15 minutes)
#   bench/server.sh --quick         a smoke run: small counts, 1 run each
#   bench/server.sh --runs 5        repetitions of each measurement (median)
#   bench/server.sh --parts kv,durable,fanout,idle   only some parts
#   BUILD=/tmp/b bench/server.sh    build in /tmp/b instead of build/
#   bench/run.sh --only server ...  the same, through run.sh
#
# Parts, each with both servers on their own free loopback port and their own
# scratch data directory:
#   kv       no persistence (burrowd --durability no; redis --save ""
#            --appendonly no): redis-benchmark SET and GET (50 clients, -d 100,
#            -r 1000000), without pipelining and with -P 16; JSON.SET and
#            JSON.GET of a ~200-byte document on burrowd against SET and GET of
#            the same JSON text on Redis (Debian's redis-server has no RedisJSON).
#   durable  fsync on every write (burrowd --durability always; redis
#            --appendonly yes --appendfsync always): the same.
#   fanout   pub/sub deliveries per second with 1,000 and 10,000 subscribers
#            (build/bench/fanout; no persistence).
#   idle     server memory per idle connection at 10,000 and 19,000
#            connections (build/bench/idle; a fresh server for every run).
# Each measurement runs --runs times (3), the two servers taking turns, and
# the median is reported with every run. The load average is recorded before
# and after each part and at the start of every row; rows that started with a
# 1-minute load above 2 say so.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=${BENCH_OUT:-$root/docs/benchmarks.md}
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
. "$root/bench/section.sh"

runs=3
quick=0
parts=kv,durable,fanout,idle
args="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs=$2; shift ;;
        --parts) parts=$2; shift ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "server.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$runs" in ''|*[!0-9]*|0) echo "server.sh: --runs wants a positive number" >&2; exit 2 ;; esac

# Request counts per redis-benchmark run: enough for a few seconds each.
n_p1=200000; n_p16=2000000; n_json_p1=200000; n_json_p16=1000000
n_dur_p1=100000; n_dur_p16=500000
fan_sizes="1000 10000"; idle_sizes="10000 19000"; settle=5
if [ "$quick" = 1 ]; then
    n_p1=20000; n_p16=100000; n_json_p1=20000; n_json_p16=50000
    n_dur_p1=5000; n_dur_p16=20000
    fan_sizes="100 1000"; idle_sizes="1000 2000"; settle=1
fi
fan_messages() { echo $((10000000 / $1)); } # 10^7 deliveries per run
[ "$quick" = 1 ] && fan_messages() { echo $((200000 / $1)); }
maxclients=19500

for t in redis-server redis-benchmark redis-cli; do
    command -v "$t" >/dev/null || { echo "server.sh: $t is missing (scripts/setup.sh --bench)" >&2; exit 2; }
done

work=$(mktemp -d)
res=$work/results.tsv # part key server value load1
: >"$res"
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load1() { cut -d' ' -f1 /proc/loadavg; }
load3() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- build -----------------------------------------------------------------
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src include 2>/dev/null | head -n 1)
[ -n "$dirty" ] && rev="$rev plus uncommitted changes in src/ or include/"
if ! make -C "$root" BUILD="$build" all >"$work/build.log" 2>&1 ||
   ! make -C "$root/bench" BUILD="$build" server >>"$work/build.log" 2>&1; then
    {
        echo "## Server"
        echo
        echo "Not measured: \`make all\` or \`make -C bench server\` failed (commit $rev):"
        echo
        echo '```'
        tail -n 15 "$work/build.log"
        echo '```'
    } >"$work/section.md"
    put_section "$out" "Server" "$work/section.md"
    echo "server.sh: the build failed; wrote that into $out" >&2
    exit 1
fi
burrowd=$build/burrowd
fanout=$build/bench/fanout
idle=$build/bench/idle

# ---- servers -----------------------------------------------------------------
# A free port below the ephemeral range (so no outgoing connection can hold
# it), nobody listening on it.
next_port=$((20000 + $$ % 5000))
free_port() {
    while ss -Htln "sport = :$next_port" | grep -q .; do next_port=$((next_port + 1)); done
    echo "$next_port"
    next_port=$((next_port + 1))
}

wait_ready() { # port pid name
    w_i=0
    while [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" != PONG ]; do
        if ! kill -0 "$2" 2>/dev/null || [ $w_i -ge 100 ]; then
            echo "server.sh: $3 did not start on port $1; its log:" >&2
            cat "$work/$3.log" >&2 || true
            exit 1
        fi
        sleep 0.1; w_i=$((w_i + 1))
    done
}

# start_burrowd MODE: sets b_port, b_pid, b_cmd.
start_burrowd() {
    b_port=$(free_port)
    rm -rf "$work/burrowd"; mkdir -p "$work/burrowd"
    b_cmd="build/burrowd --port $b_port --dir DIR --durability $1 --maxclients $maxclients"
    "$burrowd" --port "$b_port" --dir "$work/burrowd" --durability "$1" \
        --maxclients "$maxclients" >"$work/burrowd.log" 2>&1 &
    b_pid=$!
    pids="$pids $b_pid"
    wait_ready "$b_port" "$b_pid" burrowd
}

# start_redis MODE (no | always): sets r_port, r_pid, r_cmd. protected-mode
# is off because the benchmark clients connect from 127.0.0.2, ... which
# Redis's protected mode refuses (it is still bound to 127.0.0.1 only).
start_redis() {
    r_port=$(free_port)
    rm -rf "$work/redis"; mkdir -p "$work/redis"
    if [ "$1" = always ]; then
        set -- --appendonly yes --appendfsync always
    else
        set -- --appendonly no
    fi
    r_cmd="redis-server --port $r_port --bind 127.0.0.1 --protected-mode no --dir DIR --save \"\" $* --maxclients $maxclients"
    redis-server --port "$r_port" --bind 127.0.0.1 --protected-mode no --dir "$work/redis" \
        --save "" "$@" --maxclients "$maxclients" --logfile "$work/redis.log" &
    r_pid=$!
    pids="$pids $r_pid"
    wait_ready "$r_port" "$r_pid" redis
}

stop_server() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    new=""
    for p in $pids; do [ "$p" = "$1" ] || new="$new $p"; done
    pids=$new
}

# ---- redis-benchmark ---------------------------------------------------------
# The JSON document: an auction bid, as doc-bench's, about 200 bytes.
doc='{"user":"user_04217","amount":73125,"price":731.25,"item":{"id":"item_88120","title":"Vintage brass ship compass","category":"antiques"},"tags":["auction","brass","nautical"],"live":true,"bids":17,"ends":"2026-12-01T18:00:00Z"}'
doc_len=$(printf '%s' "$doc" | wc -c)

# rps OUTPUT_FILE LINE_NO: requests per second from redis-benchmark --csv
# (the header is line 1; a document with commas in the test name is why the
# field is counted from the end: test, rps, then six latency fields).
rps() { awk -F, -v l="$2" 'NR == l { v = $(NF - 6); gsub(/"/, "", v); print v }' "$1"; }

# bench_kv PART SERVER PORT P N: SET and GET; appends two results.
bench_kv() {
    l=$(load1)
    f=$work/rb.out
    if redis-benchmark -h 127.0.0.1 -p "$3" -c 50 -n "$5" -d 100 -r 1000000 -P "$4" -t set,get --csv >"$f" 2>"$work/rb.err"; then
        printf '%s\tset_p%s\t%s\t%s\t%s\n' "$1" "$4" "$2" "$(rps "$f" 2)" "$l" >>"$res"
        printf '%s\tget_p%s\t%s\t%s\t%s\n' "$1" "$4" "$2" "$(rps "$f" 3)" "$l" >>"$res"
    else
        printf '%s\tset_p%s\t%s\tfailed\t%s\n' "$1" "$4" "$2" "$l" >>"$res"
        printf '%s\tget_p%s\t%s\tfailed\t%s\n' "$1" "$4" "$2" "$l" >>"$res"
        echo "server.sh: redis-benchmark against $2 failed: $(tail -n 3 "$work/rb.err")" >&2
    fi
}

# bench_cmd PART KEY SERVER PORT P N COMMAND...: one custom command.
bench_cmd() {
    part=$1 key=$2 srv=$3 port=$4 pl=$5 n=$6
    shift 6
    l=$(load1)
    f=$work/rb.out
    if redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" -r 1000000 -P "$pl" --csv "$@" >"$f" 2>"$work/rb.err"; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$part" "$key" "$srv" "$(rps "$f" 2)" "$l" >>"$res"
    else
        printf '%s\t%s\t%s\tfailed\t%s\n' "$part" "$key" "$srv" "$l" >>"$res"
        echo "server.sh: redis-benchmark $* against $srv failed: $(tail -n 3 "$work/rb.err")" >&2
    fi
}

# One round of the key/value and JSON workloads against one server.
kv_round() { # PART SERVER PORT N_P1 N_P16 JSON_P16(0|1)
    bench_kv "$1" "$2" "$3" 1 "$4"
    bench_kv "$1" "$2" "$3" 16 "$5"
    if [ "$2" = burrowd ]; then
        bench_cmd "$1" jset_p1 "$2" "$3" 1 "$4" JSON.SET 'doc:__rand_int__' '$' "$doc"
        bench_cmd "$1" jget_p1 "$2" "$3" 1 "$4" JSON.GET 'doc:__rand_int__'
        if [ "$6" = 1 ]; then
            bench_cmd "$1" jset_p16 "$2" "$3" 16 "$n_json_p16" JSON.SET 'doc:__rand_int__' '$' "$doc"
            bench_cmd "$1" jget_p16 "$2" "$3" 16 "$n_json_p16" JSON.GET 'doc:__rand_int__'
        fi
    else
        bench_cmd "$1" jset_p1 "$2" "$3" 1 "$4" SET 'doc:__rand_int__' "$doc"
        bench_cmd "$1" jget_p1 "$2" "$3" 1 "$4" GET 'doc:__rand_int__'
        if [ "$6" = 1 ]; then
            bench_cmd "$1" jset_p16 "$2" "$3" 16 "$n_json_p16" SET 'doc:__rand_int__' "$doc"
            bench_cmd "$1" jget_p16 "$2" "$3" 16 "$n_json_p16" GET 'doc:__rand_int__'
        fi
    fi
}

# The part's load and notes, for the report: part_info PART TEXT.
part_info() { printf '%s\n' "$2" >>"$work/info.$1"; }

has_part() { case ",$parts," in *",$1,"*) return 0 ;; esac; return 1; }

# run_kv PART MODE N_P1 N_P16 JSON_P16
run_kv() {
    start_burrowd "$2"
    start_redis "$2"
    part_info "$1" "- burrowd: \`$b_cmd\`"
    part_info "$1" "- Redis: \`$r_cmd\`"
    part_info "$1" "- Load average before: $(load3)"
    t0=$(date +%s)
    i=1
    while [ $i -le "$runs" ]; do
        echo "server.sh: $1, run $i of $runs" >&2
        kv_round "$1" burrowd "$b_port" "$3" "$4" "$5"
        kv_round "$1" redis "$r_port" "$3" "$4" "$5"
        i=$((i + 1))
    done
    part_info "$1" "- Load average after: $(load3); the part took $(($(date +%s) - t0)) s"
    bk=$(redis-cli -h 127.0.0.1 -p "$b_port" dbsize)
    rk=$(redis-cli -h 127.0.0.1 -p "$r_port" dbsize)
    part_info "$1" "- Keys at the end (DBSIZE): burrowd $bk, Redis $rk"
    # The servers' files: a file far beyond its keys is a finding of its own
    # (it costs page cache and write bandwidth on every later request).
    bmb=$(du -sm "$work/burrowd" | cut -f1)
    rmb=$(du -sm "$work/redis" | cut -f1)
    part_info "$1" "- Data directories at the end: burrowd $bmb MB, Redis $rmb MB (Redis keeps its data in RAM; without persistence its directory is empty)"
    for p in "$b_pid:burrowd" "$r_pid:redis"; do
        kill -0 "${p%%:*}" 2>/dev/null || part_info "$1" "- **${p#*:} died during this part**"
    done
    stop_server "$b_pid"
    stop_server "$r_pid"
}

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
T0=$(date +%s)
L0=$(load3)

if has_part kv; then run_kv kv no "$n_p1" "$n_p16" 1; fi
if has_part durable; then run_kv durable always "$n_dur_p1" "$n_dur_p16" 0; fi

# ---- fan-out -------------------------------------------------------------------
if has_part fanout; then
    start_burrowd no
    start_redis no
    part_info fanout "- burrowd: \`$b_cmd\` (port $b_port)"
    part_info fanout "- Redis: \`$r_cmd\` (port $r_port)"
    part_info fanout "- Load average before: $(load3)"
    t0=$(date +%s)
    for s in $fan_sizes; do
        m=$(fan_messages "$s")
        for srv in burrowd redis; do
            if [ $srv = burrowd ]; then port=$b_port; else port=$r_port; fi
            echo "server.sh: fanout, $s subscribers, $srv" >&2
            l=$(load1)
            cmd="build/bench/fanout --port $port --subscribers $s --messages $m --size 32 --runs $runs"
            part_info fanout "- \`$cmd\` ($srv)"
            if "$fanout" --port "$port" --subscribers "$s" --messages "$m" --size 32 --runs "$runs" \
                >"$work/fan.out" 2>"$work/fan.err"; then
                line=$(grep '^RESULT' "$work/fan.out")
                runsv=$(printf '%s\n' "$line" | sed 's/.* runs=\([0-9,]*\).*/\1/')
                cpu=$(printf '%s\n' "$line" | sed 's/.* client_cpu=\([0-9]*\).*/\1/')
                pr=$(printf '%s\n' "$line" | sed 's/.* publish_replies=\([^ ]*\).*/\1/')
                for x in $(printf '%s' "$runsv" | tr ',' ' '); do
                    printf 'fanout\tfan_%s\t%s\t%s\t%s\n' "$s" "$srv" "$x" "$l" >>"$res"
                done
                part_info fanout "  - $srv, $s subscribers, $m messages per run: runs $runsv deliveries/s; the client's CPU at most ${cpu}% of a core; PUBLISH replies: $pr"
            else
                printf 'fanout\tfan_%s\t%s\tfailed\t%s\n' "$s" "$srv" "$l" >>"$res"
                part_info fanout "  - **$srv, $s subscribers: failed**: $(tail -n 3 "$work/fan.err" | tr '\n' ' ')"
                kill -0 "$b_pid" 2>/dev/null || { part_info fanout "  - **burrowd died**; restarted"; start_burrowd no; }
                kill -0 "$r_pid" 2>/dev/null || { part_info fanout "  - **Redis died**; restarted"; start_redis no; }
            fi
        done
    done
    part_info fanout "- Load average after: $(load3); the part took $(($(date +%s) - t0)) s"
    stop_server "$b_pid"
    stop_server "$r_pid"
fi

# ---- idle connections ----------------------------------------------------------
if has_part idle; then
    part_info idle "- Load average before: $(load3)"
    t0=$(date +%s)
    for s in $idle_sizes; do
        i=1
        while [ $i -le "$runs" ]; do
            for srv in burrowd redis; do
                echo "server.sh: idle, $s connections, $srv, run $i" >&2
                if [ $srv = burrowd ]; then start_burrowd no; port=$b_port; pid=$b_pid; c=$b_cmd
                else start_redis no; port=$r_port; pid=$r_pid; c=$r_cmd; fi
                if [ $srv = burrowd ]; then idle_b_cmd=$c; else idle_r_cmd=$c; fi
                l=$(load1)
                if "$idle" --port "$port" --pid "$pid" --connections "$s" --settle "$settle" \
                    >"$work/idle.out" 2>"$work/idle.err"; then
                    line=$(grep '^RESULT' "$work/idle.out")
                    v=$(printf '%s\n' "$line" | sed 's/.*bytes_per_conn=\([0-9-]*\).*/\1/')
                    now=$(printf '%s\n' "$line" | sed 's/.*bytes_per_conn_at_once=\([0-9-]*\).*/\1/')
                    printf 'idle\tidle_%s\t%s\t%s\t%s\n' "$s" "$srv" "$v" "$l" >>"$res"
                    printf 'idle\tidlenow_%s\t%s\t%s\t%s\n' "$s" "$srv" "$now" "$l" >>"$res"
                    part_info idle "  - $srv, $s connections, run $i: $(sed -n 2p "$work/idle.out")"
                else
                    printf 'idle\tidle_%s\t%s\tfailed\t%s\n' "$s" "$srv" "$l" >>"$res"
                    part_info idle "  - **$srv, $s connections, run $i: failed**: $(tail -n 3 "$work/idle.err" | tr '\n' ' ')"
                fi
                stop_server "$pid"
            done
            i=$((i + 1))
        done
    done
    part_info idle "- A new server for every run: burrowd \`$idle_b_cmd\`; Redis \`$idle_r_cmd\` (ports as last used)"
    part_info idle "- \`build/bench/idle --port PORT --pid PID --connections N --settle $settle\` for N in $(echo "$idle_sizes" | sed 's/ /, /g')"
    part_info idle "- Load average after: $(load3); the part took $(($(date +%s) - t0)) s"
fi

T1=$(date +%s)
L1=$(load3)

# ---- the report ------------------------------------------------------------------
# median PART KEY SERVER: the median of the runs, and the runs, tab-separated;
# "failed" when any run failed.
median() {
    awk -F'\t' -v p="$1" -v k="$2" -v s="$3" '
        $1 == p && $2 == k && $3 == s { n++; v[n] = $4; if ($4 == "failed") bad = 1
                                         runs = runs (n > 1 ? ", " : "") $4
                                         if ($5 + 0 > maxl) maxl = $5 + 0 }
        END {
            if (n == 0) { print "-\t-\t0"; exit }
            if (bad) { print "failed\t" runs "\t" maxl; exit }
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            print v[int((n + 1) / 2)] "\t" runs "\t" maxl
        }' "$res"
}
fmt() { # a number with thousands separators; other text as it is
    case "$1" in ''|*[!0-9.]*) printf '%s' "$1" ;;
        *) printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' ;; esac
}
fmt_list() { # "a, b, c" with each number formatted
    old_ifs=$IFS; IFS=,; first=1
    for x in $1; do
        x=${x# }
        [ $first = 1 ] || printf ', '
        fmt "$x"; first=0
    done
    IFS=$old_ifs
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f×", a / b; else printf "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

# row PART KEY LABEL UNIT BUDGET_KIND: one table row, burrowd against Redis.
# BUDGET_KIND: ge1 (>= 1.0x Redis), ge2 (>= 2x), dur (durable SET), le1k
# (below 1 KiB each, lower is better), none.
row() {
    set -- "$1" "$2" "$3" "$4" "$5" "$(median "$1" "$2" burrowd)" "$(median "$1" "$2" redis)"
    bm=$(printf '%s' "$6" | cut -f1); bruns=$(printf '%s' "$6" | cut -f2); bl=$(printf '%s' "$6" | cut -f3)
    rm_=$(printf '%s' "$7" | cut -f1); rruns=$(printf '%s' "$7" | cut -f2); rl=$(printf '%s' "$7" | cut -f3)
    [ "$bm" = "-" ] && return 0
    r=$(ratio "$bm" "$rm_")
    b=""
    case "$5" in
        ge1) if ge "$bm" "$rm_"; then b="≥ 1.0× Redis — met"; else b="≥ 1.0× Redis — **not met**"; fi ;;
        ge2) if awk -v a="$bm" -v c="$rm_" 'BEGIN { exit !(a + 0 >= 2 * c) }'; then b="≥ 2× Redis — met"; else b="≥ 2× Redis — **not met**"; fi ;;
        dur) own=$(median kv "set_${2#set_}" burrowd | cut -f1)
             if awk -v a="$bm" -v c="$rm_" 'BEGIN { exit !(a + 0 >= 1.5 * c) }'; then b="≥ 1.5× Redis — met"; else b="≥ 1.5× Redis — **not met**"; fi
             case "$own" in ''|-|failed) ;;
                 *) pct=$(awk -v a="$bm" -v o="$own" 'BEGIN { printf "%.0f", 100 * a / o }')
                    if [ "$pct" -ge 80 ]; then b="$b; ≥ 80% of our non-durable SET: $pct% — met"
                    else b="$b; ≥ 80% of our non-durable SET: $pct% — **not met**"; fi ;;
             esac ;;
        le1k) if awk -v a="$bm" 'BEGIN { exit !(a + 0 < 1024) }'; then b="< 1 KiB each — met"; else b="< 1 KiB each — **not met**"; fi ;;
    esac
    note=""
    maxl=$(awk -v a="$bl" -v c="$rl" 'BEGIN { print (a + 0 > c + 0) ? a : c }')
    if awk -v m="$maxl" 'BEGIN { exit !(m > 2) }'; then note=" (load up to $maxl > 2: noisy)"; fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$3" "$4" "$(fmt "$bm")" "$(fmt "$rm_")" "$r" "$b" \
        "burrowd $(fmt_list "$bruns"); Redis $(fmt_list "$rruns")$note"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
threads=$(nproc)
{
    echo "## Server"
    echo
    echo "burrowd against redis-server over loopback TCP, in one run on one machine,"
    echo "by \`bench/server.sh\` (redis-benchmark, \`build/bench/fanout\`, \`build/bench/idle\`)."
    echo
    echo "- Date: $started; the run took $((T1 - T0)) s"
    echo "- Command: \`bench/server.sh${args:+ $args}\` (or \`bench/run.sh --only server${args:+ $args}\`)"
    echo "- Machine: $threads CPUs ($cpu), $mem RAM, Linux $(uname -r); clients and servers share the CPUs"
    echo "- Load average (1, 5, 15 min) before the run: $L0; after: $L1 (the machine is shared;"
    echo "  the two servers take turns run by run, so load hits both alike; each part's load is below)"
    echo "- burrowd: commit $rev, built with \`make all\` (-O2); its defaults otherwise: $threads network threads"
    echo "  (= cores) and one data thread"
    echo "- Redis: $(redis-server --version | sed 's/ sha=[^ ]*//; s/ build=[^ ]*//') (Debian's redis-server, its defaults"
    echo "  otherwise: one thread for commands, io-threads 1); $(redis-benchmark --version | head -n 1)"
    echo "- Runs per measurement: $runs; the table gives the median and, in the last column, every run."
    echo "- Load: the last column flags rows that started with a 1-minute load average above 2. The"
    echo "  benchmark's own processes (the client and the server under test) keep about 2 threads"
    echo "  runnable, so during a part the load counts them too; the load before the run and before"
    echo "  each part (below) shows the rest of the machine's work."
    echo
    echo "Method:"
    echo
    echo "- redis-benchmark (one process, on the same machine) against each server in turn:"
    echo "  \`redis-benchmark -h 127.0.0.1 -p PORT -c 50 -n N -d 100 -r 1000000 -P 1|16 -t set,get --csv\`"
    echo "  with N = $n_p1 (-P 1) and $n_p16 (-P 16); under durability N = $n_dur_p1 and $n_dur_p16."
    echo "  \`-r 1000000\` draws keys from 10^6 (\`key:\` and 12 digits); the GETs run after the SETs of"
    echo "  the same run and find a key only when some earlier SET wrote it (the same share on both servers:"
    echo "  see DBSIZE below)."
    echo "- JSON: burrowd \`redis-benchmark ... -P 1|16 --csv JSON.SET doc:__rand_int__ '\$' DOC\` then"
    echo "  \`JSON.GET doc:__rand_int__\`; DOC is this $doc_len-byte document:"
    echo "  \`$doc\`."
    echo "  **Debian's redis-server has no RedisJSON module**, so the Redis column is plain"
    echo "  \`SET doc:__rand_int__ DOC\` and \`GET doc:__rand_int__\` of the same text: Redis stores and"
    echo "  returns the bytes, burrowd parses, validates and stores a binary document and writes JSON"
    echo "  back. The ratio says what a JSON document costs against an opaque string, not burrowd"
    echo "  against RedisJSON. N = $n_json_p1 (-P 1) and $n_json_p16 (-P 16, without persistence only)."
    echo "- Durability: without persistence burrowd \`--durability no\`, Redis \`--save \"\" --appendonly no\`;"
    echo "  with fsync on every write burrowd \`--durability always\` (a reply after its batch's commit"
    echo "  is on disk), Redis \`--appendonly yes --appendfsync always\` (an fsync of the AOF per event"
    echo "  loop turn, before the replies of that turn)."
    echo "- Fan-out (\`bench/fanout.c\`): N subscriber connections (from 127.0.0.2, ..., 5,000 per source"
    echo "  address) SUBSCRIBE to one channel; one publisher pipelines M PUBLISH commands of 32-byte"
    echo "  messages as fast as the socket takes them; deliveries/s = M × N / the time from the first"
    echo "  write to the last subscriber's last byte. Every subscriber's stream is checked byte for byte"
    echo "  (order, no loss, no duplicates). One client thread with epoll; its CPU share is below."
    echo "  M = 10^7 / N, so each run is 10^7 deliveries. A server that writes each message to each"
    echo "  subscriber with its own send() also makes the client do one recv() per message, so the"
    echo "  client's CPU share is part of what such a server costs."
    echo "- Idle connections (\`bench/idle.c\`): a new server, then N connections (from 127.0.0.2, ...)"
    echo "  that each sent one PING and read +PONG; server memory = (VmRSS after $settle s idle - VmRSS"
    echo "  before) / N. Kernel socket buffers are not in the RSS of either server. This machine lets a"
    echo "  process hold 20,000 open files, so 19,000 is the most measured here."
    echo
    echo "| Workload | Unit | burrowd | Redis | burrowd / Redis | Budget (DESIGN.md) | Runs |"
    echo "|---|---|---:|---:|---:|---|---|"
    row kv set_p1 "SET, 50 clients, no persistence" "requests/s" ge1
    row kv get_p1 "GET, 50 clients, no persistence" "requests/s" ge1
    row kv set_p16 "SET, 50 clients, -P 16, no persistence" "requests/s" ge1
    row kv get_p16 "GET, 50 clients, -P 16, no persistence" "requests/s" ge1
    row kv jset_p1 "JSON.SET ($doc_len B) vs Redis SET of the text, no persistence" "requests/s" none
    row kv jget_p1 "JSON.GET vs Redis GET of the text, no persistence" "requests/s" none
    row kv jset_p16 "JSON.SET vs Redis SET of the text, -P 16, no persistence" "requests/s" none
    row kv jget_p16 "JSON.GET vs Redis GET of the text, -P 16, no persistence" "requests/s" none
    row durable set_p1 "SET, 50 clients, fsync on every write" "requests/s" dur
    row durable get_p1 "GET, 50 clients, fsync on every write" "requests/s" none
    row durable set_p16 "SET, 50 clients, -P 16, fsync on every write" "requests/s" dur
    row durable get_p16 "GET, 50 clients, -P 16, fsync on every write" "requests/s" none
    row durable jset_p1 "JSON.SET vs Redis SET of the text, fsync on every write" "requests/s" none
    row durable jget_p1 "JSON.GET vs Redis GET of the text, fsync on every write" "requests/s" none
    for s in $fan_sizes; do
        row fanout "fan_$s" "Pub/sub fan-out, $(fmt "$s") subscribers" "deliveries/s" ge2
    done
    for s in $idle_sizes; do
        row idle "idle_$s" "Idle connections, $(fmt "$s"), after $settle s idle" "bytes each" le1k
        row idle "idlenow_$s" "Idle connections, $(fmt "$s"), at once" "bytes each" none
    done
    echo
    echo "Lower is better for bytes each; higher for the rates."
    for p in kv durable fanout idle; do
        [ -s "$work/info.$p" ] || continue
        echo
        case $p in
            kv) echo "Without persistence (SET, GET, JSON):" ;;
            durable) echo "With fsync on every write:" ;;
            fanout) echo "Fan-out:" ;;
            idle) echo "Idle connections (per run: VmRSS before; all open; after ${settle} s idle; ${settle} s after closing them):" ;;
        esac
        echo
        cat "$work/info.$p"
    done
} >"$work/section.md"

put_section "$out" "Server" "$work/section.md"
echo "server.sh: wrote the Server section of $out" >&2
