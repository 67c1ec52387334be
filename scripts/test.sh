#!/usr/bin/env bash
# test.sh - builds tempo and runs every test: unit tests, and integration
# tests against a private RabbitMQ node and the fake upstream on 127.0.0.1.
#
#   scripts/test.sh              build in build/ and run all tests
#   TEMPO_SANITIZE=address scripts/test.sh   the same under ASan+UBSan
#                                (build dir build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPO_DEPS_TEST=1 bash scripts/deps.sh

san=${TEMPO_SANITIZE:-}
dir=build${san:+-asan}
[ "$san" = thread ] && dir=build-tsan
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEMPO_WERROR=ON \
      -DTEMPO_SANITIZE="$san" >/dev/null
cmake --build "$dir" -j"$(nproc)"
if [ -n "$san" ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cd "$dir"
ctest --output-on-failure --timeout 600 "$@"
