#!/usr/bin/env bash
# lint.sh - the habits CI enforces on every C file of the tree (tests
# included), so that drift is caught by a tool before a reviewer:
#
#   1. clang-format (the repository's .clang-format, clang-format 14): no
#      file may differ from its formatted self;
#   2. banned functions: strcpy, strcat, strncpy, strncat, sprintf,
#      vsprintf, gets, atoi, atol, atoll, atof, strtok (STYLE.md 14; curl's
#      CODE_STYLE.md): use snprintf, memcpy with a length, strtol with
#      bounds, strtok_r;
#   3. -Wconversion stays at zero warnings: it is part of every build's
#      warning set (CMakeLists.txt, tempo_warnings) with -Werror in
#      scripts/test.sh, so this script only checks that it is still there.
#
#   scripts/lint.sh          check (exit 1 on any finding)
#   scripts/lint.sh --fix    reformat in place, then check the rest
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
[ "${1:-}" = --fix ] && fix=1
command -v clang-format >/dev/null || {
    echo "lint.sh: clang-format is not installed (apt-get install clang-format)" >&2
    exit 2; }

mapfile -t files < <(git ls-files '*.c' '*.h')
failed=0

if [ "$fix" = 1 ]; then
    clang-format -i "${files[@]}"
fi
drift=()
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        drift+=("$f")
    fi
done
if [ ${#drift[@]} -gt 0 ]; then
    echo "lint: not clang-formatted (run scripts/lint.sh --fix):"
    printf '  %s\n' "${drift[@]}"
    failed=1
fi

banned='\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|gets|atoi|atol|atoll|atof|strtok)[[:space:]]*\('
if grep -nE "$banned" "${files[@]}" | grep -vE '\b(snprintf|vsnprintf|strtok_r)\b' \
    | grep -v 'lint: allow'; then
    echo "lint: banned functions above (STYLE.md guideline 14)"
    failed=1
fi

if ! grep -q -- '-Wconversion' CMakeLists.txt; then
    echo "lint: -Wconversion is no longer in the warning set (CMakeLists.txt)"
    failed=1
fi

if [ "$failed" = 0 ]; then
    echo "lint: ${#files[@]} files formatted, no banned functions, -Wconversion on"
fi
exit "$failed"
