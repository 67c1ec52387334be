#!/usr/bin/env bash
# cluster-test.sh - tempo on a three-node RabbitMQ cluster, each node
# killed in turn under steady load (issue 13 part 4).
#
# Three private nodes (scripts/cluster.sh), rpc-weather_service declared as
# a quorum queue (CLUSTER_QUEUE_TYPE=classic: a classic queue, for
# comparison), the fake upstream, one gateway and two workers with AMQP_URL
# listing all three nodes and RPC_QUEUE_TYPE set to the queue's type.  Steady
# load (tests/cluster/cluster_tool.c: CLUSTER_RATE requests/s, open loop),
# then, in turn: kill -9 the node that leads the service queue, the node the
# gateway is connected to, and a node that is neither (a follower); each
# stays down CLUSTER_OUTAGE_S seconds, is started again, and the test waits
# (at most CLUSTER_RECOVER_S) for full service: both workers consuming and
# 3 s of 200s in a row.  Nothing restarts a daemon.
#
# Per fault (the requests that ended between its kill and the next one) it
# reports requests sent, failed (non-200) by status, the seconds of errors
# (err_s: seconds of the clock with a failed request; span_s: first to
# last failed request), requests lost or hung
# (no HTTP answer within RPC_TIMEOUT_MS + 1 s), answers later than
# RPC_TIMEOUT_MS + 0.5 s, and whether and when full service came back.
# Pass (every fault): none lost or hung, none late, errors in at most
# CLUSTER_MAX_ERROR_S seconds (err_s), full service back.  Exit 1 otherwise (the
# report is printed either way; CLUSTER_REPORT_ONLY=1 exits 0 after it).
#
# Needs the build (TEMPO_BUILD_DIR, default build/; built here if missing)
# and rabbitmq-server.  About 3 minutes on a 2-core machine.  Logs:
# $TEMPO_BUILD_DIR/test-logs/cluster/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TEMPO_BUILD_DIR:-$root/build}
rate=${CLUSTER_RATE:-50}
qtype=${CLUSTER_QUEUE_TYPE:-quorum}
outage_s=${CLUSTER_OUTAGE_S:-8}
recover_s=${CLUSTER_RECOVER_S:-25}
max_error_s=${CLUSTER_MAX_ERROR_S:-5}
rpc_timeout_ms=${CLUSTER_RPC_TIMEOUT_MS:-3000}
logs="$build/test-logs/cluster"
cluster="$root/scripts/cluster.sh"

for t in gateway/gateway weather-service/weather-service \
         tests/fakes/fake-upstream tests/cluster/cluster-tool; do
    if [ ! -x "$build/$t" ]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build "$build" -j"$(nproc)" --target gateway weather-service \
            fake-upstream cluster-tool >/dev/null
        break
    fi
done

work=$(mktemp -d /tmp/tempo-cluster.XXXXXX)
rm -rf "$logs"
mkdir -p "$logs"
pids=()
load_pid=

cleanup() {
    set +e
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    cp "$work"/*.log "$work"/load.txt "$logs"/ 2>/dev/null
    for d in "$work"/rmq/node*; do
        [ -d "$d" ] && cp "$d/server.out" "$logs/$(basename "$d")-server.out" 2>/dev/null
    done
    bash "$cluster" stop "$work/rmq" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
say() { echo "cluster-test: $*"; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 12000))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# ---- the cluster ----------------------------------------------------------
t0=$(now_ms)
bash "$cluster" start "$work/rmq" 3 >"$work/cluster.log" 2>&1 ||
    { cat "$work/cluster.log"; exit 1; }
# shellcheck disable=SC1091
. "$work/rmq/env"
say "3 nodes up and clustered in $(( ($(now_ms) - t0) / 1000 )) s"
node_index() {
    local i
    for i in 1 2 3; do
        v="CLUSTER_NODE_$i"
        [ "${!v}" = "$1" ] && { echo "$i"; return 0; }
    done
    echo 0
}
# rabbitmqctl against any node that is up.
ctl() {
    local i
    for i in 1 2 3; do
        bash "$cluster" ctl "$work/rmq" "$i" -q "$@" 2>/dev/null && return 0
    done
    return 1
}

if [ "$qtype" = quorum ]; then
    # Until the worker declares it itself (RPC_QUEUE_TYPE), an operator's
    # declaration: durable, x-queue-type quorum, on all three nodes.
    "$build/tests/cluster/cluster-tool" declare "${CLUSTER_URLS%%,*}" quorum
fi

# ---- tempo ----------------------------------------------------------------
"$build/tests/fakes/fake-upstream" --port 0 >"$work/fake.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q '^READY ' "$work/fake.out" && break; sleep 0.1; done
fake="http://127.0.0.1:$(awk '/^READY/ {print $2}' "$work/fake.out")"
gport=$(free_port)
common=(PATH=/usr/bin:/bin "AMQP_URL=$CLUSTER_URLS" "RPC_QUEUE_TYPE=$qtype"
        LOG_LEVEL=info)
for w in 1 2; do
    env -i "${common[@]}" "OPENWEATHER_URL=$fake" "OPEN_METEO_URL=$fake" \
        "OPEN_METEO_GEOCODING_URL=$fake" "WORKER_ID=worker-$w" \
        "$build/weather-service/weather-service" >"$work/worker$w.log" 2>&1 &
    pids+=($!)
done
env -i "${common[@]}" GATEWAY_ADDR=127.0.0.1 "GATEWAY_PORT=$gport" \
    "RPC_TIMEOUT_MS=$rpc_timeout_ms" \
    "$build/gateway/gateway" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
base="http://127.0.0.1:$gport"
url="$base/weather?city=London"

consumers() {
    ctl list_queues name consumers | awk '$1 == "rpc-weather_service" {print $2}'
}

up=0
for _ in $(seq 60); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] &&
       [ "$(consumers)" = 2 ]; then up=1; break; fi
    sleep 0.5
done
if [ "$up" != 1 ]; then
    say "FAIL: the stack never served (queue type $qtype): consumers=$(consumers)," \
        "GET /weather -> $(curl -s -o /dev/null -w '%{http_code}' "$url")"
    grep -h -m3 -E "warn|error" "$work"/worker*.log "$work/gateway.log" | sed 's/^/    /'
    [ "${CLUSTER_REPORT_ONLY:-0}" = 1 ] && exit 0
    exit 1
fi
say "gateway and 2 workers serving over $qtype rpc-weather_service"

# ---- load and faults --------------------------------------------------------
"$build/tests/cluster/cluster-tool" load "$url" "$rate" $((rpc_timeout_ms + 1000)) \
    "$work/load.txt" 2>"$work/load.log" &
load_pid=$!
sleep 5

# The node that holds (classic) or leads (quorum) the service queue.
queue_node() {
    local col=leader
    [ "$qtype" = classic ] && col=pid
    ctl list_queues name "$col" | awk '$1 == "rpc-weather_service" {print $2}' |
        sed -E 's/^<([^.]*)\..*$/\1/'
}
gateway_node() {
    ctl list_connections pid client_properties |
        awk -F'\t' '/"connection_name","gateway / {print $1; exit}' |
        sed -E 's/^<([^.]*)\..*$/\1/'
}

# Full service: both workers consuming and the last 3 s of requests all 200.
recovered() {
    local since=$(( $(now_ms) - 3000 ))
    [ "$(consumers)" = 2 ] || return 1
    awk -v since="$since" '$1 >= since { n++; if ($2 != 200) bad++ }
        END { exit !(n > 0 && bad == 0) }' "$work/load.txt"
}

declare -a f_name f_node f_kill f_back f_ok f_okat
fi_=0
for fault in leader gateway follower; do
    qn=$(queue_node || true)
    gn=$(gateway_node || true)
    qi=$(node_index "$qn")
    gi=$(node_index "$gn")
    case $fault in
    leader) target=$qi ;;
    gateway) target=$gi ;;
    follower)
        target=0
        for i in 1 2 3; do
            [ "$i" != "$qi" ] && [ "$i" != "$gi" ] && { target=$i; break; }
        done
        ;;
    esac
    if [ "$target" = 0 ]; then
        say "FAIL: cannot tell the $fault node (queue: '$qn', gateway: '$gn')"
        exit 1
    fi
    f_name[fi_]=$fault
    f_node[fi_]="node $target (queue on $qi, gateway on $gi)"
    f_kill[fi_]=$(now_ms)
    say "fault $((fi_ + 1)): kill -9 node $target, the $fault (queue on node $qi, gateway on node $gi)"
    bash "$cluster" kill "$work/rmq" "$target"
    sleep "$outage_s"
    bash "$cluster" restart "$work/rmq" "$target" >>"$work/cluster.log" 2>&1 ||
        say "node $target did not restart (see logs)"
    f_back[fi_]=$(now_ms)
    f_ok[fi_]=no
    f_okat[fi_]=0
    deadline=$(( $(now_ms) + recover_s * 1000 ))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if recovered; then
            f_ok[fi_]=yes
            f_okat[fi_]=$(now_ms)
            break
        fi
        sleep 1
    done
    say "  node back after $(( (f_back[fi_] - f_kill[fi_]) / 1000 )) s;" \
        "full service: ${f_ok[fi_]}"
    fi_=$((fi_ + 1))
done
sleep 2
kill -TERM "$load_pid"
wait "$load_pid" || true
load_pid=
kill -0 "$gw_pid" 2>/dev/null || say "the gateway died"

# ---- report -----------------------------------------------------------------
end=$(now_ms)
fail=0
printf '\n%-9s %-34s %6s %6s %5s %5s %5s %5s %5s %5s %6s %7s %s\n' fault node \
    sent failed 503 504 other lost late err_s span_s max_ms "full service back"
for i in 0 1 2; do
    from=${f_kill[i]}
    to=$end
    [ "$i" -lt 2 ] && to=${f_kill[i + 1]}
    read -r sent failed s503 s504 other lost late err_s span_s max_ms < <(
        awk -v from="$from" -v to="$to" -v lim="$rpc_timeout_ms" '
            # A request belongs to the fault during which it ended: one in
            # flight when a node is killed fails because of that kill.
            { end = $1 + $3 }
            end >= from && end < to {
                n++
                if ($3 > max) max = $3
                if ($2 == 0) lost++
                else if ($3 > lim + 500) late++
                if ($2 != 200) {
                    bad++
                    if ($2 == 503) s503++; else if ($2 == 504) s504++
                    else if ($2 != 0) other++
                    if (first == 0) first = end
                    last = end
                    sec = int(end / 1000)
                    if (!(sec in seen)) { seen[sec] = 1; secs++ }
                }
            }
            END {
                printf "%d %d %d %d %d %d %d %d %.1f %d\n", n, bad, s503, s504,
                       other, lost, late, secs, bad ? (last - first) / 1000 : 0,
                       max
            }' "$work/load.txt")
    back="no (not within ${recover_s} s of the restart)"
    [ "${f_ok[i]}" = yes ] &&
        back="yes, $(( (f_okat[i] - f_kill[i]) / 1000 )) s after the kill"
    printf '%-9s %-34s %6d %6d %5d %5d %5d %5d %5d %5d %6s %7d %s\n' \
        "${f_name[i]}" "${f_node[i]}" "$sent" "$failed" "$s503" "$s504" \
        "$other" "$lost" "$late" "$err_s" "$span_s" "$max_ms" "$back"
    verdict=pass
    if [ "$lost" -gt 0 ] || [ "$late" -gt 0 ] || [ "${f_ok[i]}" != yes ] ||
       awk -v e="$err_s" -v m="$max_error_s" 'BEGIN { exit !(e > m) }'; then
        verdict=FAIL
        fail=1
    fi
    echo "          -> $verdict"
done
echo
echo "queue type $qtype, $rate requests/s, RPC_TIMEOUT_MS=$rpc_timeout_ms, outage" \
     "${outage_s} s per node; pass = none lost or late, errors <= ${max_error_s} s," \
     "full service back.  Logs: $logs"
if [ "$fail" = 1 ]; then
    echo "cluster-test: FAIL"
    grep -h -E " (warn|error) " "$work"/worker*.log "$work/gateway.log" |
        sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -12 | sed 's/^/    /'
    [ "${CLUSTER_REPORT_ONLY:-0}" = 1 ] && exit 0
    exit 1
fi
echo "cluster-test: PASS"
