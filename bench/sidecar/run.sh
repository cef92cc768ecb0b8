#!/bin/sh
# Builds and runs the sidecar benchmark; prints the table. Usage: bench/sidecar/run.sh [build-dir] [args]
set -e
build=${1:-build}
[ $# -gt 0 ] && shift
cmake --build "$build" --target sidecar_bench
exec "$build/bench/sidecar/sidecar_bench" "$@"
