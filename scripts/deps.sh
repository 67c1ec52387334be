#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages tempo needs to build, test and
# run (no-op when they are all present).  Needs root (or sudo).
#   TEMPO_DEPS_TEST=1   also what the tests need (python3-jsonschema,
#                       python3-selenium, chromium, chromium-driver)
#   TEMPO_DEPS_EXTRA=1  also wrk and clang (benchmarks, fuzzing)
set -euo pipefail

PKGS=(build-essential cmake pkg-config
      librabbitmq-dev libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      libcmocka-dev rabbitmq-server curl ca-certificates openssl valgrind)
# What the tests need beyond the build (scripts/test.sh asks for it):
# Debian's python3 with jsonschema (the OpenAPI test) and selenium driving
# a headless Chromium (the browser test).  scripts/run.sh does not.
if [ "${TEMPO_DEPS_TEST:-0}" = 1 ]; then
    PKGS+=(clang-format python3 python3-jsonschema python3-selenium chromium
           chromium-driver fonts-dejavu-core)
fi
# Extra tools for benchmarks and fuzzing, installed on request.
if [ "${TEMPO_DEPS_EXTRA:-0}" = 1 ]; then
    PKGS+=(wrk clang libclang-rt-14-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Debian's rabbitmq-server tries to start its system service on install;
# tempo runs its own private node instead (scripts/broker.sh).
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
