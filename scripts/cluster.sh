#!/usr/bin/env bash
# cluster.sh - a private RabbitMQ cluster of N nodes on this machine, for
# tests: each node is a scripts/broker.sh node (its own node name, AMQP and
# distribution ports, data and log directories under DIR/nodeI), all share
# one Erlang cookie made for this cluster, and nodes 2..N join node 1.  It
# never touches another broker on the machine.
#
#   scripts/cluster.sh start DIR [N]      start N nodes (default 3), clustered
#   scripts/cluster.sh stop DIR           stop every node
#   scripts/cluster.sh kill DIR I         kill -9 node I (1-based)
#   scripts/cluster.sh restart DIR I      start node I again (it rejoins)
#   scripts/cluster.sh ctl DIR I ARGS...  rabbitmqctl against node I
#   scripts/cluster.sh node DIR I         print node I's Erlang node name
#
# After start, DIR/env holds CLUSTER_N, CLUSTER_URLS (every node's
# amqp://guest:guest@127.0.0.1:<port>/, comma-separated: an AMQP_URL),
# and CLUSTER_NODE_<I> / CLUSTER_PORT_<I> for each node.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
broker="$here/broker.sh"
cmd=${1:?usage: cluster.sh start|stop|kill|restart|ctl|node DIR ...}
dir=${2:?usage: cluster.sh start|stop|kill|restart|ctl|node DIR ...}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

node_dir() { echo "$dir/node$1"; }

node_name() {
    # shellcheck disable=SC1091
    (. "$(node_dir "$1")/env" && echo "$BROKER_NODE")
}

start() {
    local n=${1:-3} i pids=() failed=0 urls=""
    [ "$n" -ge 1 ] && [ "$n" -le 9 ] || { echo "cluster.sh: N must be 1..9" >&2; exit 2; }
    # One cookie for the whole cluster (and for rabbitmqctl), made here.
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/cookie"
    for i in $(seq "$n"); do
        mkdir -p "$(node_dir "$i")/home"
        install -m 400 "$dir/cookie" "$(node_dir "$i")/home/.erlang.cookie"
    done
    # In parallel: a node takes 10-20 s to boot on a busy 2-core machine.
    for i in $(seq "$n"); do
        bash "$broker" start "$(node_dir "$i")" >"$dir/start$i.log" 2>&1 &
        pids+=($!)
    done
    for i in $(seq "$n"); do
        if ! wait "${pids[$((i - 1))]}"; then
            echo "cluster.sh: node $i did not start:" >&2
            cat "$dir/start$i.log" >&2
            failed=1
        fi
    done
    [ "$failed" = 0 ] || { stop; exit 1; }
    local first
    first=$(node_name 1)
    for i in $(seq 2 "$n"); do
        bash "$broker" ctl "$(node_dir "$i")" stop_app >/dev/null
        bash "$broker" ctl "$(node_dir "$i")" join_cluster "$first" >/dev/null
        bash "$broker" ctl "$(node_dir "$i")" start_app >/dev/null
    done
    {
        echo "CLUSTER_N=$n"
        for i in $(seq "$n"); do
            # shellcheck disable=SC1091
            . "$(node_dir "$i")/env"
            echo "CLUSTER_NODE_$i=$BROKER_NODE"
            echo "CLUSTER_PORT_$i=$BROKER_PORT"
            urls="${urls:+$urls,}$BROKER_URL"
        done
        echo "CLUSTER_URLS=$urls"
    } >"$dir/env"
    # Every node sees all N as running members.
    local running
    for _ in $(seq 60); do
        running=$(bash "$broker" ctl "$(node_dir 1)" cluster_status --formatter json 2>/dev/null |
                  grep -o '"running_nodes":\[[^]]*\]' | grep -o '@' | wc -l || true)
        [ "$running" = "$n" ] && break
        sleep 0.5
    done
    if [ "$running" != "$n" ]; then
        echo "cluster.sh: only $running of $n nodes running in the cluster" >&2
        exit 1
    fi
    echo "cluster of $n nodes in $dir: $urls"
}

stop() {
    local d pids=()
    for d in "$dir"/node*; do
        [ -d "$d" ] || continue
        bash "$broker" stop "$d" >/dev/null 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    rm -f "$dir/env"
}

case "$cmd" in
start) start "${3:-3}" ;;
stop) stop ;;
kill) bash "$broker" kill "$(node_dir "${3:?node number}")" ;;
restart) bash "$broker" restart "$(node_dir "${3:?node number}")" ;;
ctl)
    i=${3:?node number}
    shift 3
    bash "$broker" ctl "$(node_dir "$i")" "$@"
    ;;
node) node_name "${3:?node number}" ;;
*)
    echo "usage: cluster.sh start|stop|kill|restart|ctl|node DIR ..." >&2
    exit 2
    ;;
esac
