#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds everything and runs every
# suite (unit, integration, e2e; Kafka against a real broker when scripts/kafka.sh exists).
# Exits non-zero if anything fails. Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/setup.sh
build_dir=${RUNNEL_BUILD_DIR:-build}
jobs=$(nproc)

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DRUNNEL_WERROR=ON >/dev/null
ninja -C "$build_dir" -j "$jobs"

# Node peers for interop tests (riff's own invoker); installed from npm into tests/interop.
if [ -f tests/interop/package.json ]; then
  (cd tests/interop && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
fi

cleanup() { :; }
if [ -x scripts/kafka.sh ]; then
  # A real single-node KRaft broker on loopback for the tests labelled "kafka". It must start:
  # Kafka tests fail rather than skip when it does not.
  "$root/scripts/kafka.sh" start
  export RUNNEL_KAFKA_BROKERS
  RUNNEL_KAFKA_BROKERS=$("$root/scripts/kafka.sh" address)
  # Absolute path: the trap runs after the cd into the build directory below.
  cleanup() { "$root/scripts/kafka.sh" stop || true; }
fi
trap cleanup EXIT

cd "$build_dir"
ctest --output-on-failure -j "$jobs" "$@"
