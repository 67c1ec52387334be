#!/usr/bin/env bash
# bench/run.sh - the tempo benchmark: builds Release, starts a private
# RabbitMQ node, the fake upstream, the gateway and N weather-service
# workers on 127.0.0.1, drives them with wrk, and prints a table of
# requests/s, p50, p99, errors, peak RSS and CPU per daemon for each
# scenario.  docs/PERFORMANCE.md explains the scenarios and the results.
#
#   bench/run.sh                      every scenario (3-6 minutes)
#   BENCH_SCENARIOS="hot ceiling" bench/run.sh
#
# Scenarios (in this order; BENCH_SCENARIOS picks a subset):
#   ceiling      bench/echo_client + echo_server: the broker's RPC round
#                trips per second with 64 calls in flight, no HTTP, no JSON
#   http         GET /healthz: the gateway's HTTP layer alone (no AMQP)
#   hot          one city, cache warm, wrk -t2 -c64, 1 worker
#   hot-ratelimit  as hot with the gateway's rate limit on
#                (RATE_LIMIT_RPS=1000000: every request takes a token from
#                its client's bucket, none is refused): the check's cost
#   ratelimited  as hot with RATE_LIMIT_RPS=BENCH_RATE_LIMIT_RPS (500)
#                for the one client address wrk has: most requests get 429
#                at the gateway; reports the 429s/s and the 200s/s
#   hot-spotify  as hot with Spotify (fake) for the music: the genre's
#                track pool is warm, so no Spotify call per request;
#                target >= 0.90 of hot's req/s in the same run and
#                < 0.01 Spotify calls per request
#   upstream     fake latency 100 ms, cache off, a new city per request,
#                1 worker x WORKER_CONCURRENCY=64, wrk -c128
#   upstream-spotify  as upstream with Spotify for the music (pools warmed
#                by the warm-up run): still one upstream call per request
#   scale        as upstream with WORKER_CONCURRENCY=16 and 1, 2, 4 workers
#   connections  5,000 keep-alive connections: 4,000 idle-ish (/healthz
#                every 5 s) + 1,000 always waiting on a /weather call
#   overload     3x overload (issue 12, defect 5): 1 worker x
#                WORKER_CONCURRENCY=2, fake latency 1 s, cache off,
#                RPC_TIMEOUT_MS=5000, an open-loop client sending 6
#                requests/s (new city each) for 20 s; counts 200s, 504s,
#                upstream requests, and the calls the worker finished for
#                requests the gateway had already answered with a 504
#
# Settings (environment):
#   BENCH_DURATION=10      seconds of each measured wrk/echo run
#   BENCH_WARMUP=2         seconds of unmeasured load before each run
#   BENCH_PROVIDER=owm     owm: 1 upstream call per uncached request
#                          open-meteo: 2 (geocoding + forecast)
#   BENCH_LATENCY_MS=100   fake upstream latency for upstream/scale
#   BENCH_CONN_TOTAL=5000  BENCH_CONN_BUSY=1000   connections scenario
#   BENCH_CONN_LATENCY_MS=200  BENCH_CONN_WORKERS=2  BENCH_CONN_CONCURRENCY=64
#   BENCH_HOT_CONCURRENCY=16   WORKER_CONCURRENCY of the hot worker
#   BENCH_HOT_CONNS=64     wrk connections of hot and http
#   BENCH_RATE_LIMIT_RPS=500   the ratelimited scenario's RATE_LIMIT_RPS
#   BENCH_OVERLOAD_RATE=6  BENCH_OVERLOAD_SECONDS=20   overload's client
#   BENCH_OVERLOAD_LATENCY_MS=1000  BENCH_OVERLOAD_CONCURRENCY=2
#   BENCH_OVERLOAD_TIMEOUT_MS=5000  the gateway's RPC_TIMEOUT_MS there
#   BENCH_BUILD_DIR=bench/build   build tree and run logs (BUILD/runs/<time>)
#   BENCH_MAX_SECONDS=600  the whole run is stopped after this long
#   BENCH_REV=<git rev>    benchmark that commit (git archive) instead of
#                          the working tree
#   BENCH_SRC=<dir>        benchmark that source tree (e.g. a patched copy)
#   BENCH_BIN_DIR=<dir>    run the gateway and worker binaries of that
#                          build tree (DIR/gateway/gateway and
#                          DIR/weather-service/weather-service, e.g. an
#                          older commit built elsewhere); the fake
#                          upstream and bench tools still come from here
#   BENCH_QUIET_PCT=30 BENCH_QUIET_WAIT=30   before each scenario, wait up
#                          to QUIET_WAIT s for other load < QUIET_PCT % of
#                          a core (the machine may be shared)
#   BENCH_NICE=-10         run everything at this nice level (as root), so
#                          that other jobs on a shared machine disturb the
#                          numbers less; 0 leaves the priority alone
#
# Needs root on Debian 12 only to install missing packages.  Everything it
# starts is stopped by its trap (and each daemon and wrk also runs under
# timeout(1), so nothing outlives BENCH_MAX_SECONDS even if the script is
# killed with SIGKILL).  Traffic goes to 127.0.0.1 only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SCENARIOS=${BENCH_SCENARIOS:-"ceiling http hot hot-ratelimit ratelimited hot-spotify upstream upstream-spotify scale connections overload"}
PROVIDER=${BENCH_PROVIDER:-owm}
LATENCY_MS=${BENCH_LATENCY_MS:-100}
CONN_TOTAL=${BENCH_CONN_TOTAL:-5000}
CONN_BUSY=${BENCH_CONN_BUSY:-1000}
CONN_LATENCY_MS=${BENCH_CONN_LATENCY_MS:-200}
CONN_WORKERS=${BENCH_CONN_WORKERS:-2}
CONN_CONCURRENCY=${BENCH_CONN_CONCURRENCY:-64}
# Below HTTP_HEADER_TIMEOUT_MS (5000): wrk waits this long before a
# connection's first request too, and a connection that sends nothing for
# 5 s after connecting is cut by the header deadline (the slowloris rule).
CONN_IDLE_DELAY_MS=${BENCH_CONN_IDLE_DELAY_MS:-4000}
RATE_LIMIT_RPS_BENCH=${BENCH_RATE_LIMIT_RPS:-500}
HOT_CONCURRENCY=${BENCH_HOT_CONCURRENCY:-16}
HOT_CONNS=${BENCH_HOT_CONNS:-64}
OVERLOAD_RATE=${BENCH_OVERLOAD_RATE:-6}
OVERLOAD_SECONDS=${BENCH_OVERLOAD_SECONDS:-20}
OVERLOAD_LATENCY_MS=${BENCH_OVERLOAD_LATENCY_MS:-1000}
OVERLOAD_CONCURRENCY=${BENCH_OVERLOAD_CONCURRENCY:-2}
OVERLOAD_TIMEOUT_MS=${BENCH_OVERLOAD_TIMEOUT_MS:-5000}
BIN_DIR=${BENCH_BIN_DIR:-}
BUILD=${BENCH_BUILD_DIR:-$HERE/build}
MAX_SECONDS=${BENCH_MAX_SECONDS:-600}
REV=${BENCH_REV:-}
SRC_OVERRIDE=${BENCH_SRC:-}
QUIET_PCT=${BENCH_QUIET_PCT:-30}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
NICE=${BENCH_NICE:--10}

case "$PROVIDER" in
owm) CALLS_PER_REQ=1 ;;
open-meteo) CALLS_PER_REQ=2 ;;
*) echo "run.sh: BENCH_PROVIDER must be owm or open-meteo" >&2; exit 2 ;;
esac
for v in DURATION WARMUP LATENCY_MS CONN_TOTAL CONN_BUSY CONN_LATENCY_MS \
         CONN_WORKERS CONN_CONCURRENCY CONN_IDLE_DELAY_MS HOT_CONCURRENCY HOT_CONNS \
         OVERLOAD_RATE OVERLOAD_SECONDS OVERLOAD_LATENCY_MS OVERLOAD_CONCURRENCY \
         OVERLOAD_TIMEOUT_MS MAX_SECONDS QUIET_PCT QUIET_WAIT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "run.sh: $v must be a number" >&2; exit 2; }
done
if [ "$OVERLOAD_RATE" -eq 0 ] || [ "$OVERLOAD_SECONDS" -eq 0 ]; then
    echo "run.sh: BENCH_OVERLOAD_RATE and BENCH_OVERLOAD_SECONDS must be > 0" >&2; exit 2
fi
[ "$CONN_BUSY" -lt "$CONN_TOTAL" ] ||
    { echo "run.sh: BENCH_CONN_BUSY must be < BENCH_CONN_TOTAL" >&2; exit 2; }

[[ $NICE =~ ^-?[0-9]+$ ]] || { echo "run.sh: BENCH_NICE must be a number" >&2; exit 2; }
T_START=$(date +%s)
log() { printf '[bench %3ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() { log "FAILED: $*"; [ -z "${RUN:-}" ] || echo "FAILED: $*" >>"$RUN/failed"; exit 1; }

# ---- dependencies ------------------------------------------------------------

PKGS=(build-essential cmake pkg-config librabbitmq-dev libmicrohttpd-dev
      libcurl4-openssl-dev libjansson-dev libcmocka-dev rabbitmq-server
      wrk curl iproute2 procps coreutils)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages (run as root to install): ${missing[*]}"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >/dev/null
    timeout 600 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Everything started from here on inherits the priority.
if [ "$NICE" != 0 ]; then
    renice -n "$NICE" -p $$ >/dev/null 2>&1 || log "note: cannot renice to $NICE (not root?)"
fi

# ---- build -------------------------------------------------------------------

mkdir -p "$BUILD"
RUN="$BUILD/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
SRC=$ROOT
TREE="$BUILD/tempo"
if [ -n "$SRC_OVERRIDE" ]; then
    SRC=$(cd "$SRC_OVERRIDE" && pwd)
    TREE="$BUILD/tempo-src-$(printf '%s' "$SRC" | md5sum | cut -c1-8)"
elif [ -n "$REV" ]; then
    # Benchmark a commit rather than the working tree (which others may be
    # editing): export it whole into BUILD/src.
    SRC="$BUILD/src"
    TREE="$BUILD/tempo-rev"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$REV" | tar -x -C "$SRC" || die "cannot export $REV"
fi
DAEMON_TARGETS=(gateway weather-service)
if [ -n "$BIN_DIR" ]; then
    BIN_DIR=$(cd "$BIN_DIR" && pwd) || die "BENCH_BIN_DIR: no such directory"
    DAEMON_TARGETS=() # given: only the fake upstream is built here
fi
log "building Release ${REV:+($REV) }into $BUILD (logs in $RUN)"
{
    cmake -S "$SRC" -B "$TREE" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_TESTING=ON -DTEMPO_INTEGRATION_TESTS=OFF &&
    cmake --build "$TREE" -j"$(nproc)" \
        --target "${DAEMON_TARGETS[@]}" fake-upstream &&
    cmake -S "$HERE" -B "$BUILD/bench" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$BUILD/bench" -j"$(nproc)"
} >"$RUN/build.log" 2>&1 || { tail -30 "$RUN/build.log" >&2; die "build failed"; }
GATEWAY="$TREE/gateway/gateway"
WORKER="$TREE/weather-service/weather-service"
if [ -n "$BIN_DIR" ]; then
    GATEWAY="$BIN_DIR/gateway/gateway"
    WORKER="$BIN_DIR/weather-service/weather-service"
    if [ ! -x "$GATEWAY" ] || [ ! -x "$WORKER" ]; then
        die "BENCH_BIN_DIR=$BIN_DIR has no gateway/gateway and weather-service/weather-service"
    fi
fi
FAKE="$TREE/tests/fakes/fake-upstream"
ECHO_SERVER="$BUILD/bench/echo_server"
ECHO_CLIENT="$BUILD/bench/echo_client"
WRK_LUA="$HERE/wrk.lua"

# ---- process management ------------------------------------------------------

# Every background process is started as "timeout LIFE cmd": the timeout
# pid goes into BG (stopped by the trap), the command's own pid (for
# /proc sampling and SIGTERM) is returned in STARTED_PID.
BG=()
WATCHDOG=
BROKER_DIR="$RUN/broker"
BROKER_UP=0
NCPU=$(nproc)
HZ=$(getconf CLK_TCK)

life_left() {
    local left=$((MAX_SECONDS - ($(date +%s) - T_START)))
    [ "$left" -gt 5 ] || left=5
    echo "$left"
}

alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st:0:1}" != Z ]
}

# start_bg NAME cmd...: output to $RUN/NAME.log
start_bg() {
    local name=$1 tpid child i life
    shift
    life=$(life_left) # not inside the & below: its subshell would be found
    timeout -k 5 "$life" "$@" >"$RUN/$name.log" 2>&1 &
    tpid=$!
    BG+=("$tpid")
    child=
    for i in $(seq 100); do
        child=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
        child=${child%% *}
        [ -n "$child" ] && break
        alive "$tpid" || break
        sleep 0.02
    done
    [ -n "$child" ] || { tail -5 "$RUN/$name.log" >&2; die "$name did not start"; }
    STARTED_PID=$child
}

# stop_pid PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 150); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid ignored SIGTERM for 15 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

reap() {
    local p
    for p in "${BG[@]}"; do
        alive "$p" || wait "$p" 2>/dev/null || true
    done
}

cleanup() {
    local p
    set +e
    trap - EXIT INT TERM
    if [ -n "$WATCHDOG" ]; then kill "$WATCHDOG" 2>/dev/null; fi
    for p in "${BG[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 100); do
        local any=0
        for p in "${BG[@]}"; do alive "$p" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    for p in "${BG[@]}"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    reap
    if [ "$BROKER_UP" = 1 ]; then
        timeout 60 "$ROOT/scripts/broker.sh" stop "$BROKER_DIR" >/dev/null 2>&1
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'if [ -e "$RUN/timed-out" ]; then log "FAILED: time limit BENCH_MAX_SECONDS=$MAX_SECONDS reached"; else log "terminated"; fi; exit 143' TERM

# The whole run is bounded: after MAX_SECONDS the script gets SIGTERM.
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$MAX_SECONDS" &
    sp=$!
    if wait "$sp"; then
        : >"$RUN/timed-out"
        kill -TERM $$ 2>/dev/null
    fi
) &
WATCHDOG=$!

pick_port() {
    local p
    for _ in $(seq 200); do
        # Below the kernel's ephemeral range (32768+), so no client socket
        # (wrk's, the daemons') can be holding it.
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port"
}

# ---- measurement helpers -----------------------------------------------------

cpu_ticks() { # utime + stime of a process (all its threads)
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo $((${12} + ${13}))
}

# machine_ticks: "busy irq" for all CPUs together: busy is everything but
# idle and iowait; irq is hard + soft interrupt time (on loopback, most of
# TCP's receive path runs there).
machine_ticks() {
    local _cpu u n s i w irq sirq st rest
    read -r _cpu u n s i w irq sirq st rest </proc/stat
    echo "$((u + n + s + irq + sirq + st)) $((irq + sirq))"
}

# wait_quiet: the machine is shared; wait (at most QUIET_WAIT s) until the
# load that is not ours drops below QUIET_PCT % of one core for a second.
wait_quiet() {
    local t0 a b i busy
    t0=$(date +%s)
    while :; do
        read -r a _ < <(machine_ticks)
        sleep 1
        read -r b _ < <(machine_ticks)
        busy=$(((b - a) * 100 / HZ))
        [ "$busy" -lt "$QUIET_PCT" ] && break
        if [ $(($(date +%s) - t0)) -ge "$QUIET_WAIT" ]; then
            log "warning: the machine is busy with other work (${busy}% of a core); measuring anyway"
            break
        fi
        [ $(($(date +%s) - t0)) -gt 1 ] || log "waiting for other load (${busy}% of a core) to drop below ${QUIET_PCT}%"
    done
}

hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# pct TICKS SECONDS_X1000: CPU time as % of one core over the run
pct() { awk -v t="$1" -v ms="$2" -v hz="$HZ" 'BEGIN { if (ms <= 0) print "-"; else printf "%.0f", t / hz / (ms / 1000) * 100 }'; }

# child_cpu FILE: user + sys seconds of the children, from bash's "times".
child_cpu() {
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

kv() { # kv KEY LINE: value of KEY=... in a "WRK ..." / "ECHO ..." line
    tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k {print $2; exit}'
}

broker_ctl() { timeout 60 "$ROOT/scripts/broker.sh" ctl "$BROKER_DIR" "$@"; }

# snapshot ARRAYNAME: CPU ticks of every role in ROLE_PIDS (summed over
# its pids), the machine's busy and irq ticks, and the time in ms.
declare -A SNAP0 SNAP1
declare -A ROLE_PIDS # role -> space-separated pids
# shellcheck disable=SC2034 # snap is a nameref to SNAP0 or SNAP1
snapshot() {
    local -n snap=$1
    local role pid sum
    snap=()
    for role in "${!ROLE_PIDS[@]}"; do
        sum=0
        for pid in ${ROLE_PIDS[$role]}; do
            sum=$((sum + $(cpu_ticks "$pid")))
        done
        snap["$role"]=$sum
    done
    read -r "snap[machine]" "snap[irq]" < <(machine_ticks)
    snap["t_ms"]=$(date +%s%3N)
}

# ---- the stack ---------------------------------------------------------------

GW_PID=
GW_PORT=
WORKER_PIDS=()
FAKE_PID=
FAKE_PORT=
BROKER_PID=

start_broker() {
    log "starting a private RabbitMQ node"
    BROKER_UP=1
    timeout 120 "$ROOT/scripts/broker.sh" start "$BROKER_DIR" >"$RUN/broker-start.log" 2>&1 ||
        { cat "$RUN/broker-start.log" >&2; die "broker did not start"; }
    # shellcheck disable=SC1091
    BROKER_URL=$(. "$BROKER_DIR/env" && echo "$BROKER_URL")
    BROKER_PID=$(cat "$BROKER_DIR/rabbitmq.pid" 2>/dev/null || true)
    alive "${BROKER_PID:-0}" || die "cannot find the broker's pid"
}

start_fake() {
    local i
    start_bg fake "$FAKE" --port 0
    FAKE_PID=$STARTED_PID
    for i in $(seq 100); do
        FAKE_PORT=$(awk '/^READY/ {print $2}' "$RUN/fake.log")
        [ -n "$FAKE_PORT" ] && break
        sleep 0.05
    done
    [ -n "$FAKE_PORT" ] || die "fake-upstream did not print READY"
}

fake_ctl() { # fake_ctl METHOD PATH
    curl -sf -m 5 -X "$1" "http://127.0.0.1:$FAKE_PORT$2" || die "fake-upstream control $2"
}

fake_set_latency() {
    fake_ctl POST /_fake/reset >/dev/null
    fake_ctl POST "/_fake/latency?ms=$1" >/dev/null
}

fake_total() { fake_ctl GET /_fake/requests | sed -n 's/.*"total":\([0-9]*\).*/\1/p'; }

# fake_count LABEL: requests the fake saw on one path label (the first
# match is in "paths"; "last" and "times" come after it).
fake_count() {
    { fake_ctl GET /_fake/requests | grep -o "\"$1\":[0-9]*" || echo :0; } |
        head -1 | cut -d: -f2
}

# Music provider of the next start_stack: catalog, or spotify (the fake).
STACK_MUSIC=catalog
STACK_RATE_LIMIT=0 # the gateway's RATE_LIMIT_RPS (0: off)
# The gateway's RPC_TIMEOUT_MS and both daemons' LOG_LEVEL in start_stack.
STACK_RPC_TIMEOUT_MS=60000
STACK_LOG_LEVEL=warn

service_consumers() {
    broker_ctl list_queues name consumers 2>/dev/null |
        awk '$1 == "rpc-weather_service" {print $2; found=1} END {if (!found) print 0}'
}

# start_stack NAME WORKERS CONCURRENCY CACHE_TTL_S
start_stack() {
    local name=$1 n=$2 conc=$3 ttl=$4 i c
    # Calls left over from the previous scenario must not be served now.
    broker_ctl purge_queue rpc-weather_service >/dev/null 2>&1 || true

    for _ in 1 2 3; do # another process may take the port first
        GW_PORT=$(pick_port)
        [ -n "$GW_PORT" ] || die "no free port"
        # Every wrk connection comes from 127.0.0.1: no per-address limits.
        start_bg "$name-gateway" env -i PATH="$PATH" HOME="$HOME" \
            AMQP_URL="$BROKER_URL" GATEWAY_ADDR=127.0.0.1 GATEWAY_PORT="$GW_PORT" \
            RPC_TIMEOUT_MS="$STACK_RPC_TIMEOUT_MS" HTTP_MAX_CONNECTIONS=20000 \
            HTTP_IDLE_TIMEOUT_S=120 HTTP_MAX_PER_IP=0 RATE_LIMIT_RPS="$STACK_RATE_LIMIT" \
            DRAIN_TIMEOUT_MS=2000 LOG_LEVEL="$STACK_LOG_LEVEL" "$GATEWAY"
        GW_PID=$STARTED_PID
        for i in $(seq 50); do
            curl -sf -m 1 -o /dev/null "http://127.0.0.1:$GW_PORT/healthz" && break 2
            alive "$GW_PID" || break
            sleep 0.1
        done
        alive "$GW_PID" || { log "gateway did not start on port $GW_PORT: $(tail -1 "$RUN/$name-gateway.log")"; continue; }
        die "$name: gateway does not answer /healthz"
    done
    alive "$GW_PID" || die "$name: gateway did not start"

    local prov=(OPENWEATHER_API_KEY=test-key OPENWEATHER_URL="http://127.0.0.1:$FAKE_PORT")
    if [ "$PROVIDER" = open-meteo ]; then
        prov=(WEATHER_PROVIDER=open-meteo
              OPEN_METEO_URL="http://127.0.0.1:$FAKE_PORT"
              OPEN_METEO_GEOCODING_URL="http://127.0.0.1:$FAKE_PORT")
    fi
    local music=(MUSIC_PROVIDER=catalog)
    if [ "$STACK_MUSIC" = spotify ]; then
        music=(MUSIC_PROVIDER=spotify SPOTIFY_CLIENT_ID=test-id
               SPOTIFY_CLIENT_SECRET=test-secret
               SPOTIFY_API_URL="http://127.0.0.1:$FAKE_PORT"
               SPOTIFY_ACCOUNTS_URL="http://127.0.0.1:$FAKE_PORT")
    fi
    WORKER_PIDS=()
    for i in $(seq "$n"); do
        start_bg "$name-worker$i" env -i PATH="$PATH" HOME="$HOME" \
            AMQP_URL="$BROKER_URL" WORKER_CONCURRENCY="$conc" \
            WEATHER_CACHE_TTL_S="$ttl" UPSTREAM_TIMEOUT_MS=20000 \
            DRAIN_TIMEOUT_MS=1000 LOG_LEVEL="$STACK_LOG_LEVEL" \
            "${prov[@]}" "${music[@]}" "$WORKER"
        WORKER_PIDS+=("$STARTED_PID")
    done
    for i in $(seq 100); do
        curl -sf -m 1 -o /dev/null "http://127.0.0.1:$GW_PORT/readyz" && break
        alive "$GW_PID" || { tail -5 "$RUN/$name-gateway.log" >&2; die "gateway exited"; }
        sleep 0.1
    done
    for i in $(seq 30); do
        c=$(service_consumers)
        [ "$c" = "$n" ] && break
        sleep 0.5
    done
    [ "$c" = "$n" ] || die "$name: $c of $n workers consume the queue"
    # One real call end to end (also warms the cache for "hot").
    for i in $(seq 50); do
        c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$GW_PORT/weather?city=London" || true)
        [ "$c" = 200 ] && break
        sleep 0.1
    done
    [ "$c" = 200 ] || die "$name: GET /weather?city=London answers $c, not 200"
    ROLE_PIDS=([gateway]="$GW_PID" [workers]="${WORKER_PIDS[*]}"
               [broker]="$BROKER_PID" [fake]="$FAKE_PID")
}

stop_stack() {
    local p
    for p in "${WORKER_PIDS[@]}" "$GW_PID"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${WORKER_PIDS[@]}" "$GW_PID"; do stop_pid "$p"; done
    reap
    WORKER_PIDS=()
    GW_PID=
}

# wait_drained: until the gateway has no RPC in flight (at most 60 s).
wait_drained() {
    local i n
    for i in $(seq 600); do
        n=$(curl -s -m 2 "http://127.0.0.1:$GW_PORT/metrics" 2>/dev/null |
            awk '/^tempo_rpc_inflight / {printf "%d", $2}')
        [ "${n:-0}" = 0 ] && return 0
        sleep 0.1
    done
    log "warning: $n RPCs still in flight after 60 s"
}

# Samples, once a second while $1 is alive, the gateway's established
# connections and RPCs in flight; prints "max_conns max_inflight".
sample_gateway() {
    local wpid=$1 out=$2 conns infl mc=0 mi=0
    while alive "$wpid"; do
        conns=$(ss -Htn state established "( sport = :$GW_PORT )" 2>/dev/null | wc -l)
        infl=$(curl -s -m 2 "http://127.0.0.1:$GW_PORT/metrics" 2>/dev/null |
               awk '/^tempo_rpc_inflight / {printf "%d", $2}')
        if [ "${conns:-0}" -gt "$mc" ]; then mc=$conns; fi
        if [[ ${infl:-x} =~ ^[0-9]+$ ]] && [ "$infl" -gt "$mi" ]; then mi=$infl; fi
        echo "$mc $mi" >"$out"
        sleep 1
    done
}

# run_wrk NAME CONNS THREADS SECONDS [VAR=VALUE...]: runs wrk (wrk.lua) in
# the background; sets WRK_TPID (timeout's pid).  Output in $RUN/NAME.wrk,
# wrk's own CPU time (user+sys seconds) in $RUN/NAME.wrkcpu.
run_wrk() {
    local name=$1 conns=$2 threads=$3 secs=$4
    shift 4
    (
        # shellcheck disable=SC2163 # exports each NAME=VALUE argument
        if [ $# -gt 0 ]; then export "$@"; fi
        timeout -k 5 $((secs + 90)) wrk -t"$threads" -c"$conns" -d"${secs}s" \
            --timeout 60s -s "$WRK_LUA" "http://127.0.0.1:$GW_PORT/" \
            >"$RUN/$name.wrk" 2>&1 &
        w=$!
        trap 'kill -TERM "$w" 2>/dev/null' TERM
        rc=0
        wait $w || rc=$?
        times >"$RUN/$name.times"   # not in a pipe: its children are ours
        child_cpu "$RUN/$name.times" >"$RUN/$name.wrkcpu"
        exit $rc
    ) &
    WRK_TPID=$!
    BG+=("$WRK_TPID")
}

wait_wrk() {
    local rc=0
    wait "$1" || rc=$?
    [ $rc = 0 ] || log "wrk exited with status $rc (see $RUN/$2.wrk)"
}

# ---- results -----------------------------------------------------------------

RESULTS="$RUN/results.tsv"
printf 'scenario\trps\tp50_ms\tp99_ms\tnon2xx\tsockerr\tvs\tratio\ttarget\tgw_rss\tgw_cpu\twk_rss\twk_cpu\tbroker_cpu\tfake_cpu\tload_cpu\tirq_cpu\tother_cpu\tus_per_req\tnotes\n' >"$RESULTS"
declare -A RPS

# record NAME WRKLINE VS RATIO TARGET LOADCPU NOTES (uses SNAP0/SNAP1, ROLE_PIDS)
record() {
    local name=$1 line=$2 vs=$3 ratio=$4 target=$5 load=$6 notes=$7
    local ms=$((SNAP1["t_ms"] - SNAP0["t_ms"])) role ours=0 gw_rss=- wk_rss=0 p
    local -A cpu
    for role in gateway workers broker fake; do
        if [ -n "${SNAP1[$role]:-}" ]; then
            cpu[$role]=$(pct $((SNAP1[$role] - SNAP0[$role])) "$ms")
            ours=$((ours + SNAP1[$role] - SNAP0[$role]))
        else
            cpu[$role]=-
        fi
    done
    local machine irq other
    machine=$((SNAP1[machine] - SNAP0[machine]))
    irq=$((SNAP1[irq] - SNAP0[irq]))
    # Interrupt time is not subtracted: with tick accounting (no
    # CONFIG_IRQ_TIME_ACCOUNTING) the kernel also charges it to the process
    # it interrupted, so it is already inside the per-process numbers.
    other=$(awk -v m="$machine" -v o="$ours" -v l="$load" -v ms="$ms" -v hz="$HZ" \
        'BEGIN { v = ((m - o) / hz - l) / (ms / 1000) * 100; if (v < 0) v = 0; printf "%.0f", v }')
    irq=$(pct "$irq" "$ms")
    load=$(awk -v l="$load" -v ms="$ms" 'BEGIN { printf "%.0f", l / (ms / 1000) * 100 }')
    if [ -n "$GW_PID" ]; then gw_rss=$(mib "$(hwm_kib "$GW_PID")"); fi
    for p in "${WORKER_PIDS[@]}"; do
        local h
        h=$(hwm_kib "$p")
        if [ "$h" -gt "$wk_rss" ]; then wk_rss=$h; fi
    done
    if [ "${#WORKER_PIDS[@]}" -gt 0 ]; then wk_rss=$(mib "$wk_rss"); else wk_rss=-; fi
    local rps p50 p99 non2xx sockerr per
    rps=$(kv rps "$line")
    # CPU microseconds per request: steadier than req/s on a shared machine.
    per=$(awk -v r="$rps" -v g="${cpu[gateway]}" -v w="${cpu[workers]}" -v b="${cpu[broker]}" '
        function us(p) { return (p == "-" || r <= 0) ? "-" : sprintf("%.0f", p * 10000 / r) }
        BEGIN { printf "%s/%s/%s", us(g), us(w), us(b) }')
    RPS[$name]=$rps
    p50=$(awk -v u="$(kv p50_us "$line")" 'BEGIN { printf "%.2f", u / 1000 }')
    p99=$(awk -v u="$(kv p99_us "$line")" 'BEGIN { printf "%.2f", u / 1000 }')
    non2xx=$(kv status "$line")
    sockerr=$(( $(kv connect "$line") + $(kv read "$line") + $(kv write "$line") + $(kv timeout "$line") ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$name" "$rps" "$p50" "$p99" "$non2xx" "$sockerr" "$vs" "$ratio" "$target" \
        "$gw_rss" "${cpu[gateway]}" "$wk_rss" "${cpu[workers]}" "${cpu[broker]}" \
        "${cpu[fake]}" "$load" "$irq" "$other" "$per" "$notes" >>"$RESULTS"
    log "$name: $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $non2xx, socket errors $sockerr"
}

wrk_line() { grep '^WRK ' "$RUN/$1.wrk" | tail -1 || true; }

ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- scenarios ---------------------------------------------------------------

CEILING=

scenario_ceiling() {
    log "ceiling: echo_client (64 in flight) <-> broker <-> echo_server"
    start_bg echo-server "$ECHO_SERVER" --url "$BROKER_URL" --prefetch 64 \
        --reply-bytes 800 --seconds "$(life_left)"
    local spid=$STARTED_PID i
    for i in $(seq 100); do
        grep -q READY "$RUN/echo-server.log" && break
        sleep 0.05
    done
    ROLE_PIDS=([broker]="$BROKER_PID" [workers]="$spid")
    local cpuf="$RUN/ceiling.clientcpu"
    (
        timeout -k 5 $((DURATION + WARMUP + 60)) "$ECHO_CLIENT" --url "$BROKER_URL" \
            --inflight 64 --seconds "$DURATION" --warmup "$WARMUP" >"$RUN/ceiling.echo" 2>&1 &
        w=$!
        trap 'kill -TERM "$w" 2>/dev/null' TERM
        wait $w || exit $?
        times >"$cpuf.times"   # not in a pipe: its children are ours
        child_cpu "$cpuf.times" >"$cpuf"
    ) &
    local cpid=$!
    BG+=("$cpid")
    sleep "$WARMUP"
    snapshot SNAP0
    wait "$cpid" || die "echo_client failed: $(cat "$RUN/ceiling.echo")"
    snapshot SNAP1
    local line
    line=$(grep '^ECHO ' "$RUN/ceiling.echo" | tail -1)
    [ -n "$line" ] || die "echo_client printed no result"
    CEILING=$(kv rate "$line")
    # Present it like a wrk line (the client's CPU is the "load" column).
    local wl
    wl="WRK rps=$CEILING p50_us=$(kv p50_us "$line") p99_us=$(kv p99_us "$line") status=$(kv errors "$line") connect=0 read=0 write=0 timeout=0"
    WORKER_PIDS=("$spid")
    GW_PID=
    ROLE_PIDS[workers]=$spid
    # The client ran WARMUP + DURATION seconds; count the measured part.
    local ccpu
    ccpu=$(awk -v c="$(cat "$cpuf" 2>/dev/null || echo 0)" -v d="$DURATION" -v w="$WARMUP" \
        'BEGIN { printf "%.2f", c * d / (d + w) }')
    record ceiling "$wl" - - - "$ccpu" "calls/s; echo_server in the workers columns"
    stop_pid "$spid"
    WORKER_PIDS=()
    reap
}

# measure NAME CONNS THREADS [VAR=VALUE...]: warm-up run, then the measured
# run between two CPU snapshots; leaves the WRK line in LINE.
measure() {
    local name=$1 conns=$2 threads=$3
    shift 3
    if [ "$WARMUP" -gt 0 ]; then
        run_wrk "$name-warmup" "$conns" "$threads" "$WARMUP" "$@"
        wait_wrk "$WRK_TPID" "$name-warmup"
        # Calls the warm-up left queued must not eat into the measured run.
        wait_drained
    fi
    if [ -n "$MEASURE_HOOK" ]; then $MEASURE_HOOK; fi
    snapshot SNAP0
    run_wrk "$name" "$conns" "$threads" "$DURATION" "$@"
    sample_gateway "$WRK_TPID" "$RUN/$name.samples" &
    local sp=$!
    wait_wrk "$WRK_TPID" "$name"
    snapshot SNAP1
    wait "$sp" 2>/dev/null || true
    LINE=$(wrk_line "$name")
    [ -n "$LINE" ] || die "$name: wrk printed no result (see $RUN/$name.wrk)"
    LOAD_CPU=$(cat "$RUN/$name.wrkcpu" 2>/dev/null || echo 0)
}
MEASURE_HOOK=

scenario_http() {
    log "http: GET /healthz, wrk -t2 -c$HOT_CONNS (gateway HTTP layer only)"
    start_stack http 1 "$HOT_CONCURRENCY" 600
    measure http "$HOT_CONNS" 2 BENCH_PATH=/healthz
    record http "$LINE" - - - "$LOAD_CPU" "no AMQP: the HTTP layer's own ceiling"
    stop_stack
}

scenario_hot() {
    log "hot: GET /weather?city=London, cache warm, wrk -t2 -c$HOT_CONNS, 1 worker"
    start_stack hot 1 "$HOT_CONCURRENCY" 600
    measure hot "$HOT_CONNS" 2 BENCH_CITY=London
    local ratio target=">=0.50 & p99<10ms" ok=no p99
    ratio=$(ratio_of "$(kv rps "$LINE")" "${CEILING:-0}")
    p99=$(kv p99_us "$LINE")
    if awk -v r="$ratio" -v p="$p99" 'BEGIN { exit !(r >= 0.5 && p < 10000) }'; then ok=yes; fi
    [ -n "$CEILING" ] || ok="? (run the ceiling scenario too)"
    record hot "$LINE" ceiling "$ratio" "$target: $ok" "$LOAD_CPU" "WORKER_CONCURRENCY=$HOT_CONCURRENCY, $HOT_CONNS connections"
    stop_stack
}

scenario_hot_ratelimit() {
    log "hot-ratelimit: as hot, RATE_LIMIT_RPS=1000000 (every request checked, none refused)"
    STACK_RATE_LIMIT=1000000
    start_stack hot-ratelimit 1 "$HOT_CONCURRENCY" 600
    STACK_RATE_LIMIT=0
    measure hot-ratelimit "$HOT_CONNS" 2 BENCH_CITY=London
    local ratio
    ratio=$(ratio_of "$(kv rps "$LINE")" "${RPS[hot]:-0}")
    record hot-ratelimit "$LINE" hot "$ratio" "-" "$LOAD_CPU" \
        "RATE_LIMIT_RPS=1000000: the bucket check on every request, 0 refused"
    stop_stack
}

scenario_ratelimited() {
    log "ratelimited: as hot, RATE_LIMIT_RPS=$RATE_LIMIT_RPS_BENCH for wrk's one address"
    STACK_RATE_LIMIT=$RATE_LIMIT_RPS_BENCH
    start_stack ratelimited 1 "$HOT_CONCURRENCY" 600
    STACK_RATE_LIMIT=0
    measure ratelimited "$HOT_CONNS" 2 BENCH_CITY=London
    local rps bad ok200
    rps=$(kv rps "$LINE")
    bad=$(kv status "$LINE")
    ok200=$(awk -v r="$(kv requests "$LINE")" -v b="$bad" -v d="$(kv duration_us "$LINE")" \
        'BEGIN { if (d > 0) printf "%.1f", (r - b) / (d / 1e6); else print "-" }')
    record ratelimited "$LINE" - - - "$LOAD_CPU" \
        "RATE_LIMIT_RPS=$RATE_LIMIT_RPS_BENCH: $ok200 x 200/s, the rest 429 at the gateway"
    stop_stack
}

reset_fake_counts() { fake_set_latency "$CUR_LATENCY"; }

# Spotify searches per request of the measured run (after MEASURE_HOOK
# reset the fake's counters).
spotify_per_request() {
    awk -v a="$(fake_count '/v1/search(spotify)')" -v b="$(kv requests "$LINE")" \
        'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'
}

scenario_hot_spotify() {
    log "hot-spotify: as hot, music from Spotify (fake, pool warm), 1 worker"
    STACK_MUSIC=spotify
    start_stack hot-spotify 1 "$HOT_CONCURRENCY" 600
    STACK_MUSIC=catalog
    CUR_LATENCY=0
    MEASURE_HOOK=reset_fake_counts
    measure hot-spotify "$HOT_CONNS" 2 BENCH_CITY=London
    MEASURE_HOOK=
    local per ratio ok=no target=">=0.90 of hot & <0.01 Spotify calls/req"
    per=$(spotify_per_request)
    ratio=$(ratio_of "$(kv rps "$LINE")" "${RPS[hot]:-0}")
    if awk -v r="$ratio" -v p="$per" 'BEGIN { exit !(r >= 0.9 && p < 0.01) }'; then ok=yes; fi
    [ -n "${RPS[hot]:-}" ] || ok="? (run the hot scenario too)"
    record hot-spotify "$LINE" hot "$ratio" "$target: $ok" "$LOAD_CPU" \
        "Spotify calls/request $per; WORKER_CONCURRENCY=$HOT_CONCURRENCY"
    stop_stack
}

# upstream_run NAME WORKERS CONCURRENCY CONNS LATENCY
upstream_run() {
    local name=$1 n=$2 conc=$3 conns=$4 lat=$5
    start_stack "$name" "$n" "$conc" 0
    CUR_LATENCY=$lat
    fake_set_latency "$lat"
    MEASURE_HOOK=reset_fake_counts
    measure "$name" "$conns" 2 BENCH_UNIQUE=1 BENCH_NONCE="$name$RANDOM"
    MEASURE_HOOK=
    local calls reqs
    calls=$(fake_total)
    reqs=$(kv requests "$LINE")
    CALLS_MEASURED=$(ratio_of "$calls" "$reqs")
    BOUND=$(awk -v c="$conc" -v n="$n" -v l="$lat" -v k="$CALLS_PER_REQ" \
        'BEGIN { printf "%.0f", c * n / (l / 1000 * k) }')
}

scenario_upstream() {
    log "upstream: latency ${LATENCY_MS} ms, cache off, unique cities, 1 worker x 64, wrk -c128"
    upstream_run upstream 1 64 128 "$LATENCY_MS"
    local ratio ok=no
    ratio=$(ratio_of "$(kv rps "$LINE")" "$BOUND")
    if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }'; then ok=yes; fi
    record upstream "$LINE" "bound $BOUND" "$ratio" ">=0.90: $ok" "$LOAD_CPU" \
        "upstream calls/request $CALLS_MEASURED"
    stop_stack
}

scenario_upstream_spotify() {
    log "upstream-spotify: as upstream, music from Spotify (fake, pools warmed by the warm-up)"
    STACK_MUSIC=spotify
    upstream_run upstream-spotify 1 64 128 "$LATENCY_MS"
    STACK_MUSIC=catalog
    local ratio ok=no per
    per=$(spotify_per_request)
    ratio=$(ratio_of "$(kv rps "$LINE")" "$BOUND")
    if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }'; then ok=yes; fi
    record upstream-spotify "$LINE" "bound $BOUND" "$ratio" ">=0.90: $ok" "$LOAD_CPU" \
        "upstream calls/request $CALLS_MEASURED, of which Spotify $per"
    stop_stack
}

scenario_scale() {
    local n ratio speed target ok
    for n in 1 2 4; do
        log "scale: latency ${LATENCY_MS} ms, $n worker(s) x 16, wrk -c128"
        upstream_run "scale-$n" "$n" 16 128 "$LATENCY_MS"
        ratio=$(ratio_of "$(kv rps "$LINE")" "$BOUND")
        speed=$(ratio_of "$(kv rps "$LINE")" "${RPS[scale-1]:-$(kv rps "$LINE")}")
        case $n in
        1) target="-"; ok="" ;;
        2) target="speedup>=1.8"; ok=no
           if awk -v s="$speed" 'BEGIN { exit !(s >= 1.8) }'; then ok=yes; fi ;;
        4) target="speedup>=3.4"; ok=no
           if awk -v s="$speed" 'BEGIN { exit !(s >= 3.4) }'; then ok=yes; fi ;;
        esac
        record "scale-$n" "$LINE" "bound $BOUND" "$ratio" "$target${ok:+: $ok}" "$LOAD_CPU" \
            "speedup vs 1 worker ${speed}x; upstream calls/request $CALLS_MEASURED"
        stop_stack
    done
}

scenario_connections() {
    local idle=$((CONN_TOTAL - CONN_BUSY)) secs=$((DURATION > 15 ? DURATION : 15))
    local lim
    lim=$(ulimit -Hn)
    if [ "$lim" = unlimited ]; then lim=1048576; fi
    ulimit -n "$lim" 2>/dev/null || true
    [ "$(ulimit -n)" -ge $((CONN_TOTAL + 1000)) ] ||
        die "connections: open-file limit $(ulimit -n) is below $((CONN_TOTAL + 1000))"
    log "connections: $CONN_TOTAL keep-alive connections ($CONN_BUSY waiting on /weather, $idle on /healthz every ${CONN_IDLE_DELAY_MS} ms) for ${secs}s"
    start_stack connections "$CONN_WORKERS" "$CONN_CONCURRENCY" 0
    fake_set_latency "$CONN_LATENCY_MS"
    snapshot SNAP0
    local d0=$DURATION
    DURATION=$secs
    run_wrk connections-idle "$idle" 2 "$secs" BENCH_PATH=/healthz BENCH_DELAY_MS="$CONN_IDLE_DELAY_MS"
    local idle_pid=$WRK_TPID
    run_wrk connections "$CONN_BUSY" 2 "$secs" BENCH_UNIQUE=1 BENCH_NONCE="conn$RANDOM"
    local busy_pid=$WRK_TPID
    sample_gateway "$busy_pid" "$RUN/connections.samples" &
    local sp=$!
    wait_wrk "$busy_pid" connections
    wait_wrk "$idle_pid" connections-idle
    snapshot SNAP1
    wait "$sp" 2>/dev/null || true
    DURATION=$d0
    local busy idle_line s mc mi load errs bound
    busy=$(wrk_line connections)
    idle_line=$(wrk_line connections-idle)
    if [ -z "$busy" ] || [ -z "$idle_line" ]; then
        die "connections: wrk printed no result"
    fi
    read -r mc mi <"$RUN/connections.samples" || { mc=0; mi=0; }
    load=$(awk -v a="$(cat "$RUN/connections.wrkcpu" 2>/dev/null || echo 0)" \
               -v b="$(cat "$RUN/connections-idle.wrkcpu" 2>/dev/null || echo 0)" 'BEGIN { print a + b }')
    errs=$(( $(kv connect "$idle_line") + $(kv read "$idle_line") + $(kv write "$idle_line") + $(kv timeout "$idle_line") + $(kv status "$idle_line") ))
    bound=$(awk -v c="$CONN_CONCURRENCY" -v n="$CONN_WORKERS" -v l="$CONN_LATENCY_MS" -v k="$CALLS_PER_REQ" \
        'BEGIN { printf "%.0f", c * n / (l / 1000 * k) }')
    local ratio gw wk ok=no
    ratio=$(ratio_of "$(kv rps "$busy")" "$bound")
    gw=$(mib "$(hwm_kib "$GW_PID")")
    wk=0
    for s in "${WORKER_PIDS[@]}"; do
        if [ "$(hwm_kib "$s")" -gt "$wk" ]; then wk=$(hwm_kib "$s"); fi
    done
    wk=$(mib "$wk")
    local busy_err
    busy_err=$(( $(kv connect "$busy") + $(kv read "$busy") + $(kv write "$busy") + $(kv timeout "$busy") + $(kv status "$busy") ))
    if awk -v e=$((errs + busy_err)) -v g="$gw" -v w="$wk" \
        'BEGIN { exit !(e == 0 && g < 64 && w < 32) }'; then ok=yes; fi
    record connections "$busy" "bound $bound" "$ratio" "0 err, RSS<64/32: $ok" "$load" \
        "max established $mc, max RPCs in flight $mi; idle conns: $(kv rps "$idle_line") req/s, errors $errs"
    stop_stack
}

# ---- overload: calls that wait past their caller's deadline ---------------

OVERLOAD_RESULTS="$RUN/overload.tsv"
printf 'scenario\tsent\tok\ts504_gw\ts504_wk\tother\tupstream\tw_result\tw_expired\tw_breaker\tw_error\tlate\tlate_result\tnever\tgw_late\tlast_ok_s\tcapacity\tload\n' >"$OVERLOAD_RESULTS"

# overload_one DIR I ID QUERY: one request; its line "i id start_us status
# seconds code" (code: the JSON error's code, - for none) in DIR/I.line.
overload_one() {
    local dir=$1 i=$2 id=$3 q=$4 start out code
    start=${EPOCHREALTIME/./}
    out=$(curl -s -o "$dir/$i.body" -m $((OVERLOAD_TIMEOUT_MS / 1000 + 20)) \
        -H "X-Request-Id: $id" -w '%{http_code} %{time_total}' \
        "http://127.0.0.1:$GW_PORT/weather?$q") || true
    code=$(grep -o '"code":"[a-z_]*"' "$dir/$i.body" 2>/dev/null | head -1 | cut -d'"' -f4 || true)
    echo "$i $id $start ${out:-000 0} ${code:--}" >"$dir/$i.line"
}

# overload_client DIR RATE SECONDS NONCE: an open-loop client.  Request i
# starts i/RATE s after the first, whatever happened to the ones before
# it (wrk is a closed loop: under overload it slows down to what the
# service can do, and the backlog never forms).  Each request asks for a
# city never asked before, with its own X-Request-Id "ov<nonce>-<i>", so
# the daemons' log lines can be matched to it.  Lines in DIR/client.txt.
overload_client() {
    local dir=$1 rate=$2 secs=$3 nonce=$4 i t0 d
    t0=${EPOCHREALTIME/./}
    for ((i = 0; i < rate * secs; i++)); do
        d=$((t0 + i * 1000000 / rate - ${EPOCHREALTIME/./}))
        if [ "$d" -gt 0 ]; then sleep "$((d / 1000000)).$(printf '%06d' $((d % 1000000)))"; fi
        overload_one "$dir" "$i" "ov$nonce-$i" "city=Ov${nonce}x$i" &
    done
    wait
    cat "$dir"/*.line >"$dir/client.txt"
}

# overload_wait_idle: until the service queue holds no call, delivered or
# not (at most 60 s): then the worker has answered everything it will.
overload_wait_idle() {
    local i n
    for i in $(seq 60); do
        n=$(broker_ctl list_queues name messages messages_unacknowledged 2>/dev/null |
            awk '$1 == "rpc-weather_service" {print $2 + $3}')
        [ "${n:-x}" = 0 ] && return 0
        sleep 1
    done
    log "warning: overload: ${n:-?} call(s) still queued after 60 s"
}

# overload_analyse CLIENT GATEWAY_LOG WORKER_LOG PREFIX REQUESTS_TSV:
# joins, by request id, what the client got, the requests the gateway
# answered 504 because its timer ran out ("rpc ... (request ID) timed
# out", info) and the calls the worker finished ("<method> answered",
# debug: a result; "<method> failed: ...", info: an error reply, of which
# "the call expired before it started" is a call dropped without upstream
# work and "circuit open" one refused by the worker's circuit breaker,
# also without upstream work).  A call the worker finished for a request in the timer
# set was finished for nobody: the gateway had already given up on it
# (had its reply come before the timer, the gateway would have used it),
# whatever the clocks say.  The gateway's own count of replies it dropped
# as late ("dropped a late ...", debug) must agree.  Prints one
# "OVERLOAD key=value ..." line and a per-request table.
overload_analyse() {
    awk -v pfx="$4" -v out="$5" '
    FILENAME == ARGV[1] {
        n++; ids[n] = $2; st[$2] = $4; start[$2] = $3
        if (t0 == "" || $3 < t0) t0 = $3
        next
    }
    FILENAME == ARGV[2] {
        if (match($0, /\(request [^)]*\) timed out/)) {
            id = substr($0, RSTART + 9, RLENGTH - 20)
            if (index(id, pfx) == 1) gwto[id] = 1
        } else if ($0 ~ /dropped a late/) gwlate++
        next
    }
    {
        id = ""
        for (f = 1; f <= NF; f++)
            if (substr($f, 1, 4) == "req=") { id = substr($f, 5); break }
        if (id == "" || index(id, pfx) != 1) next
        if ($0 ~ / answered$/) k = "result"
        else if ($0 ~ /expired before it started/) k = "expired"
        else if ($0 ~ / failed: .*circuit open/) k = "breaker"
        else if ($0 ~ / failed: /) k = "error"
        else next
        wk[k]++; seen[id] = seen[id] (seen[id] == "" ? "" : ",") k
        if (id in gwto) { late++; if (k == "result") lateok++ }
    }
    END {
        printf "request\tsent_at_s\tstatus\tgateway_timer\tworker\n" >out
        for (i = 1; i <= n; i++) {
            id = ids[i]; s = st[id]
            if (s == 200) ok++
            else if (s == 504 && (id in gwto)) gw504++
            else if (s == 504) wk504++
            else other[s]++
            if (!(id in seen)) never++
            at = (start[id] - t0) / 1e6
            if (s == 200 && at > lastok) lastok = at
            printf "%s\t%.3f\t%s\t%s\t%s\n", id, at, s, (id in gwto) ? "yes" : "no",
                (id in seen) ? seen[id] : "-" >out
        }
        o = ""
        for (s in other) o = o (o == "" ? "" : ",") s ":" other[s]
        printf "OVERLOAD sent=%d ok=%d s504_gw=%d s504_wk=%d other=%s w_result=%d w_expired=%d w_breaker=%d w_error=%d late=%d late_result=%d never=%d gw_late=%d last_ok_s=%.1f\n",
            n, ok, gw504, wk504, (o == "" ? "0" : o), wk["result"], wk["expired"], wk["breaker"],
            wk["error"], late, lateok, never, gwlate, lastok
    }' "$1" "$2" "$3"
}

scenario_overload() {
    local dir="$RUN/overload-$RANDOM" nonce=$RANDOM la0 la1 line upstream cap
    log "overload: $OVERLOAD_RATE req/s for ${OVERLOAD_SECONDS}s (open loop, a new city each), 1 worker x $OVERLOAD_CONCURRENCY, latency $OVERLOAD_LATENCY_MS ms, cache off, RPC_TIMEOUT_MS=$OVERLOAD_TIMEOUT_MS"
    STACK_RPC_TIMEOUT_MS=$OVERLOAD_TIMEOUT_MS
    STACK_LOG_LEVEL=debug # the per-call lines overload_analyse joins
    start_stack overload 1 "$OVERLOAD_CONCURRENCY" 0
    STACK_RPC_TIMEOUT_MS=60000
    STACK_LOG_LEVEL=warn
    fake_set_latency "$OVERLOAD_LATENCY_MS" # and zeroes its counters
    mkdir -p "$dir"
    la0=$(cut -d' ' -f1 /proc/loadavg)
    (overload_client "$dir" "$OVERLOAD_RATE" "$OVERLOAD_SECONDS" "$nonce") &
    local cpid=$!
    BG+=("$cpid")
    wait "$cpid" || die "overload: the client failed"
    overload_wait_idle
    sleep 1 # the last reply's way to the gateway and its log line
    la1=$(cut -d' ' -f1 /proc/loadavg)
    upstream=$(fake_total)
    line=$(overload_analyse "$dir/client.txt" "$RUN/overload-gateway.log" \
        "$RUN/overload-worker1.log" "ov$nonce-" "$dir/requests.tsv")
    [ -n "$line" ] || die "overload: no result"
    echo "$line" >"$dir/result"
    # What the worker can serve in the run: threads / latency x seconds.
    cap=$(awk -v c="$OVERLOAD_CONCURRENCY" -v l="$OVERLOAD_LATENCY_MS" -v s="$OVERLOAD_SECONDS" \
        'BEGIN { printf "%.0f", c / (l / 1000) * s }')
    local k f=()
    for k in sent ok s504_gw s504_wk other; do f+=("$(kv "$k" "$line")"); done
    f+=("$upstream")
    for k in w_result w_expired w_breaker w_error late late_result never gw_late last_ok_s; do
        f+=("$(kv "$k" "$line")")
    done
    printf 'overload\t%s\t%s\t%s\n' "$(IFS=$'\t'; echo "${f[*]}")" "$cap" "$la0-$la1" >>"$OVERLOAD_RESULTS"
    log "overload: $(kv sent "$line") sent, $(kv ok "$line") x 200, $(kv s504_gw "$line")+$(kv s504_wk "$line") x 504 (timer+worker), other $(kv other "$line"); upstream $upstream; worker results $(kv w_result "$line") of which late $(kv late_result "$line"); late replies (gateway) $(kv gw_late "$line"); per request: $dir/requests.tsv"
    stop_stack
}

# ---- main --------------------------------------------------------------------

if [ -n "$BIN_DIR" ]; then
    VERSION="binaries $BIN_DIR (git $(git -C "$BIN_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'))"
elif [ -n "$SRC_OVERRIDE" ]; then
    VERSION="source $SRC"
elif [ -n "$REV" ]; then
    VERSION="git $(git -C "$ROOT" rev-parse --short "$REV")"
else
    VERSION="git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- common gateway weather-service tests 2>/dev/null || echo ' + uncommitted changes')"
fi

log "machine: $NCPU CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), shared by wrk, broker, gateway, workers, fake upstream"
start_broker
start_fake
for s in $SCENARIOS; do
    case $s in
    ceiling | http | hot | hot-ratelimit | ratelimited | hot-spotify | upstream | upstream-spotify | scale | connections | overload)
        wait_quiet
        "scenario_${s//-/_}" ;;
    *) die "unknown scenario $s" ;;
    esac
done
if [[ " $SCENARIOS " == *" hot "* ]] && [ -z "$CEILING" ]; then
    log "note: hot's ratio needs the ceiling scenario in the same run"
fi

# ---- report ------------------------------------------------------------------

{
    echo
    echo "## tempo benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $NCPU CPUs, ${DURATION}s per run, provider $PROVIDER ($CALLS_PER_REQ upstream call(s)/request), nice $(ps -o ni= -p $$ | tr -d ' '), $VERSION"
    if [ "$(wc -l <"$RESULTS")" -gt 1 ]; then
    echo
    echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | socket errors | ratio | of | target |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $8, $7, $9 }' "$RESULTS"
    echo
    echo "CPU is % of one core over the measured run (this machine has $NCPU: $((NCPU * 100))% is everything); RSS is peak (VmHWM) MiB."
    echo "\"load\" is wrk (or echo_client); \"irq\" is interrupt time (mostly loopback TCP), most of it also counted in the process it interrupted; \"other\" is the rest of the machine: kernel threads and other users' jobs."
    echo "Ratios: hot / ceiling; hot-ratelimit and hot-spotify / hot; upstream, upstream-spotify and scale / bound = workers x WORKER_CONCURRENCY / (latency x upstream calls per request); connections: the /weather requests / that bound."
    echo
    echo "| scenario | gateway RSS | gateway CPU | worker RSS (max) | workers CPU | broker CPU | fake CPU | load CPU | irq CPU | other CPU | CPU µs/req gw/wk/broker | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 }' "$RESULTS"
    fi
    if [ "$(wc -l <"$OVERLOAD_RESULTS")" -gt 1 ]; then
    echo
    echo "overload: $OVERLOAD_RATE requests/s for ${OVERLOAD_SECONDS}s, open loop; 1 worker x $OVERLOAD_CONCURRENCY, upstream latency $OVERLOAD_LATENCY_MS ms, cache off, RPC_TIMEOUT_MS=$OVERLOAD_TIMEOUT_MS"
    echo
    echo "| scenario | sent | 200 | 504 timer / worker | other | upstream requests | worker finished: results / expired / circuit open / other errors | finished after the gateway's 504: all / results | never reached a worker | late replies (gateway) | last 200 sent at s | capacity | load avg |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s / %s | %s | %s | %s / %s / %s / %s | %s / %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 }' "$OVERLOAD_RESULTS"
    echo
    echo "504 timer: the gateway's RPC_TIMEOUT_MS ran out; 504 worker: the worker's own timeout reply.  Worker finished: results (\"answered\"); expired (\"the call expired before it started\": dropped without an upstream request); circuit open (refused by the worker's breaker, no upstream request); other errors.  After the gateway's 504: calls the worker finished for a request the gateway had already answered by its timer (joined by request id); late replies: the gateway's own count of replies that found no call (the two agree when the logs are complete).  Upstream requests: what the fake received during the run.  Capacity: WORKER_CONCURRENCY / latency x seconds, the most the worker can serve in the run."
    fi
} | tee "$RUN/results.md"
log "done in $(($(date +%s) - T_START)) s; logs and results in $RUN"
