#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # bash -c scripts; cleanup runs from a trap
# swarm-test.sh: deploy deploy/swarm.yml on a one-node Docker Swarm for real.
#
#   tests/docker/swarm-test.sh          # as root, on Debian 12 (CI: .ci/run)
#
# It installs and starts what is missing like compose-test.sh (tests/docker/
# lib.sh), joins a one-node swarm (docker swarm init --advertise-addr
# 127.0.0.1; it leaves the swarm again if it made it), builds the images
# (cached when compose-test.sh has just built them), deploys the stack with
# the fake upstream (tests/docker/swarm.test.yml), answers requests, scales
# the workers to 3, rolls every worker over with `docker service update
# --force` under steady load and counts failed requests (there must be none),
# then removes the stack and checks that nothing of it is left. Traffic goes
# only to 127.0.0.1 and to the containers it created. Every wait is bounded.
# The last line is "N passed, M failed".
#
# The CI kernel has no IPVS, so the test override resolves services by DNS
# round robin and publishes the gateway on the host: TEMPO_TEST_PORT (default
# 15100) on all addresses of this machine for the test's duration (Swarm
# cannot bind a published port to one address).
#
# Environment: TEMPO_TEST_PORT, TEMPO_TEST_STACK (default temposw<pid>),
# TEMPO_TEST_KEEP=1 (leave the stack up on failure, to debug).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
STACK=${TEMPO_TEST_STACK:-temposw$$}
SCALE=3
# The stack files read these.
export TEMPO_TAG=ci TEMPO_WORKERS=1 TEMPO_GATEWAYS=1
STACK_FILE=deploy/swarm.yml
TEST_FILE=tests/docker/swarm.test.yml
TMP=$(mktemp -d /tmp/tempo-swarm-test.XXXXXX)
T0=$(date +%s)
# shellcheck source=tests/docker/lib.sh
. "$ROOT/tests/docker/lib.sh"

# ---- cleanup: leave nothing of the stack (or of a swarm we made) behind -------
STACK_UP=0 SWARM_MADE=0 GWBRIDGE_MADE=0 LOAD_PID=
stack_objects() {  # everything labelled with the stack's name, one id a line
  local f="label=com.docker.stack.namespace=$STACK"
  docker service ls -q --filter "$f" 2>/dev/null
  docker ps -aq --filter "$f" 2>/dev/null
  docker network ls -q --filter "$f" 2>/dev/null
  docker volume ls -q --filter "$f" 2>/dev/null
}
stack_remove() {  # stack_remove: rm the stack, wait (bounded), drop its volumes
  timeout 60 docker stack rm "$STACK" >/dev/null 2>&1
  for _ in $(seq 60); do
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK"; docker network ls -q --filter "label=com.docker.stack.namespace=$STACK")" ] && break
    sleep 1
  done
  # A stack's volumes outlive `docker stack rm`.
  docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker volume rm >/dev/null 2>&1
}
swarm_leave() {
  timeout 60 docker swarm leave --force >/dev/null 2>&1
  # swarm init made docker_gwbridge; leave does not remove it.
  [ "$GWBRIDGE_MADE" = 1 ] && timeout 30 docker network rm docker_gwbridge >/dev/null 2>&1
  SWARM_MADE=0
}
cleanup() {
  local rc=$?
  [ -n "$LOAD_PID" ] && { touch "$TMP/load/stop"; kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; }
  if [ "$STACK_UP" = 1 ]; then
    if [ "$failed" -gt 0 ] && [ "${TEMPO_TEST_KEEP:-0}" = 1 ]; then
      echo "# TEMPO_TEST_KEEP=1: stack left up; remove with: docker stack rm $STACK"
      SWARM_MADE=0
    else
      stack_remove
    fi
  fi
  [ "$SWARM_MADE" = 1 ] && swarm_leave
  engine_down
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

svc() { echo "${STACK}_$1"; }
dump_logs() {
  echo "# ---- docker stack ps / service logs (tail) ----"
  timeout 30 docker stack ps --no-trunc --format '{{.Name}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' "$STACK" 2>&1 | sed 's/^/#    /'
  for s in rabbitmq gateway weather-service fake-upstream; do
    timeout 30 docker service logs --no-trunc --tail 15 "$(svc $s)" 2>&1 | sed 's/^/#    /'
  done
}

# ---- 1. tools, engine, base image, swarm ----------------------------------------
need_tools
engine_up
base_image
PORT=$(free_port "${TEMPO_TEST_PORT:-15100}"); export TEMPO_PORT=$PORT
note "$(docker version -f 'client {{.Client.Version}}, engine {{.Server.Version}}' 2>/dev/null)"

case $(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null) in
  inactive)
    docker network inspect docker_gwbridge >/dev/null 2>&1 || GWBRIDGE_MADE=1
    SWARM_MADE=1
    check "docker swarm init --advertise-addr 127.0.0.1" \
      quiet timeout 60 docker swarm init --advertise-addr 127.0.0.1 ;;
  active)
    check "this engine is a swarm manager already (the test deploys its own stack)" \
      test "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ;;
  *) bad "swarm state: $(docker info -f '{{.Swarm.LocalNodeState}}' 2>&1)" ;;
esac
[ "$failed" -eq 0 ] || finish

# ---- 2. the stack file ------------------------------------------------------------
# `docker stack config` (client 24+) loads and merges the files as deploy does.
if docker stack --help 2>/dev/null | grep -qE '^ +config '; then
  check "docker stack config accepts $STACK_FILE" quiet docker stack config -c "$STACK_FILE"
  check "docker stack config accepts $STACK_FILE + $TEST_FILE" \
    quiet docker stack config -c "$STACK_FILE" -c "$TEST_FILE"
fi
check "$STACK_FILE matches docker-compose.yml; rolling updates start-first; no secret in the file" \
  python3 - "$STACK_FILE" docker-compose.yml <<'EOF'
import sys, yaml
stack = yaml.safe_load(open(sys.argv[1]))["services"]
comp = yaml.safe_load(open(sys.argv[2]))["services"]
errs = []
for name in ("rabbitmq", "gateway", "weather-service"):
    s, c = stack.get(name), comp.get(name)
    if s is None:
        errs.append("no service " + name); continue
    if s.get("image") != c.get("image"):
        errs.append("%s: image %r, compose has %r" % (name, s.get("image"), c.get("image")))
    if set(s.get("environment") or {}) != set(c.get("environment") or {}):
        errs.append("%s: environment differs from compose: %s" % (
            name, sorted(set(s.get("environment") or {}) ^ set(c.get("environment") or {}))))
    if s.get("stop_grace_period") != c.get("stop_grace_period"):
        errs.append(name + ": stop_grace_period differs from compose")
    for k, v in (s.get("environment") or {}).items():
        if any(t in k for t in ("KEY", "SECRET", "CLIENT_ID")) and v:
            errs.append("%s has a value for %s in the file" % (name, k))
    d = s.get("deploy") or {}
    if "restart_policy" not in d:
        errs.append(name + ": no restart_policy")
for name in ("gateway", "weather-service"):
    s = stack[name]
    if not s.get("read_only") or s.get("cap_drop") != ["ALL"]:
        errs.append(name + ": not read_only with cap_drop ALL")
    d = s.get("deploy") or {}
    u, r = d.get("update_config") or {}, d.get("rollback_config") or {}
    if u.get("order") != "start-first" or u.get("parallelism") != 1 or u.get("failure_action") != "rollback":
        errs.append(name + ": update_config is not parallelism 1, start-first, rollback on failure")
    if r.get("order") != "start-first":
        errs.append(name + ": rollback_config is not start-first")
    if "replicas" not in d or "memory" not in (d.get("resources") or {}).get("limits", {}):
        errs.append(name + ": no replicas or no memory limit")
w = stack["weather-service"]
if "ports" in w or "container_name" in w:
    errs.append("weather-service has ports or container_name")
p = (stack["gateway"].get("ports") or [{}])[0]
if p.get("mode", "ingress") != "ingress" or (stack["gateway"].get("deploy") or {}).get("endpoint_mode", "vip") != "vip":
    errs.append("gateway: the shipped file must use the routing mesh and a VIP")
for e in errs:
    print("#    " + e)
sys.exit(1 if errs else 0)
EOF

# ---- 3. images ------------------------------------------------------------------
# Stack deploy does not build: Compose builds (from its cache after compose-test.sh).
t=$(date +%s)
if timeout 1800 "${COMPOSE[@]}" -f docker-compose.yml -f tests/docker/docker-compose.test.yml \
     build "${BUILD_OPTS[@]}" >"$TMP/build.log" 2>&1; then
  ok "images built with compose ($(since "$t") s)"
else
  tail -40 "$TMP/build.log" | sed 's/^/#    /'; bad "images built with compose"; finish
fi

# ---- 4. deploy ------------------------------------------------------------------
t=$(date +%s)
STACK_UP=1
# --resolve-image never: the images are local, no registry is asked for digests.
if timeout 120 docker stack deploy --resolve-image never -c "$STACK_FILE" -c "$TEST_FILE" "$STACK" >"$TMP/deploy.log" 2>&1; then
  ok "docker stack deploy -c $STACK_FILE -c $TEST_FILE"
else
  sed 's/^/#    /' "$TMP/deploy.log" | tail -20; bad "docker stack deploy"; finish
fi

URL=http://127.0.0.1:$PORT
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" 2>/dev/null; }
ready=0
for _ in $(seq 120); do
  [ "$(code "$URL/readyz")" = 200 ] && { ready=1; break; }
  sleep 1
done
check "gateway /readyz 200 within 120 s ($(since "$t") s after deploy)" test "$ready" = 1
answered=0
for _ in $(seq 60); do
  [ "$(code "$URL/weather?city=London")" = 200 ] && { answered=1; break; }
  sleep 1
done
curl -s -m 5 -o "$TMP/london.json" "$URL/weather?city=London"
check "GET /weather?city=London answers 200 ($(since "$t") s after deploy)" test "$answered" = 1
check "London: 12.4 C, rock, openweathermap + spotify, a worker" \
  python3 - "$TMP/london.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print("#    not JSON:", e); sys.exit(1)
ok = (r.get("temperature_c") == 12.4 and r.get("genre") == "rock" and r.get("tracks")
      and r.get("sources") == {"weather": "openweathermap", "music": "spotify"}
      and isinstance(r.get("worker"), str))
if not ok: print("#    body: " + json.dumps(r)[:400])
sys.exit(0 if ok else 1)
EOF
[ "$failed" -eq 0 ] || { dump_logs; finish; }

# ---- 5. scale the workers to 3 -----------------------------------------------------
running_ids() {  # running_ids SERVICE: short ids of its running containers
  docker ps -q --filter "label=com.docker.swarm.service.name=$(svc "$1")" --filter status=running | sort
}
replicas() { docker service ls --filter "name=$(svc "$1")" --format '{{.Replicas}}' | head -1; }
t=$(date +%s)
check "docker service scale weather-service=$SCALE" \
  quiet timeout 60 docker service scale --detach "$(svc weather-service)=$SCALE"
for _ in $(seq 90); do [ "$(replicas weather-service)" = "$SCALE/$SCALE" ] && break; sleep 1; done
check "weather-service $SCALE/$SCALE running within 90 s ($(since "$t") s; a task runs once healthy)" \
  test "$(replicas weather-service)" = "$SCALE/$SCALE"
# Calls rotate over the consumers; up to 5 rounds of 12.
mkdir -p "$TMP/calls"
n=0 distinct=0
for _ in 1 2 3 4 5; do
  for _ in $(seq 12); do n=$((n + 1)); curl -s -m 10 -o "$TMP/calls/$n.json" "$URL/weather?city=London"; done
  distinct=$(cat "$TMP/calls"/*.json | grep -o '"worker": *"[^"]*"' | sort -u | wc -l)
  [ "$distinct" -ge $SCALE ] && break
done
check "answers come from $SCALE different workers (saw $distinct after $n calls)" test "$distinct" -ge $SCALE
# The worker field is <host name>:<pid>, and a task's host name is its container id.
seen=$(cat "$TMP/calls"/*.json | grep -o '"worker": *"[^":]*' | sed 's/.*"//' | sort -u | tr '\n' ' ')
check "those workers are the $SCALE running tasks ($seen)" \
  test "$seen" = "$(running_ids weather-service | tr '\n' ' ')"
healthy=0
for _ in $(seq 30); do
  h=$(for s in rabbitmq gateway weather-service fake-upstream; do
        for id in $(running_ids $s); do docker inspect -f '{{.State.Health.Status}}' "$id"; done; done | sort | uniq -c | tr -s ' \n' ' ')
  [ "$(echo "$h" | tr -d ' ')" = "$((SCALE + 3))healthy" ] && { healthy=1; break; }
  sleep 1
done
check "every task is healthy (${h:-none})" test "$healthy" = 1
[ "$failed" -eq 0 ] || { dump_logs; finish; }

# ---- 6. rolling update of the workers under steady load -----------------------------
# Rounds of 40 calls, 8 at a time, until $TMP/load/stop exists. New city names
# each time and no cache (swarm.test.yml), so every call waits on the fake's
# 50 ms and calls are in flight in every worker when it gets SIGTERM.
mkdir -p "$TMP/load"
load() {
  local r=0
  while [ ! -e "$TMP/load/stop" ]; do
    r=$((r + 1))
    curl -s --parallel --parallel-max 8 -m 10 -w '%{http_code}\n' -o "$TMP/load/r$r-#1.json" \
      "$URL/weather?city=Roll${r}x[1-40]" >>"$TMP/load/codes" 2>/dev/null
  done
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
old=$(running_ids weather-service | tr '\n' ' ')
load & LOAD_PID=$!
for _ in $(seq 30); do [ "$(lines "$TMP/load/codes")" -ge 80 ] && break; sleep 0.5; done
t=$(date +%s)
check "docker service update --force weather-service (start-first, one task at a time)" \
  quiet timeout 60 docker service update --force --detach "$(svc weather-service)"
state=
for _ in $(seq 180); do
  state=$(docker service inspect -f '{{.UpdateStatus.State}}' "$(svc weather-service)" 2>/dev/null)
  case $state in completed|paused|rollback_*) break ;; esac
  sleep 1
done
upd=$(since "$t")
check "update completed within 180 s (state ${state:-none} after $upd s)" test "$state" = completed
sleep 2   # a little load after the last old task is gone
touch "$TMP/load/stop"; wait "$LOAD_PID"; LOAD_PID=
new=$(running_ids weather-service | tr '\n' ' ')
sent=$(lines "$TMP/load/codes")
nfail=$(grep -vcx 200 "$TMP/load/codes")
secs=$(($(date +%s) - t + 2))
note "rolling update: $sent requests, $nfail failed ($(sort "$TMP/load/codes" | uniq -c | tr -s ' \n' ' ')), about $((sent / secs)) per second, update took $upd s"
check "rolling update under load: $nfail of $sent requests failed (must be 0, and >= 200 sent)" \
  test "$nfail" -eq 0 -a "$sent" -ge 200
if [ "$nfail" -gt 0 ]; then
  grep -L '"worker"' "$TMP/load"/*.json | head -3 | xargs -r cat | head -c 600 | sed 's/^/#    /'; echo
fi
check "all $SCALE workers replaced ($old-> $new)" \
  python3 -c 'import sys; o, n = set(sys.argv[1].split()), set(sys.argv[2].split()); sys.exit(not (len(o) == len(n) == int(sys.argv[3]) and not o & n))' "$old" "$new" "$SCALE"
# The load reached old and new workers alike, so it spanned the whole update.
check "the load was served by old and new workers" \
  python3 - "$TMP/load" "$old" "$new" <<'EOF'
import glob, json, sys
old, new = set(sys.argv[2].split()), set(sys.argv[3].split())
seen = set()
for f in glob.glob(sys.argv[1] + "/*.json"):
    try:
        seen.add(json.load(open(f))["worker"].split(":")[0])
    except Exception:
        pass
print("#    workers seen: %d old, %d new" % (len(seen & old), len(seen & new)))
sys.exit(0 if seen & old and seen & new else 1)
EOF
exits=$(for id in $old; do docker inspect -f '{{.State.ExitCode}}' "$id" 2>/dev/null || echo gone; done | sort | uniq -c | tr -s ' \n' ' ')
check "the old workers drained and exited 0 (${exits:-none})" test "$(echo "$exits" | tr -d ' ')" = "${SCALE}0"
check "weather-service still $SCALE/$SCALE" test "$(replicas weather-service)" = "$SCALE/$SCALE"
[ "$failed" -eq 0 ] || dump_logs

# ---- 7. remove the stack (and the swarm if the test made it) ----------------------
t=$(date +%s)
stack_remove
STACK_UP=0
left=$(stack_objects | wc -l)
check "docker stack rm leaves no service, container, network or volume of $STACK ($(since "$t") s)" test "$left" -eq 0
if [ "$SWARM_MADE" = 1 ]; then
  swarm_leave
  check "swarm left; no docker_gwbridge left behind" \
    bash -c '[ "$(docker info -f "{{.Swarm.LocalNodeState}}")" = inactive ] && { [ "$1" = 0 ] || ! docker network inspect docker_gwbridge >/dev/null 2>&1; }' _ "$GWBRIDGE_MADE"
fi

note "total: $(since "$T0") s"
finish
