#!/usr/bin/env bash
# Gateway benchmark: builds gateway_bench, the echo baseline and runnel-gateway in a build
# directory, then runs every configuration RUNS times (rounds interleaved) and prints the
# machine and the table of medians and ratios. Usage: bench/gateway/run.sh [build-dir]
# (default build-bench; configured with RelWithDebInfo if it does not exist yet).
# RUNS, RECORDS, BATCH, PER_RECORD_RECORDS and LIIKLUS_RECORDS override the defaults.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
ninja -C "$build" gateway_bench gateway_bench_echo_server runnel-gateway >/dev/null

echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "build: $(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2), data on $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2 {print $1}')"
"$build/bench/gateway/gateway_bench" --runs="${RUNS:-5}" --records="${RECORDS:-1000000}" \
  --batch="${BATCH:-500}" --per-record-records="${PER_RECORD_RECORDS:-200000}" \
  --liiklus-records="${LIIKLUS_RECORDS:-20000}"
