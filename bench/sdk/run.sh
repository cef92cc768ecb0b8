#!/usr/bin/env bash
# SDK benchmark: invocations/s of `square` over one long riff-rpc Invoke stream (64-byte JSON
# numbers) against a raw C++ gRPC bidi echo and riff's Node invoker hosting x => x ** 2, all
# driven by the same C++ client; and HTTP requests/s of `square` against a plain Node http echo
# server under the same keep-alive load generator. Rounds are interleaved; medians are printed
# with ratios, and for HTTP the median server CPU per request (utime+stime from /proc/<pid>/stat,
# less disturbed by other load than req/s). HTTP runs twice per round: one request outstanding
# per connection (where the load generator and loopback TCP take most of the 2 cores), and
# HTTP_PIPELINE requests pipelined per connection (TechEmpower's plaintext method: the servers'
# own cost per request shows). Usage: bench/sdk/run.sh [build-dir] (default build-sdk; RUNS,
# FRAMES, HTTP_SECONDS, HTTP_CONNECTIONS, HTTP_PIPELINE (default 16), HTTP_THREADS (square's I/O
# threads, default 2) override the defaults). bench/sdk/http_ab.sh compares HTTP servers only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-sdk}
runs=${RUNS:-5}
frames=${FRAMES:-200000}
http_seconds=${HTTP_SECONDS:-5}
http_connections=${HTTP_CONNECTIONS:-32}
http_threads=${HTTP_THREADS:-2}
http_pipeline=${HTTP_PIPELINE:-16}
tck=$(getconf CLK_TCK)
invoker=$root/tests/interop/node_modules/@projectriff/node-function-invoker/server.js

ninja -C "$build" sdk_example_square sdk_bench_riff_load sdk_bench_echo_server \
  sdk_bench_http_load >/dev/null
if [ ! -f "$invoker" ]; then
  (cd "$root/tests/interop" && npm ci --no-audit --no-fund --silent)
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start <name> <command...>: runs a server, waits for its ready line, sets PORT_GRPC/PORT_HTTP.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 300); do
    if grep -q "ready" "$work/$name.out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  PORT_GRPC=$(sed -n 's/.*grpc_port=\(-\{0,1\}[0-9]*\).*/\1/p' "$work/$name.out")
  PORT_HTTP=$(sed -n 's/.*http_port=\(-\{0,1\}[0-9]*\).*/\1/p' "$work/$name.out")
}

start square "$build/sdk/examples/square" --host=127.0.0.1 --grpc-port=0 --http-port=0 \
  --http-threads="$http_threads"
square_pid=${pids[-1]}
square_grpc=$PORT_GRPC
square_http=$PORT_HTTP
start echo "$build/bench/sdk/sdk_bench_echo_server" 0
echo_grpc=$PORT_GRPC
node_grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FUNCTION_URI=$root/bench/sdk/node_square.js GRPC_PORT=$node_grpc node "$invoker" \
  >"$work/node.out" 2>"$work/node.err" &
pids+=($!)
start nodehttp node "$root/bench/sdk/node_http_echo.js"
nodehttp_pid=${pids[-1]}
node_http=$PORT_HTTP

load() { "$build/bench/sdk/sdk_bench_riff_load" "127.0.0.1:$1" "$frames" | sed -n 's/msgs_per_s=\([0-9]*\).*/\1/p'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# hload <port> <server pid> <cpu file> [depth]: prints req/s, appends the server's CPU
# us/request.
hload() {
  local t0 t1 rps
  t0=$(ticks "$2")
  rps=$("$build/bench/sdk/sdk_bench_http_load" "$1" "$http_connections" "$http_seconds" "${4:-1}" |
    sed -n 's/reqs_per_s=\([0-9]*\).*/\1/p')
  t1=$(ticks "$2")
  awk -v d="$((t1 - t0))" -v t="$tck" -v r="$rps" -v s="$http_seconds" \
    'BEGIN{printf "%.2f\n", d / t * 1e6 / (r * s)}' >>"$3"
  echo "$rps"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Warm-up (connections, JIT, allocators).
load "$echo_grpc" >/dev/null; load "$square_grpc" >/dev/null; load "$node_grpc" >/dev/null

: >"$work/echo" >"$work/square" >"$work/node" >"$work/hsquare" >"$work/hnode"
: >"$work/csquare" >"$work/cnode" >"$work/psquare" >"$work/pnode" >"$work/cpsquare" >"$work/cpnode"
for i in $(seq 1 "$runs"); do
  load "$echo_grpc" >>"$work/echo"
  load "$square_grpc" >>"$work/square"
  load "$node_grpc" >>"$work/node"
  hload "$square_http" "$square_pid" "$work/csquare" >>"$work/hsquare"
  hload "$node_http" "$nodehttp_pid" "$work/cnode" >>"$work/hnode"
  hload "$square_http" "$square_pid" "$work/cpsquare" "$http_pipeline" >>"$work/psquare"
  hload "$node_http" "$nodehttp_pid" "$work/cpnode" "$http_pipeline" >>"$work/pnode"
  echo "round $i: echo=$(tail -1 "$work/echo") square=$(tail -1 "$work/square") node=$(tail -1 "$work/node") http_square=$(tail -1 "$work/hsquare") http_node_echo=$(tail -1 "$work/hnode") pipelined: http_square=$(tail -1 "$work/psquare") http_node_echo=$(tail -1 "$work/pnode")" >&2
done

e=$(median <"$work/echo"); s=$(median <"$work/square"); n=$(median <"$work/node")
hs=$(median <"$work/hsquare"); hn=$(median <"$work/hnode")
cs=$(median <"$work/csquare"); cn=$(median <"$work/cnode")
ps=$(median <"$work/psquare"); pn=$(median <"$work/pnode")
cps=$(median <"$work/cpsquare"); cpn=$(median <"$work/cpnode")
echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "riff-rpc, one Invoke stream, $frames x 64-byte JSON numbers, median of $runs runs (msgs/s):"
printf '  %-34s %10s\n' "raw C++ gRPC bidi echo" "$e"
printf '  %-34s %10s   %5.2fx of echo\n' "runnel square (C++ SDK)" "$s" "$(awk -v a="$s" -v b="$e" 'BEGIN{print a/b}')"
printf '  %-34s %10s   square is %5.2fx\n' "riff Node invoker (x => x ** 2)" "$n" "$(awk -v a="$s" -v b="$n" 'BEGIN{print a/b}')"
echo "HTTP/1.1 keep-alive, $http_connections connections, ${http_seconds}s, median of $runs runs (req/s, server CPU us/req):"
printf '  %-34s %10s %8s\n' "runnel square ($http_threads I/O threads)" "$hs" "$cs"
printf '  %-34s %10s %8s   square is %5.2fx (CPU/req: %5.2fx less)\n' "Node http echo" "$hn" "$cn" \
  "$(awk -v a="$hs" -v b="$hn" 'BEGIN{print a/b}')" "$(awk -v a="$cn" -v b="$cs" 'BEGIN{print a/b}')"
echo "HTTP/1.1 keep-alive, $http_connections connections x $http_pipeline pipelined, ${http_seconds}s, median of $runs runs:"
printf '  %-34s %10s %8s\n' "runnel square ($http_threads I/O threads)" "$ps" "$cps"
printf '  %-34s %10s %8s   square is %5.2fx (CPU/req: %5.2fx less)\n' "Node http echo" "$pn" "$cpn" \
  "$(awk -v a="$ps" -v b="$pn" 'BEGIN{print a/b}')" "$(awk -v a="$cpn" -v b="$cps" 'BEGIN{print a/b}')"
