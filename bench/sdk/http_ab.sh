#!/usr/bin/env bash
# HTTP A/B: interleaved rounds of sdk_bench_http_load against several function binaries (each
# started with --host=127.0.0.1 --grpc-port=0 --http-port=0 plus EXTRA_ARGS) or the Node http
# echo server (name "node"), printing per server the median req/s and the median server CPU
# microseconds per request (utime+stime of the whole process from /proc/<pid>/stat, which other
# load on the machine disturbs less than wall-clock throughput).
# Usage: bench/sdk/http_ab.sh <build-dir> <binary|node>... (RUNS, HTTP_SECONDS, HTTP_CONNECTIONS,
# EXTRA_ARGS override the defaults)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
shift
runs=${RUNS:-5}
secs=${HTTP_SECONDS:-5}
conns=${HTTP_CONNECTIONS:-32}
tck=$(getconf CLK_TCK)
ninja -C "$build" sdk_bench_http_load >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

names=()
ports=()
spids=()
i=0
for bin in "$@"; do
  out=$work/s$i.out
  if [ "$bin" = node ]; then
    node "$root/bench/sdk/node_http_echo.js" >"$out" 2>"$work/s$i.err" &
  else
    # shellcheck disable=SC2086
    "$bin" --host=127.0.0.1 --grpc-port=0 --http-port=0 ${EXTRA_ARGS:-} >"$out" 2>"$work/s$i.err" &
  fi
  pids+=($!)
  spids+=($!)
  for _ in $(seq 1 300); do
    if grep -q ready "$out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  ports+=("$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$out")")
  names+=("$bin")
  : >"$work/r$i"
  : >"$work/c$i"
  i=$((i + 1))
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for j in "${!ports[@]}"; do
  "$build/bench/sdk/sdk_bench_http_load" "${ports[$j]}" "$conns" 1 >/dev/null  # warm-up
done
for r in $(seq 1 "$runs"); do
  line="round $r:"
  for j in "${!ports[@]}"; do
    t0=$(ticks "${spids[$j]}")
    res=$("$build/bench/sdk/sdk_bench_http_load" "${ports[$j]}" "$conns" "$secs")
    t1=$(ticks "${spids[$j]}")
    rps=$(echo "$res" | sed -n 's/.*reqs_per_s=\([0-9]*\).*/\1/p')
    us=$(awk -v d="$((t1 - t0))" -v t="$tck" -v r="$rps" -v s="$secs" \
      'BEGIN{printf "%.2f", d / t * 1e6 / (r * s)}')
    echo "$rps" >>"$work/r$j"
    echo "$us" >>"$work/c$j"
    line="$line $(basename "${names[$j]}")=$rps(${us}us)"
  done
  echo "$line" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "HTTP/1.1 keep-alive, $conns connections, ${secs}s, median of $runs interleaved rounds:"
for j in "${!names[@]}"; do
  printf '  %-40s %8s req/s  %6s us CPU/req\n' "${names[$j]}" "$(median <"$work/r$j")" \
    "$(median <"$work/c$j")"
done
