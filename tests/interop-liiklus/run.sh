#!/usr/bin/env bash
# liiklus interop test driver: starts runnel-gateway on the file log on free loopback ports, runs
# the Node liiklus client (liiklus_client.js) against it, then stops the gateway with SIGTERM and
# expects a clean exit. Every wait is bounded.
# Usage: run.sh <runnel-gateway binary> <work dir> <LiiklusService.proto>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gateway=$1
work=$2
proto=$3
rm -rf "$work"
mkdir -p "$work"

"$gateway" --host 127.0.0.1 --port 0 --http-host 127.0.0.1 --http-port 0 --store file \
  --data-dir "$work/data" >"$work/gateway.log" 2>&1 &
gw=$!
cleanup() {
  if kill -0 "$gw" 2>/dev/null; then kill -KILL "$gw" 2>/dev/null || true; fi
  wait "$gw" 2>/dev/null || true
}
trap cleanup EXIT

serving=""
for _ in $(seq 1 300); do
  serving=$(grep -m1 "runnel-gateway serving" "$work/gateway.log" || true)
  [ -n "$serving" ] && break
  if ! kill -0 "$gw" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$serving" ]; then
  echo "runnel-gateway did not start:" >&2
  cat "$work/gateway.log" >&2
  exit 1
fi
grpc_port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' <<<"$serving")
http_port=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' <<<"$serving")

status=0
timeout 120 node "$here/liiklus_client.js" "$proto" "127.0.0.1:$grpc_port" "127.0.0.1:$http_port" \
  50 || status=$?
if [ "$status" != 0 ]; then
  echo "liiklus interop check failed (exit $status); gateway log:" >&2
  tail -50 "$work/gateway.log" >&2
  exit 1
fi

# Graceful shutdown: SIGTERM, exit 0 within the grace period.
kill -TERM "$gw"
for _ in $(seq 1 200); do
  kill -0 "$gw" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$gw" 2>/dev/null; then
  echo "runnel-gateway did not exit within 20 s of SIGTERM" >&2
  exit 1
fi
gw_status=0
wait "$gw" || gw_status=$?
if [ "$gw_status" != 0 ]; then
  echo "runnel-gateway exited with $gw_status after SIGTERM" >&2
  exit 1
fi
