#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # bash -c scripts; cleanup runs from a trap
# compose-test.sh: build the tempo images and run the compose stack for real.
#
#   tests/docker/compose-test.sh          # as root, on Debian 12 (CI: .ci/run)
#
# It installs docker.io, docker-compose, debootstrap and curl if missing
# (docker compose v2 and a running engine are used when present),
# starts dockerd by hand if no engine answers (and stops it again at the end),
# makes the debian:bookworm-slim base image with debootstrap if it is missing,
# validates docker-compose.yml, builds the images from the repository's
# Dockerfiles, starts rabbitmq + gateway + 3 workers + a fake upstream under a
# private project name, and checks answers, scaling, health, users, image
# contents, the broker cluster profile (two more nodes join) and shutdown.
# Traffic goes only to 127.0.0.1 and to the containers it created. Every
# wait is bounded. The last line is "N passed, M failed".
#
# Environment: TEMPO_TEST_PORT (default 15000), TEMPO_TEST_PROJECT (default
# tempoci<pid>), TEMPO_TEST_KEEP=1 (leave the stack up on failure, to debug).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
PORT=${TEMPO_TEST_PORT:-15000}
PROJECT=${TEMPO_TEST_PROJECT:-tempoci$$}
SCALE=3
# Compose reads these to interpolate docker-compose.yml.
export TEMPO_PORT=$PORT TEMPO_BIND_ADDR=127.0.0.1 TEMPO_TAG=ci
export COMPOSE_PROJECT_NAME=$PROJECT COMPOSE_HTTP_TIMEOUT=120
BASE_FILE=docker-compose.yml
TEST_FILE=tests/docker/docker-compose.test.yml
TMP=$(mktemp -d /tmp/tempo-compose-test.XXXXXX)
T0=$(date +%s)
# shellcheck source=tests/docker/lib.sh
. "$ROOT/tests/docker/lib.sh"

# ---- cleanup: always leave nothing of the project behind ---------------------
STACK_UP=0
cleanup() {
  local rc=$?
  if [ "$STACK_UP" = 1 ]; then
    if [ "$failed" -gt 0 ] && [ "${TEMPO_TEST_KEEP:-0}" = 1 ]; then
      echo "# TEMPO_TEST_KEEP=1: stack left up; remove with: ${DC[*]} down -v --remove-orphans"
    else
      timeout 120 "${DCC[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
    fi
  fi
  engine_down
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dump_logs() {
  echo "# ---- docker-compose ps / logs (tail) ----"
  timeout 30 "${DC[@]}" ps 2>&1 | sed 's/^/#    /'
  timeout 30 "${DC[@]}" logs --no-color --tail=40 2>&1 | sed 's/^/#    /'
}

# ---- 1. tools, engine, base image ------------------------------------------------
need_tools
DC=("${COMPOSE[@]}" -p "$PROJECT" -f "$BASE_FILE" -f "$TEST_FILE")
# With the broker cluster's extra nodes (section 7b); down uses it too.
DCC=("${DC[@]}" --profile cluster)
note "$("${COMPOSE[@]}" version 2>/dev/null | head -1)"

engine_up
base_image
# The published port must be free (a developer's own stack may hold 15000).
PORT=$(free_port "$PORT"); export TEMPO_PORT=$PORT

# ---- 2. compose file validation -------------------------------------------------
check "compose config -q (shipped file)" "${COMPOSE[@]}" -f "$BASE_FILE" config -q
check "compose config -q (with monitoring profile)" "${COMPOSE[@]}" -f "$BASE_FILE" --profile monitoring config -q
check "compose config -q (with cluster profile)" "${COMPOSE[@]}" -f "$BASE_FILE" --profile cluster config -q
check "compose config -q (with test override)" "${DC[@]}" config -q
# Shape of the shipped file (interpolated, as compose sees it).
"${COMPOSE[@]}" -f "$BASE_FILE" config >"$TMP/config.yml" 2>/dev/null
check "compose: workers scalable, gateway waits for a healthy broker, no secret baked in" \
  python3 - "$TMP/config.yml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
errs = []
w = s["weather-service"]
if "container_name" in w or "ports" in w:
    errs.append("weather-service has container_name or ports")
if w.get("restart") != "unless-stopped":
    errs.append("weather-service restart is not unless-stopped")
for name in ("gateway", "weather-service"):
    if s[name].get("depends_on", {}).get("rabbitmq", {}).get("condition") != "service_healthy":
        errs.append(name + " does not wait for rabbitmq healthy")
    if not s[name].get("stop_grace_period"):
        errs.append(name + " has no stop_grace_period")
    for k, v in (s[name].get("environment") or {}).items():
        if any(t in k for t in ("KEY", "SECRET", "CLIENT_ID")) and v:
            errs.append("%s has a value for %s in the file" % (name, k))
if "healthcheck" not in s["rabbitmq"]:
    errs.append("rabbitmq has no healthcheck")
if "monitoring" not in s.get("prometheus", {}).get("profiles", []):
    errs.append("prometheus is not behind the monitoring profile")
for name in ("rabbitmq-2", "rabbitmq-3"):
    if "cluster" not in s.get(name, {}).get("profiles", []):
        errs.append(name + " is not behind the cluster profile")
for e in errs:
    print("#    " + e)
sys.exit(1 if errs else 0)
EOF
[ "$failed" -eq 0 ] || finish

# ---- 3. build --------------------------------------------------------------------
t=$(date +%s)
if timeout 1800 "${DC[@]}" build "${BUILD_OPTS[@]}" >"$TMP/build.log" 2>&1; then
  ok "images build from the repository's Dockerfiles ($(since "$t") s)"
else
  tail -40 "$TMP/build.log" | sed 's/^/#    /'
  bad "images build from the repository's Dockerfiles"
  finish
fi
for img in rabbitmq gateway weather-service fake-upstream; do
  note "image tempo/$img:ci $(docker image inspect -f '{{.Size}}' "tempo/$img:ci" | awk '{printf "%.1f MB", $1/1e6}')"
done

# ---- 4. image checks (no container of the stack needed) ---------------------------
for img in gateway weather-service; do
  user=$(docker image inspect -f '{{.Config.User}}' "tempo/$img:ci")
  check "tempo/$img runs as a non-root user ($user)" \
    bash -c '[ -n "$1" ] && [ "${1%%:*}" != root ] && [ "${1%%:*}" != 0 ]' _ "$user"
  # dpkg's list and PATH, with the image's own tools; the entrypoint is bypassed.
  docker run --rm --network none --entrypoint bash "tempo/$img:ci" -c '
      for c in gcc cc c++ g++ cpp ld as make cmake; do command -v "$c"; done
      dpkg-query -W -f "\${Package}\n" | grep -E -- "-dev$|^(gcc|g\+\+|cpp|binutils|build-essential|make|cmake)(-[0-9.]+)?$"
      true' >"$TMP/tools-$img" 2>&1
  check "tempo/$img has no compiler, no build tool, no -dev package" test ! -s "$TMP/tools-$img"
  [ -s "$TMP/tools-$img" ] && sed 's/^/#    found: /' "$TMP/tools-$img"
  sig=$(docker image inspect -f '{{.Config.StopSignal}}' "tempo/$img:ci")
  hc=$(docker image inspect -f '{{if .Config.Healthcheck}}{{len .Config.Healthcheck.Test}}{{end}}' "tempo/$img:ci")
  check "tempo/$img has STOPSIGNAL SIGTERM and a HEALTHCHECK" test "$sig" = SIGTERM -a -n "$hc"
done
check "no .env or .git in the build context (.dockerignore)" \
  bash -c 'grep -qx "\.env" .dockerignore && grep -qx "\.git" .dockerignore'
for img in gateway weather-service rabbitmq; do
  env=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "tempo/$img:ci")
  check "tempo/$img bakes in no key or secret" \
    bash -c '! grep -qiE "^[A-Z_]*(KEY|SECRET|CLIENT_ID|PASSWORD|TOKEN)[A-Z_]*=." <<<"$1"' _ "$env"
done

# ---- 5. up, scaled -----------------------------------------------------------------
t=$(date +%s)
STACK_UP=1
if timeout 300 "${DC[@]}" up -d --scale weather-service=$SCALE >"$TMP/up.log" 2>&1; then
  ok "up -d --scale weather-service=$SCALE ($(since "$t") s)"
else
  sed 's/^/#    /' "$TMP/up.log" | tail -20
  bad "up -d --scale weather-service=$SCALE"
  dump_logs
  finish
fi

URL=http://127.0.0.1:$PORT
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" 2>/dev/null; }
ready=0
for _ in $(seq 90); do
  [ "$(code "$URL/readyz")" = 200 ] && { ready=1; break; }
  sleep 1
done
check "gateway /readyz 200 within 90 s ($(since "$t") s after up)" test "$ready" = 1
check "gateway /healthz 200 {\"status\":\"ok\"}" \
  bash -c '[ "$(curl -s -m 5 "$1/healthz" | tr -d " \n")" = "{\"status\":\"ok\"}" ]' _ "$URL"

# The first call may race the workers' consumers: poll until one answers 200.
answered=0
for _ in $(seq 60); do
  [ "$(code "$URL/weather?city=London")" = 200 ] && { answered=1; break; }
  sleep 1
done
curl -s -m 5 -o "$TMP/london.json" "$URL/weather?city=London"
check "GET /weather?city=London answers 200 within 60 s ($(since "$t") s after up)" test "$answered" = 1
check "London: 12.4 C, genre rock, openweathermap + spotify, tracks, worker" \
  python3 - "$TMP/london.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print("#    not JSON:", e); sys.exit(1)
errs = []
if r.get("temperature_c") != 12.4: errs.append("temperature_c=%r" % r.get("temperature_c"))
if r.get("genre") != "rock": errs.append("genre=%r" % r.get("genre"))
if r.get("location", {}).get("name") != "London": errs.append("location=%r" % r.get("location"))
if r.get("sources") != {"weather": "openweathermap", "music": "spotify"}: errs.append("sources=%r" % r.get("sources"))
if not r.get("tracks"): errs.append("no tracks")
if not isinstance(r.get("worker"), str) or ":" not in r["worker"]: errs.append("worker=%r" % r.get("worker"))
for e in errs: print("#    " + e)
if errs: print("#    body: " + json.dumps(r)[:400])
sys.exit(1 if errs else 0)
EOF
check "GET /weather without a place -> 400 invalid_argument" \
  bash -c '[ "$(curl -s -m 5 -o /dev/null -w "%{http_code}" "$1/weather")" = 400 ]' _ "$URL"

# ---- 6. scaling: answers come from 3 different workers -----------------------------
# RabbitMQ hands calls round-robin to consumers with free prefetch: sequential
# calls rotate, and concurrent bursts spread. Up to 5 rounds of 9 + 24 calls.
mkdir -p "$TMP/calls"
distinct=0 n=0
for _ in 1 2 3 4 5; do
  for _ in $(seq 9); do
    n=$((n + 1)); curl -s -m 10 -o "$TMP/calls/$n.json" "$URL/weather?city=London"
  done
  seq $((n + 1)) $((n + 24)) |
    xargs -P 12 -I{} curl -s -m 10 -o "$TMP/calls/{}.json" "$URL/weather?city=London"
  n=$((n + 24))
  distinct=$(cat "$TMP/calls"/*.json 2>/dev/null | grep -o '"worker" *: *"[^"]*"' | sort -u | wc -l)
  [ "$distinct" -ge $SCALE ] && break
done
check "answers come from $SCALE different workers (saw $distinct after $n calls)" test "$distinct" -ge $SCALE
check "every one of the $n calls answered London 12.4 C rock" \
  python3 - "$n" "$TMP/calls" <<'EOF'
import collections, json, os, sys
n, d = int(sys.argv[1]), sys.argv[2]
by_worker, bad = collections.Counter(), []
for i in range(1, n + 1):
    try:
        r = json.load(open(os.path.join(d, "%d.json" % i)))
        assert r["temperature_c"] == 12.4 and r["genre"] == "rock", r
        by_worker[r["worker"]] += 1
    except Exception as e:
        bad.append("call %d: %s" % (i, str(e)[:200]))
for w, c in sorted(by_worker.items()):
    print("#    %-28s %d calls" % (w, c))
for b in bad[:5]:
    print("#    " + b)
sys.exit(1 if bad else 0)
EOF

# ---- 7. running containers: users, health, no restarts ------------------------------------------
for svc in gateway weather-service; do
  uid=$(timeout 30 "${DC[@]}" exec -T --index=1 "$svc" id -u 2>/dev/null | tr -d '\r')
  check "$svc process runs as uid ${uid:-?} (not 0)" test -n "$uid" -a "$uid" != 0
done
# HEALTHCHECKs: gateway probes /healthz; workers check their broker connection.
healthy=0
for _ in $(seq 60); do
  states=$(for id in $(timeout 30 "${DC[@]}" ps -q rabbitmq gateway weather-service); do
             docker inspect -f '{{.State.Health.Status}}' "$id"; done | sort | uniq -c | tr -s ' \n' ' ')
  [ "$(echo "$states" | tr -d ' ')" = "$((SCALE + 2))healthy" ] && { healthy=1; break; }
  sleep 1
done
check "rabbitmq, gateway and $SCALE workers report healthy (${states:-none})" test "$healthy" = 1
restarts=$(for id in $(timeout 30 "${DC[@]}" ps -q); do docker inspect -f '{{.RestartCount}}' "$id"; done | awk '{n += $1} END {print n + 0}')
check "no container restarted (restarts: $restarts)" test "$restarts" -eq 0

# ---- 7b. cluster profile: two more broker nodes join the running one ---------------
# A quorum queue declared now has one member. The new nodes must join
# rabbitmq (classic_config, its Erlang cookie from its volume) and add
# themselves to it. Calls keep working throughout.
rmq() { timeout 60 "${DC[@]}" exec -T rabbitmq "$@" 2>/dev/null; }
members() {  # members QUEUE: the quorum queue's nodes, sorted, one line
  rmq rabbitmq-queues -q quorum_status "$1" --formatter json |
    python3 -c 'import json, sys; print(" ".join(sorted(r["Node Name"] for r in json.load(sys.stdin))))' 2>/dev/null
}
t=$(date +%s)
rmq rabbitmqctl -q eval 'rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, <<"tempo-ci-quorum">>), true, false, [{<<"x-queue-type">>, longstr, <<"quorum">>}], none, <<"guest">>).' >/dev/null
check "a quorum queue on the single node has 1 member ($(members tempo-ci-quorum))" \
  test "$(members tempo-ci-quorum)" = "rabbit@rabbitmq"
check "up -d --profile cluster rabbitmq-2 rabbitmq-3" \
  quiet timeout 300 "${DCC[@]}" up -d --no-deps rabbitmq-2 rabbitmq-3
# Each rabbitmqctl run costs about a second of CPU: poll every 3 s.
running=
for _ in $(seq 60); do
  running=$(rmq rabbitmqctl -q cluster_status --formatter json |
    python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["running_nodes"])))' 2>/dev/null)
  [ "$running" = "rabbit@rabbitmq rabbit@rabbitmq-2 rabbit@rabbitmq-3" ] && break
  sleep 3
done
check "three-node cluster running within 180 s ($(since "$t") s: ${running:-none})" \
  test "$running" = "rabbit@rabbitmq rabbit@rabbitmq-2 rabbit@rabbitmq-3"
for _ in $(seq 20); do
  [ "$(members tempo-ci-quorum)" = "$running" ] && break
  sleep 3
done
check "the joining nodes added themselves to the quorum queue ($(members tempo-ci-quorum))" \
  test "$(members tempo-ci-quorum)" = "rabbit@rabbitmq rabbit@rabbitmq-2 rabbit@rabbitmq-3"
check "GET /weather?city=Paris still answers 200" test "$(code "$URL/weather?city=Paris")" = 200

# ---- 8. shutdown: SIGTERM drains in-flight calls, stop is fast, exit code 0 -------
# The fake answers every upstream call 800 ms late from now on, so calls are
# in flight (about 1.6 s each) when a daemon is stopped. New city names each
# time, so no worker answers from its cache.
fake_latency() {
  timeout 30 "${DC[@]}" exec -T fake-upstream bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/8081 && printf "POST /_fake/latency?ms=$1 HTTP/1.0\r\nContent-Length: 0\r\n\r\n" >&3 && read -r _ code _ <&3 && [ "$code" = 200 ]' _ "$1"
}
BURST=()
burst() {  # burst NAME COUNT: COUNT concurrent calls in the background
  local i
  BURST=()
  for i in $(seq "$2"); do
    curl -s -m 15 -o /dev/null -w '%{http_code}\n' "$URL/weather?city=$1$i" >"$TMP/burst-$1-$i" &
    BURST+=($!)
  done
}
burst_wait() { wait "${BURST[@]}"; }  # not a bare wait: dockerd may be our child
burst_codes() { cat "$TMP/burst-$1"-* | sort | uniq -c | tr -s ' \n' ' '; }
stop_ms() {  # stop_ms CMD...: run a stop command, print how long it took
  local t0; t0=$(date +%s%N); timeout 60 "$@" >/dev/null 2>&1; echo $((($(date +%s%N) - t0) / 1000000))
}
check "fake upstream slowed to 800 ms per call" quiet fake_latency 800

# One of the 3 workers is stopped while 12 calls are in flight.
w1=$(timeout 30 "${DC[@]}" ps -q weather-service | head -1)
burst Drainw 12; sleep 0.7
ms=$(stop_ms docker stop -t 20 "$w1"); burst_wait
wexit=$(docker inspect -f '{{.State.ExitCode}}' "$w1" 2>/dev/null)
check "one worker stopped under load in ${ms} ms (< 10000), exit ${wexit:-?}" test "$ms" -lt 10000 -a "${wexit:-x}" = 0
check "the 12 calls in flight all answered 200 ($(burst_codes Drainw))" \
  test "$(burst_codes Drainw)" = " 12 200 "

# The gateway is stopped while 6 calls are in flight: it drains them first.
burst Draing 6; sleep 0.7
ms=$(stop_ms "${DC[@]}" stop -t 20 gateway); burst_wait
gid=$(timeout 30 "${DC[@]}" ps -a -q gateway)
gexit=$(docker inspect -f '{{.State.ExitCode}}' "$gid" 2>/dev/null)
check "stop -t 20 gateway under load took ${ms} ms (< 10000), exit ${gexit:-?}" \
  test "$ms" -lt 10000 -a "${gexit:-x}" = 0
check "the 6 calls in flight at the gateway's SIGTERM answered 200 ($(burst_codes Draing))" \
  test "$(burst_codes Draing)" = " 6 200 "

ms=$(stop_ms "${DC[@]}" stop -t 20 weather-service)
wexits=$(for id in $(timeout 30 "${DC[@]}" ps -a -q weather-service); do docker inspect -f '{{.State.ExitCode}}' "$id"; done | sort -u | tr '\n' ' ')
check "stop -t 20 weather-service took ${ms} ms (< 10000), all exited 0 (exits: ${wexits:-?})" \
  test "$ms" -lt 10000 -a "$wexits" = "0 "
[ "$failed" -eq 0 ] || dump_logs

# ---- 9. down: nothing of the project is left --------------------------------------
t=$(date +%s)
timeout 120 "${DCC[@]}" down -v --remove-orphans -t 20 >/dev/null 2>&1
note "down -v: $(since "$t") s"
STACK_UP=0
left=$( { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
          docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
          docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"; } | wc -l)
check "down -v --remove-orphans leaves no container, network or volume of $PROJECT" test "$left" -eq 0

note "total: $(since "$T0") s"
finish
