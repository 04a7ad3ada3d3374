#!/usr/bin/env bash
# serve.sh - one command from a fresh Debian 12 machine to a running collector:
# installs what is missing, builds (Release), and runs `sluice serve` with the given plan
# (default specs/ecommerce.yaml). With no --redis, Sluice starts its own redis-server under .sluice/.
# Usage: scripts/serve.sh [PLAN] [more `sluice serve` options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
plan="specs/ecommerce.yaml"
if [[ $# -gt 0 && "$1" != -* ]]; then plan="$1"; shift; fi
exec build/sluice serve --plan "$plan" "$@"
