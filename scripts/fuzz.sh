#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs each one
# for a bounded time.  Fails if any target finds a crash, a leak, a
# timeout or a broken contract; prints one line per target and a final
#   N passed, M failed
#
#   scripts/fuzz.sh                       every target, 30 s each
#   FUZZ_SECONDS=120 scripts/fuzz.sh      longer runs
#   scripts/fuzz.sh fuzz_query fuzz_config   only these targets
#
# Environment: FUZZ_SECONDS (default 30), FUZZ_BUILD_DIR (default
# build-fuzz), FUZZ_JOBS (parallel targets, default 1).
#
# The seed corpora in tests/fuzz/corpus/<target>/ are read, never written:
# new inputs go to $FUZZ_BUILD_DIR/corpus/<target>/, crashes to
# $FUZZ_BUILD_DIR/artifacts/<target>/, full logs to $FUZZ_BUILD_DIR/logs/.
# Seed files named crash-* are reproducers of fixed bugs: each run replays
# them first, so a regression fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
dir=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
all_targets=(fuzz_query fuzz_nameko fuzz_owm fuzz_open_meteo fuzz_spotify
             fuzz_config fuzz_reply_span fuzz_amqp_url fuzz_etag)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in
        *" $t "*) ;;
        *) echo "fuzz.sh: unknown target $t (have: ${all_targets[*]})" >&2
           exit 2 ;;
    esac
done

case $seconds in
    '' | *[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a whole number" >&2
                   exit 2 ;;
esac

# Longest input per target: a little above the largest thing the parser
# treats specially (a 200-byte city, a 2 KB token, a 4 KB config value).
max_len() {
    case $1 in
        fuzz_query | fuzz_etag) echo 1024 ;;
        fuzz_config) echo 9000 ;;
        fuzz_nameko | fuzz_spotify | fuzz_reply_span) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

dict() {
    case $1 in
        fuzz_query) echo tests/fuzz/dict/query.dict ;;
        fuzz_config) echo tests/fuzz/dict/config.dict ;;
        fuzz_amqp_url) echo tests/fuzz/dict/amqp_url.dict ;;
        *) echo tests/fuzz/dict/json.dict ;;
    esac
}

# --- toolchain: clang with the libFuzzer runtime ---------------------------
probe_fuzzer() {
    local tmp
    tmp=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ (void)d; (void)n; return 0; }' >"$tmp/p.c"
    if command -v clang >/dev/null 2>&1 &&
        clang -fsanitize=fuzzer,address,undefined "$tmp/p.c" \
            -o "$tmp/p" >/dev/null 2>&1; then
        rm -rf "$tmp"
        return 0
    fi
    rm -rf "$tmp"
    return 1
}

if ! probe_fuzzer; then
    echo "fuzz.sh: clang with libFuzzer missing; installing clang and" \
         "libclang-rt-14-dev" >&2
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "fuzz.sh: run as root: apt-get install -y clang" \
             "libclang-rt-14-dev" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y clang libclang-rt-14-dev >/dev/null ||
        { "${sudo[@]}" apt-get update >/dev/null &&
          "${sudo[@]}" apt-get install -y clang libclang-rt-14-dev >/dev/null; }
    probe_fuzzer || { echo "fuzz.sh: clang cannot link libFuzzer" >&2
                      exit 2; }
fi

# --- build -----------------------------------------------------------------
CC=clang cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEMPO_FUZZ=ON -DTEMPO_SANITIZE= \
    -DBUILD_TESTING=OFF -DTEMPO_INTEGRATION_TESTS=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null

# --- run -------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$dir/logs"

# Runs one target; writes its summary line to $dir/logs/<t>.result.
run_target() {
    local t=$1 bin=$dir/tests/fuzz/$1 log=$dir/logs/$1.log
    local work=$dir/corpus/$1 art=$dir/artifacts/$1/ rc=0 stats execs cov
    mkdir -p "$work" "$art"
    if [ ! -x "$bin" ]; then
        echo "FAIL $t: no such target" >"$dir/logs/$t.result"
        return
    fi
    "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -dict="$(dict "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art" \
        "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    stats=$(grep -E '(DONE|pulse|NEW|REDUCE|INITED)[[:space:]]+cov:' "$log" |
            tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).* ft: \([0-9]*\).*/cov \1 ft \2/p' \
          <<<"$stats")
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
        echo "PASS $t: ${cov:-cov ?}, ${execs:-?} exec/s" \
             >"$dir/logs/$t.result"
    else
        echo "FAIL $t (exit $rc): ${cov:-cov ?}; see $log, input in $art" \
             >"$dir/logs/$t.result"
    fi
}

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds}s each, in $dir/"
running=0
for t in "${targets[@]}"; do
    rm -f "$dir/logs/$t.result"
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

passed=0
failed=0
for t in "${targets[@]}"; do
    line=$(cat "$dir/logs/$t.result" 2>/dev/null || echo "FAIL $t: no result")
    echo "$line"
    case $line in
        PASS*) passed=$((passed + 1)) ;;
        *)
            failed=$((failed + 1))
            grep -E 'ERROR:|contract broken|runtime error|SUMMARY' \
                "$dir/logs/$t.log" 2>/dev/null | head -n 5 | sed 's/^/    /'
            ;;
    esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
