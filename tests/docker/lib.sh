# shellcheck shell=bash
# shellcheck disable=SC2034  # COMPOSE, BUILD_OPTS, DOCKERD_PID are for the caller
# lib.sh: helpers shared by compose-test.sh and swarm-test.sh (sourced).
#
# The caller sets ROOT (the repository) and TMP (a private temporary
# directory) first, and calls engine_down from its EXIT trap.
#
#   passed, failed          counters; ok/bad/check print one TAP-like line
#   finish                  prints "N passed, M failed" and exits
#   need_tools              installs what is missing (docker.io, Compose,
#                           curl, python3-yaml); sets COMPOSE and BUILD_OPTS
#   engine_up / engine_down starts dockerd when no engine answers (as root),
#                           and stops it again only if it started it
#   base_image              makes debian:bookworm-slim if it is missing
#   free_port PORT          the first port from PORT up that nothing holds

passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
note() { echo "#    $*"; }
quiet() { "$@" >/dev/null 2>&1; }
since() { echo $(($(date +%s) - $1)); }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit $?
}

apt_install() {  # apt_install PKG...: install what is missing (Debian, as root)
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    bad "need $*: install them (or run as root on Debian)"; finish
  fi
  echo "# installing $*"
  export DEBIAN_FRONTEND=noninteractive
  if ! { timeout 300 apt-get update -q && timeout 600 apt-get install -y -q --no-install-recommends "$@"; } >"$TMP/apt.log" 2>&1; then
    tail -20 "$TMP/apt.log"; bad "install $*"; finish
  fi
}

need_tools() {
  local missing=()
  timeout 20 docker info >/dev/null 2>&1 || command -v dockerd >/dev/null || missing+=(docker.io)
  # docker-compose v1 (Debian's, what CI runs) or else the v2 plugin.
  command -v docker-compose >/dev/null || timeout 20 docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  if command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose); BUILD_OPTS=(--force-rm)
  else
    COMPOSE=(docker compose); BUILD_OPTS=()
  fi
  # BuildKit needs buildx, which the newer docker client on PATH may lack.
  unset DOCKER_BUILDKIT COMPOSE_DOCKER_CLI_BUILD
}

DOCKERD_PID=
engine_up() {
  if ! timeout 20 docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { bad "no Docker engine answers and not root to start dockerd"; finish; }
    echo "# starting dockerd (log: /tmp/tempo-dockerd.log)"
    dockerd >/tmp/tempo-dockerd.log 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  check "Docker engine answers" quiet timeout 20 docker info
  [ "$failed" -eq 0 ] || finish
}

engine_down() {
  [ -n "$DOCKERD_PID" ] || return 0
  kill "$DOCKERD_PID" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
  kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID" 2>/dev/null
  DOCKERD_PID=
}

base_image() {
  local t
  t=$(date +%s)
  if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt_install debootstrap
  fi
  check "base image debian:bookworm-slim present or made" timeout 900 "$ROOT/scripts/docker-base-image.sh"
  note "base image step: $(since "$t") s"
  [ "$failed" -eq 0 ] || finish
}

free_port() {  # free_port PORT: echo PORT, or the next one nothing listens on
  local port=$1
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    echo "#    port $port is in use; trying $((port + 1))" >&2
    port=$((port + 1))
  done
  echo "$port"
}
