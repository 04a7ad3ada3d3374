#!/usr/bin/env bash
# test.sh - one command runs the whole test suite from a fresh Debian 12 machine:
# installs what is missing, builds Release and ASan+UBSan trees, runs ctest in both (unit tests,
# JSON-Schema-Test-Suite conformance, golden reports, integration tests with a real redis-server,
# npm clients), the unit tests under valgrind, then each libFuzzer target for a short bounded time.
# Env: SLUICE_FUZZ_SECONDS (default 20 per target; 0 skips fuzzing), SLUICE_SKIP_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
jobs=$(nproc)

echo "== Release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== valgrind (unit tests, leak check)"
scripts/valgrind.sh build

if [[ "${SLUICE_SKIP_ASAN:-0}" != 1 ]]; then
  echo "== ASan+UBSan build + tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs")
fi

secs=${SLUICE_FUZZ_SECONDS:-20}
if [[ "$secs" != 0 ]] && command -v clang >/dev/null; then
  echo "== libFuzzer smoke ($secs s per target)"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSLUICE_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzzers
  for f in build-fuzz/fuzz/fuzz_*; do
    [[ -x "$f" ]] || continue
    name=$(basename "$f")
    mkdir -p "build-fuzz/corpus-$name"
    "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "build-fuzz/corpus-$name" \
      "fuzz/seeds/${name#fuzz_}" >"build-fuzz/$name.log" 2>&1 \
      || { tail -50 "build-fuzz/$name.log"; echo "fuzzer $name found a crash"; exit 1; }
    echo "$name: $(grep -c . "build-fuzz/$name.log") log lines, no crash"
  done
fi
echo "== all tests passed"
