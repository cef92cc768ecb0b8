#!/bin/sh
# Builds and runs the keyed event-time benchmark (issue 12); prints the table.
# Usage: bench/sidecar/run_keyed.sh [build-dir] [args], e.g. --records=100000 --rounds=2
set -e
build=${1:-build}
[ $# -gt 0 ] && shift
cmake --build "$build" --target keyed_bench
exec "$build/bench/sidecar/keyed_bench" "$@"
