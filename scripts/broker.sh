#!/usr/bin/env bash
# broker.sh - a private RabbitMQ node for tests, benchmarks and the quick
# start, fully contained in one directory (its own node name, ports, data,
# cookie), so it never touches another broker on the machine.
#
#   scripts/broker.sh start DIR [PORT]   start (PORT 0 or absent: pick a free one)
#   scripts/broker.sh stop DIR           stop it
#   scripts/broker.sh ctl DIR ARGS...    rabbitmqctl against it
#
# After start, DIR/env holds: BROKER_PORT, BROKER_NODE, BROKER_URL.
# Needs Debian's rabbitmq-server; run as root or as a user who may run it.
set -euo pipefail

RMQ_BIN=/usr/lib/rabbitmq/bin
cmd=${1:?usage: broker.sh start|stop|ctl DIR}
dir=${2:?usage: broker.sh start|stop|ctl DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local p
    for _ in $(seq 200); do
        # Below the kernel's ephemeral range (32768+), so no client socket
        # can be holding it.
        p=$((20000 + RANDOM % 12000))
        if port_free "$p" && port_free $((p + 1))
        then echo "$p"; return 0; fi
    done
    echo "broker.sh: no free port found" >&2
    return 1
}

node_env() {
    # shellcheck disable=SC1091
    . "$dir/env"
    export HOME="$dir/home"
    export RABBITMQ_NODENAME="$BROKER_NODE"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$BROKER_PORT"
    export RABBITMQ_DIST_PORT=$((BROKER_PORT + 1))
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
}

ctl() {
    node_env
    "$RMQ_BIN/rabbitmqctl" -n "$BROKER_NODE" "$@"
}

start_node() {
    local port=$1 node
    [ "$port" = 0 ] && port=$(pick_port)
    mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
    : >"$dir/enabled_plugins"
    : >"$dir/rabbitmq-env.conf"
    # Small disk/memory alarms would stop publishers on a busy CI machine.
    printf 'disk_free_limit.absolute = 50MB\nvm_memory_high_watermark.relative = 0.6\n' \
        >"$dir/rabbitmq.conf"
    echo "[]." >"$dir/advanced.config"
    node="tempo-test-$$-$port@localhost"
    cat >"$dir/env" <<EOF
BROKER_PORT=$port
BROKER_NODE=$node
BROKER_URL=amqp://guest:guest@127.0.0.1:$port/
EOF
    node_env
    chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
    (cd "$dir" && exec setsid "$RMQ_BIN/rabbitmq-server" >"$dir/server.out" 2>&1 </dev/null) &
    echo $! >"$dir/server.pid"
    for _ in $(seq 120); do
        if ! port_free "$port"; then break; fi
        if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
            echo "broker.sh: rabbitmq-server exited; see $dir/server.out" >&2
            grep -m3 -E "already_used|eaddrinuse|Kernel pid" "$dir/server.out" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    if port_free "$port"; then
        echo "broker.sh: broker did not open port $port in 60 s" >&2
        tail -20 "$dir/server.out" >&2
        kill -KILL -- "-$(cat "$dir/server.pid")" 2>/dev/null || true
        return 1
    fi
    "$RMQ_BIN/rabbitmqctl" -n "$node" await_startup >/dev/null
    echo "broker $node listening on 127.0.0.1:$port"
}

case "$cmd" in
start)
    [ -x "$RMQ_BIN/rabbitmq-server" ] || {
        echo "broker.sh: rabbitmq-server is not installed" >&2; exit 1; }
    # A port can be taken between the check and the bind: try a few.
    for attempt in 1 2 3; do
        if start_node "${3:-0}"; then exit 0; fi
        [ "${3:-0}" = 0 ] || exit 1
        echo "broker.sh: start attempt $attempt failed; retrying" >&2
        rm -rf "$dir/mnesia" "$dir/log"
    done
    exit 1
    ;;
stop)
    [ -f "$dir/env" ] || exit 0
    if ! ctl stop >/dev/null 2>&1; then
        pid=$(cat "$dir/server.pid" 2>/dev/null || true)
        [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
    fi
    pid=$(cat "$dir/server.pid" 2>/dev/null || true)
    for _ in $(seq 40); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/env"
    ;;
ctl)
    shift 2
    ctl "$@"
    ;;
*)
    echo "usage: broker.sh start|stop|ctl DIR" >&2
    exit 2
    ;;
esac
