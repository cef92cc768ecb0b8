#!/usr/bin/env bash
# A real, single-node Apache Kafka broker (KRaft: broker + controller in one JVM) on loopback,
# for the tests labelled "kafka" and for bench/kafka.
#
#   scripts/kafka.sh start     fetch Kafka (cached), format fresh storage, start, wait until ready
#   scripts/kafka.sh stop      stop it (SIGTERM, bounded wait, then SIGKILL) and delete its data
#   scripts/kafka.sh restart   stop and start again on the same ports, keeping its data
#   scripts/kafka.sh address   print host:port of the broker ("127.0.0.1:NNNNN")
#   scripts/kafka.sh pid       print the broker JVM's pid (benchmarks count its CPU)
#   scripts/kafka.sh status    exit 0 if running (prints pid and address), 1 if not
#
# Environment:
#   RUNNEL_KAFKA_VERSION    Kafka release from Maven Central (default 4.1.0)
#   RUNNEL_KAFKA_STATE_DIR  where the running broker keeps config, data, log, pid and address
#                           (default: per user and per checkout under $TMPDIR). Use distinct
#                           directories to run several brokers at once.
#   RUNNEL_KAFKA_CACHE_DIR  jar cache (default ~/.cache/runnel); reused between runs
#   RUNNEL_KAFKA_HEAP       JVM heap (default 512m)
#   RUNNEL_KAFKA_START_TIMEOUT  seconds to wait for readiness (default 120)
#
# Exits non-zero with one readable message when something fails: tests must fail, not skip,
# when the broker cannot start.
set -euo pipefail

script_dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$script_dir/.." && pwd)
version=${RUNNEL_KAFKA_VERSION:-4.1.0}
cache_root=${RUNNEL_KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runnel}
libs=$cache_root/kafka-$version/libs
root_hash=$(printf '%s' "$root" | cksum | cut -d' ' -f1)
state=${RUNNEL_KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/runnel-kafka-$(id -u)-$root_hash}
heap=${RUNNEL_KAFKA_HEAP:-512m}
start_timeout=${RUNNEL_KAFKA_START_TIMEOUT:-120}

die() { echo "kafka.sh: $*" >&2; exit 1; }

# --- Fetching -------------------------------------------------------------------------------

fetch() {
  [ -f "$libs/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka $version"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka $version"
  echo "kafka.sh: fetching Apache Kafka $version from Maven Central into $libs" >&2
  local tmp="$libs.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -q -B -f "$script_dir/kafka/pom.xml" -Dkafka.version="$version" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    tail -20 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "could not fetch Kafka $version with Maven (see above)"
  fi
  rm -f "$tmp.log"
  ls "$tmp"/kafka_2.13-"$version".jar >/dev/null 2>&1 || die "Maven gave no kafka_2.13-$version.jar"
  touch "$tmp/.complete"
  rm -rf "$libs"
  mkdir -p "$(dirname "$libs")"
  mv "$tmp" "$libs"
}

classpath() { printf '%s:' "$libs"/*.jar; }

# --- State ----------------------------------------------------------------------------------

running_pid() {
  [ -f "$state/pid" ] || return 1
  local pid
  pid=$(cat "$state/pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our broker's JVM.
  grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

pick_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! port_in_use "$p" && [ "$p" != "${1:-}" ]; then
      echo "$p"
      return 0
    fi
  done
  die "found no free loopback port"
}

write_config() {
  local broker_port=$1 controller_port=$2
  cat >"$state/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
  cat >"$state/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $state/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.org.name = org.apache.kafka
logger.org.level = INFO
EOF
  echo "127.0.0.1:$broker_port" >"$state/address"
}

java_opts() {
  echo "-Xms128m -Xmx$heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError" \
       "-Djava.awt.headless=true -Dlog4j2.configurationFile=$state/log4j2.properties" \
       "-Dkafka.logs.dir=$state"
}

launch() {
  # Starts the JVM detached from this shell (its own session, stdin closed), then waits until
  # the broker logs that it started and its port accepts connections, or fails.
  local cp
  cp=$(classpath)
  : >"$state/broker.log"
  # shellcheck disable=SC2046
  setsid java $(java_opts) -cp "$cp" kafka.Kafka "$state/server.properties" \
    </dev/null >"$state/stdout.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$state/pid"
  local address port deadline
  address=$(cat "$state/address")
  port=${address##*:}
  deadline=$((SECONDS + start_timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$state/stdout.log" "$state/broker.log" >&2 || true
      rm -f "$state/pid"
      die "the broker exited during start-up (logs above; state in $state)"
    fi
    if grep -q "Kafka Server started" "$state/broker.log" 2>/dev/null && port_in_use "$port"; then
      echo "kafka.sh: Kafka $version running at $address (pid $pid, state $state)" >&2
      return 0
    fi
    sleep 0.5
  done
  tail -30 "$state/broker.log" >&2 || true
  stop_pid "$pid"
  die "the broker did not become ready within ${start_timeout}s (state in $state)"
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 60); do   # up to 30 s for a clean shutdown
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  echo "kafka.sh: broker pid $pid did not stop in 30s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
}

# --- Commands -------------------------------------------------------------------------------

cmd_start() {
  if pid=$(running_pid); then
    echo "kafka.sh: already running at $(cat "$state/address") (pid $pid)" >&2
    return 0
  fi
  fetch
  rm -rf "$state"
  mkdir -p "$state/data"
  local broker_port controller_port cluster_id
  broker_port=$(pick_port)
  controller_port=$(pick_port "$broker_port")
  write_config "$broker_port" "$controller_port"
  # shellcheck disable=SC2046
  cluster_id=$(java -Xmx128m -cp "$(classpath)" kafka.tools.StorageTool random-uuid 2>/dev/null) ||
    die "could not generate a cluster id"
  # shellcheck disable=SC2046
  if ! java -Xmx256m -Dlog4j2.configurationFile="$state/log4j2.properties" -cp "$(classpath)" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$state/server.properties" \
      >"$state/format.log" 2>&1; then
    cat "$state/format.log" >&2
    die "could not format KRaft storage in $state/data"
  fi
  launch
}

cmd_stop() {
  local keep=${1:-}
  if pid=$(running_pid); then
    stop_pid "$pid"
    echo "kafka.sh: stopped broker pid $pid" >&2
  fi
  rm -f "$state/pid"
  if [ "$keep" != "--keep" ] && [ -d "$state" ]; then
    rm -rf "$state"
  fi
}

cmd_restart() {
  [ -f "$state/server.properties" ] || die "no broker state in $state to restart; use start"
  cmd_stop --keep
  fetch
  local port
  port=$(cut -d: -f2 "$state/address")
  local i
  for i in $(seq 1 40); do   # the old process's port may linger briefly
    port_in_use "$port" || break
    sleep 0.25
  done
  launch
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  restart) cmd_restart ;;
  address)
    running_pid >/dev/null || die "no broker running (state $state)"
    cat "$state/address"
    ;;
  pid)
    running_pid || die "no broker running (state $state)"
    ;;
  status)
    if pid=$(running_pid); then
      echo "running pid $pid at $(cat "$state/address") (state $state)"
    else
      echo "not running (state $state)"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|restart|address|pid|status" >&2
    exit 2
    ;;
esac
