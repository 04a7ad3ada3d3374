#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages Sluice builds, runs and tests with (only those missing).
# Usage: scripts/deps.sh [--test]   (--test adds what the test suite needs: clang for fuzzers, Node.js,
# the JSON-Schema-Test-Suite's optional/format files, the Unicode data idna_tables.inc comes from)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libyaml-dev libcjson-dev libpcre2-dev zlib1g-dev libuv1-dev
      libhiredis-dev node-llhttp redis-server redis-tools python3)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(clang libclang-rt-14-dev valgrind wrk nginx-light chromium
         libtest-json-schema-acceptance-perl unicode-data)
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
