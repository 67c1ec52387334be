#!/usr/bin/env bash
# bench/profile.sh - the worker's cost per request on one provider path,
# measured two ways on a private stack (RabbitMQ node, fake upstream,
# gateway, one weather-service worker, all on 127.0.0.1):
#
#   callgrind  the worker runs under valgrind --tool=callgrind; after a
#              warm-up its counters are zeroed, PROFILE_REQUESTS requests
#              are sent one after another, and the dump gives instructions
#              per request and the top functions.  Instruction counts do not
#              depend on what else runs on the machine, so this is the
#              figure to compare across commits.
#   cpu        the worker runs natively; wrk sends PROFILE_SECONDS of load
#              on PROFILE_CONNS connections and the worker's utime+stime
#              (from /proc) divided by the requests answered gives CPU
#              microseconds per request (noisy on a shared machine).
#
#   bench/profile.sh                         both, Spotify + OpenWeatherMap
#   PROFILE_MODE=callgrind bench/profile.sh
#   PROFILE_MUSIC=catalog bench/profile.sh   the keyless-music path instead
#
# Settings: PROFILE_BUILD (default build/, built RelWithDebInfo if absent),
# PROFILE_FAKE (a fake-upstream binary; default the build's, so that an
# older build can be measured against today's fake),
# PROFILE_MODE (callgrind cpu), PROFILE_MUSIC (spotify | catalog),
# PROFILE_REQUESTS (300), PROFILE_SECONDS (5), PROFILE_CONNS (8),
# PROFILE_OUT (directory for logs and the callgrind dump; default a new
# directory under /tmp).  Everything started is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${PROFILE_BUILD:-$ROOT/build}
MODES=${PROFILE_MODE:-"callgrind cpu"}
MUSIC=${PROFILE_MUSIC:-spotify}
N=${PROFILE_REQUESTS:-300}
SECS=${PROFILE_SECONDS:-5}
CONNS=${PROFILE_CONNS:-8}
OUT=${PROFILE_OUT:-$(mktemp -d /tmp/tempo-profile-XXXXXX)}
mkdir -p "$OUT"
HZ=$(getconf CLK_TCK)

log() { printf '[profile] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ -x "$BUILD/weather-service/weather-service" ] || {
    log "building into $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target gateway weather-service fake-upstream >/dev/null
}
WORKER=$BUILD/weather-service/weather-service
GATEWAY=$BUILD/gateway/gateway
FAKE=${PROFILE_FAKE:-$BUILD/tests/fakes/fake-upstream}

PIDS=()
cleanup() {
    local p
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 1
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    bash "$ROOT/scripts/broker.sh" stop "$OUT/broker" >/dev/null 2>&1
}
trap cleanup EXIT

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port"
}

log "private broker in $OUT/broker"
bash "$ROOT/scripts/broker.sh" start "$OUT/broker" >"$OUT/broker.log" 2>&1 || die "broker"
BROKER_URL=$(. "$OUT/broker/env" && echo "$BROKER_URL")

"$FAKE" --port 0 >"$OUT/fake.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    FP=$(awk '/^READY/ {print $2}' "$OUT/fake.log")
    [ -n "$FP" ] && break
    sleep 0.05
done
[ -n "$FP" ] || die "fake-upstream"
FAKE_URL=http://127.0.0.1:$FP

GP=$(free_port)
env -i PATH="$PATH" AMQP_URL="$BROKER_URL" GATEWAY_ADDR=127.0.0.1 GATEWAY_PORT="$GP" \
    RPC_TIMEOUT_MS=60000 LOG_LEVEL=warn "$GATEWAY" >"$OUT/gateway.log" 2>&1 &
PIDS+=($!)
URL="http://127.0.0.1:$GP/weather?city=London"

WENV=(PATH="$PATH" AMQP_URL="$BROKER_URL" LOG_LEVEL=warn WORKER_CONCURRENCY=16
      UPSTREAM_TIMEOUT_MS=20000 RPC_TIMEOUT_MS=60000
      OPENWEATHER_API_KEY=test-key OPENWEATHER_URL="$FAKE_URL"
      SPOTIFY_API_URL="$FAKE_URL" SPOTIFY_ACCOUNTS_URL="$FAKE_URL")
if [ "$MUSIC" = spotify ]; then
    WENV+=(SPOTIFY_CLIENT_ID=test-id SPOTIFY_CLIENT_SECRET=test-secret)
else
    WENV+=(MUSIC_PROVIDER=catalog)
fi

wait_200() {
    local c
    for _ in $(seq 600); do
        c=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$URL" || true)
        [ "$c" = 200 ] && return 0
        sleep 0.2
    done
    die "GET $URL answers $c"
}

# send N: N sequential requests on one keep-alive connection.
send() {
    local cfg="$OUT/curl.cfg" i
    : >"$cfg"
    for i in $(seq "$1"); do printf 'url = "%s"\noutput = /dev/null\n' "$URL" >>"$cfg"; done
    curl -s -m 600 -K "$cfg" -w '%{http_code}\n' >"$OUT/codes" || true
    [ "$(grep -c '^200$' "$OUT/codes")" = "$1" ] || die "not every request answered 200: $(sort "$OUT/codes" | uniq -c | tr '\n' ' ')"
}

fake_calls() {
    # The first occurrence is in "paths" (counts); "last" holds queries.
    curl -s "$FAKE_URL/_fake/requests" | { grep -o '"/v1/search(spotify)":[0-9]*' || echo :0; } | head -1 | cut -d: -f2
}

for mode in $MODES; do
    case $mode in
    callgrind)
        log "callgrind: worker (music $MUSIC) under valgrind; $N requests"
        env -i "${WENV[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
            "$WORKER" >"$OUT/worker-callgrind.log" 2>&1 &
        wpid=$!
        PIDS+=("$wpid")
        wait_200
        send 50 # warm-up: token, pool, connections, caches
        callgrind_control -z "$wpid" >/dev/null
        c0=$(fake_calls)
        send "$N"
        c1=$(fake_calls)
        callgrind_control -d "$wpid" >/dev/null
        sleep 1
        dump=$(ls -t "$OUT"/callgrind.out."$wpid"* | grep -v "\.$wpid$" | head -1 || true)
        [ -n "$dump" ] || dump="$OUT/callgrind.out.$wpid"
        ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
        kill -TERM "$wpid"
        wait "$wpid" 2>/dev/null || true
        echo "CALLGRIND music=$MUSIC requests=$N instructions=$ir per_request=$((ir / N)) spotify_calls=$((${c1:-0} - ${c0:-0})) dump=$dump"
        callgrind_annotate --inclusive=no "$dump" 2>/dev/null | sed -n '1,40p' >"$OUT/top-self.txt"
        callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '1,60p' >"$OUT/top-inclusive.txt"
        log "top functions: $OUT/top-self.txt, $OUT/top-inclusive.txt"
        ;;
    cpu)
        log "cpu: worker (music $MUSIC) natively; wrk -c$CONNS for ${SECS}s"
        env -i "${WENV[@]}" "$WORKER" >"$OUT/worker-cpu.log" 2>&1 &
        wpid=$!
        PIDS+=("$wpid")
        wait_200
        send 50
        read -r -a st <"/proc/$wpid/stat"
        t0=$((st[13] + st[14]))
        c0=$(fake_calls)
        wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL" >"$OUT/wrk.txt" 2>&1
        read -r -a st <"/proc/$wpid/stat"
        t1=$((st[13] + st[14]))
        c1=$(fake_calls)
        reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
        kill -TERM "$wpid"
        wait "$wpid" 2>/dev/null || true
        echo "CPU music=$MUSIC requests=$reqs worker_ticks=$((t1 - t0)) us_per_request=$(awk -v t=$((t1 - t0)) -v n="$reqs" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }') spotify_calls_per_request=$(awk -v c=$((${c1:-0} - ${c0:-0})) -v n="$reqs" 'BEGIN { printf "%.4f", c / n }') rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")"
        ;;
    *) die "unknown PROFILE_MODE $mode" ;;
    esac
done
log "logs in $OUT"
