#!/usr/bin/env bash
# run.sh - the quick start: installs what is missing, builds, and runs the
# whole stack on this machine: a private RabbitMQ node, one weather-service
# worker and the gateway on port 5000 (keyless: Open-Meteo + the built-in
# catalog, unless you export OpenWeatherMap / Spotify credentials).
#
#   scripts/run.sh              run in the foreground; Ctrl-C stops it all
#   scripts/run.sh --detach     start in the background and return
#   scripts/run.sh stop         stop a detached stack
#   scripts/run.sh --fake ...   point the worker at the bundled fake upstream
#                               (for machines without internet access)
#   WORKERS=4 scripts/run.sh    start four workers
#
# Any tempo variable in the environment (SPEC section 4) is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=$root/.run
detach=0 fake=0

stop_all() {
    for f in "$state"/*.pid; do
        [ -f "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$state"/*.pid; do
        [ -f "$f" ] || continue
        for _ in $(seq 100); do
            kill -0 "$(cat "$f")" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$f"
    done
    bash scripts/broker.sh stop "$state/broker" >/dev/null 2>&1 || true
}

for a in "$@"; do
    case "$a" in
    stop) stop_all; echo "stopped"; exit 0 ;;
    --detach) detach=1 ;;
    --fake) fake=1 ;;
    *) echo "usage: run.sh [--detach] [--fake] | stop" >&2; exit 2 ;;
    esac
done

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
stop_all
mkdir -p "$state"

port=5672
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && port=0
bash scripts/broker.sh start "$state/broker" "$port"
# shellcheck disable=SC1091
. "$state/broker/env"
export AMQP_URL=${AMQP_URL:-$BROKER_URL}

if [ "$fake" = 1 ]; then
    build/tests/fakes/fake-upstream --port 0 >"$state/fake.out" 2>&1 &
    echo $! >"$state/fake.pid"
    for _ in $(seq 50); do grep -q READY "$state/fake.out" && break; sleep 0.1; done
    fp=$(awk '/READY/ {print $2}' "$state/fake.out")
    export OPENWEATHER_URL=http://127.0.0.1:$fp OPEN_METEO_URL=http://127.0.0.1:$fp \
           OPEN_METEO_GEOCODING_URL=http://127.0.0.1:$fp \
           SPOTIFY_API_URL=http://127.0.0.1:$fp SPOTIFY_ACCOUNTS_URL=http://127.0.0.1:$fp
fi

for i in $(seq "${WORKERS:-1}"); do
    build/weather-service/weather-service >>"$state/worker$i.log" 2>&1 &
    echo $! >"$state/worker$i.pid"
done
build/gateway/gateway >>"$state/gateway.log" 2>&1 &
echo $! >"$state/gateway.pid"

for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:${GATEWAY_PORT:-5000}/readyz" 2>/dev/null && break
    sleep 0.1
done
cat <<MSG
tempo is up: gateway on http://127.0.0.1:${GATEWAY_PORT:-5000}, ${WORKERS:-1} worker(s),
RabbitMQ on 127.0.0.1:$BROKER_PORT.  Logs in $state/.
Try:  curl 'localhost:${GATEWAY_PORT:-5000}/weather?city=London'
MSG
if [ "$detach" = 1 ]; then
    echo "Stop with: scripts/run.sh stop"
    exit 0
fi
trap 'echo; stop_all; echo stopped; exit 0' INT TERM
tail -n +1 -F "$state"/gateway.log "$state"/worker*.log &
wait
