#!/usr/bin/env bash
# broker.sh - a private RabbitMQ node for tests, benchmarks and the quick
# start, fully contained in one directory (its own node name, ports, data,
# cookie), so it never touches another broker on the machine.
#
#   scripts/broker.sh start DIR [PORT] [--tls]
#                                        start (PORT 0 or absent: pick a free one)
#   scripts/broker.sh stop DIR           stop it
#   scripts/broker.sh kill DIR           kill -9 the node (a crash; DIR kept)
#   scripts/broker.sh restart DIR        start a killed node again, same
#                                        name, ports and data
#   scripts/broker.sh ctl DIR ARGS...    rabbitmqctl against it
#
# After start, DIR/env holds: BROKER_PORT, BROKER_NODE, BROKER_URL.
# --tls adds an amqps listener on 127.0.0.1:PORT+2 with certificates made
# at start by scripts/tls-certs.sh in DIR/tls (the server's is valid for
# "localhost" only); the broker verifies a client certificate when one is
# offered (verify_peer) and accepts clients without one.  DIR/env then
# also holds BROKER_TLS_PORT, BROKER_TLS_DIR and BROKER_TLS_URL.
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
        if port_free "$p" && port_free $((p + 1)) && port_free $((p + 2))
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
    if [ "$tls" = 1 ]; then
        bash "$(dirname "$0")/tls-certs.sh" "$dir/tls"
        cat >>"$dir/rabbitmq.conf" <<EOF
listeners.ssl.1 = 127.0.0.1:$((port + 2))
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
EOF
        cat >>"$dir/env" <<EOF
BROKER_TLS_PORT=$((port + 2))
BROKER_TLS_DIR=$dir/tls
BROKER_TLS_URL=amqps://guest:guest@localhost:$((port + 2))/
EOF
    fi
    launch_node
}

# Runs the node described by $dir/env (fresh, or again after a crash or a
# kill: same name, ports and data, so a cluster member rejoins its cluster)
# and waits until it serves.
launch_node() {
    local port node tls_port
    unset BROKER_TLS_PORT
    node_env
    port=$BROKER_PORT node=$BROKER_NODE tls_port=${BROKER_TLS_PORT:-}
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
    if [ -n "$tls_port" ]; then
        for _ in $(seq 40); do
            port_free "$tls_port" || break
            sleep 0.25
        done
        if port_free "$tls_port"; then
            echo "broker.sh: no TLS listener on port $tls_port" >&2
            return 1
        fi
        echo "broker $node listening on 127.0.0.1:$port, TLS on 127.0.0.1:$tls_port"
    else
        echo "broker $node listening on 127.0.0.1:$port"
    fi
}

case "$cmd" in
start)
    [ -x "$RMQ_BIN/rabbitmq-server" ] || {
        echo "broker.sh: rabbitmq-server is not installed" >&2; exit 1; }
    want_port=0 tls=0
    for a in "${@:3}"; do
        case "$a" in
        --tls) tls=1 ;;
        *[!0-9]*|'') echo "broker.sh: unexpected argument $a" >&2; exit 2 ;;
        *) want_port=$a ;;
        esac
    done
    # A port can be taken between the check and the bind: try a few.
    for attempt in 1 2 3; do
        if start_node "$want_port"; then exit 0; fi
        [ "$want_port" = 0 ] || exit 1
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
kill)
    [ -f "$dir/env" ] || { echo "broker.sh: no node in $dir" >&2; exit 1; }
    pid=$(cat "$dir/server.pid")
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    ;;
restart)
    [ -f "$dir/env" ] || { echo "broker.sh: no node in $dir" >&2; exit 1; }
    launch_node
    ;;
ctl)
    shift 2
    ctl "$@"
    ;;
*)
    echo "usage: broker.sh start|stop|kill|restart|ctl DIR" >&2
    exit 2
    ;;
esac
