#!/usr/bin/env bash
# Issue 5's benchmark in one command: builds kafka_bench and runnel-gateway in a build directory
# (configured with Kafka), starts a fresh single-node broker of its own (scripts/kafka.sh under a
# private RUNNEL_KAFKA_STATE_DIR), runs raw librdkafka, KafkaRecordStore and runnel-gateway on
# it in interleaved rounds, prints the machine and the table of medians and ratios, and stops
# the broker. Usage: bench/kafka/run.sh [build-dir] [kafka_bench args...]
# (default build dir: build; e.g. bench/kafka/run.sh build-kafka2 --runs 3 --records 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build}
shift || true
grep -q '^RUNNEL_WITH_KAFKA:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null ||
  { echo "run.sh: $build_dir is not a build directory configured with RUNNEL_WITH_KAFKA=ON" >&2; exit 1; }
ninja -C "$build_dir" -j2 kafka_bench runnel-gateway >/dev/null
export RUNNEL_KAFKA_STATE_DIR=${RUNNEL_KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/runnel-kafka-bench-$$}
trap 'scripts/kafka.sh stop || true' EXIT
scripts/kafka.sh start
echo "machine: $(uname -srm), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $(grep -m1 '^CMAKE_BUILD_TYPE' "$build_dir/CMakeCache.txt" | cut -d= -f2)," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo unknown)," \
  "Kafka ${RUNNEL_KAFKA_VERSION:-4.1.0}, broker heap ${RUNNEL_KAFKA_HEAP:-512m}"
"$build_dir/bench/kafka/kafka_bench" --brokers "$(scripts/kafka.sh address)" \
  --broker-pid "$(scripts/kafka.sh pid)" "$@"
