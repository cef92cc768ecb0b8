#!/usr/bin/env bash
# Runs bench/kafka against a fresh single-node broker of its own and stops it afterwards.
# Usage: bench/kafka/run.sh [build-dir] [kafka_bench args...]  (e.g. --records 1000000 --runs 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build}
shift || true
bin="$build_dir/bench/kafka/kafka_bench"
[ -x "$bin" ] || { echo "run.sh: $bin not built (ninja -C $build_dir kafka_bench)" >&2; exit 1; }
export RUNNEL_KAFKA_STATE_DIR=${RUNNEL_KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/runnel-kafka-bench-$$}
trap 'scripts/kafka.sh stop || true' EXIT
scripts/kafka.sh start
"$bin" --brokers "$(scripts/kafka.sh address)" --broker-pid "$(scripts/kafka.sh pid)" "$@"
