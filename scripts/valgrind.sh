#!/usr/bin/env bash
# valgrind.sh - runs the C unit tests under valgrind (memcheck, full leak check); any error or leak
# fails. Usage: scripts/valgrind.sh [BUILD_DIR] [TEST...]  (default: build, every unit test that
# was built). BUILD_DIR must be a build without sanitizers (ASan and valgrind do not mix).
# Prints one line per test and ends with "N passed, N failed".
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shift || true
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(test_vio test_srcmap test_plan test_plandiff test_schema test_yamlj test_format test_sink test_rlink test_http
           test_ingest test_config test_ratelimit)
fi
command -v valgrind >/dev/null || { echo "valgrind not found"; exit 77; }
if grep -q "SLUICE_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" 2>/dev/null; then
    echo "$build is a sanitizer build; use a plain one"
    exit 2
fi
pass=0 fail=0
logdir="$(mktemp -d)"
for t in "${tests[@]}"; do
    exe="$build/tests/$t"
    [ -x "$exe" ] || { echo "skip $t (not built)"; continue; }
    log="$logdir/$t.log"
    # tests run from the source root, as ctest runs them
    if (cd "$root" && valgrind --quiet --leak-check=full --error-exitcode=1 \
            --log-file="$log" "$exe" >"$log.out" 2>&1); then
        echo "ok   $t"
        pass=$((pass + 1))
    else
        echo "FAIL $t (valgrind log: $log)"
        sed -n '1,60p' "$log"
        tail -3 "$log.out"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
