#!/usr/bin/env bash
# The README's main job: installs what Runnel needs, builds it, and runs a small job on the
# embedded file log: starts runnel-gateway, creates a stream, publishes a few records, reads them
# back and prints them, then stops the gateway gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
build_dir=${RUNNEL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
ninja -C "$build_dir" runnel-gateway >/dev/null

work=$(mktemp -d)
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill -TERM "$gateway_pid"
    wait "$gateway_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Free loopback ports are picked by the gateway itself (port 0) and read back from its log.
"$build_dir/gateway/runnel-gateway" --store file --data-dir "$work/data" \
  --host 127.0.0.1 --port 0 --http-host 127.0.0.1 --http-port 0 2>"$work/gateway.log" &
gateway_pid=$!
for _ in $(seq 1 100); do
  grep -q "runnel-gateway serving" "$work/gateway.log" && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
  sleep 0.1
done
line=$(grep "runnel-gateway serving" "$work/gateway.log") || { cat "$work/gateway.log" >&2; exit 1; }
http_port=$(sed -E 's/.*http_port=([0-9]+).*/\1/' <<<"$line")
grpc_port=$(sed -E 's/.*grpc_port=([0-9]+).*/\1/' <<<"$line")
api="http://127.0.0.1:$http_port"
echo "runnel-gateway is up: gRPC (liiklus API) on 127.0.0.1:$grpc_port, HTTP on $api"
echo "  data in $work/data (embedded durable file log)"

echo
echo "\$ POST /streams  {\"name\":\"greetings\",\"content_type\":\"text/plain\"}"
curl -sS --fail-with-body -X POST "$api/streams" -H 'Content-Type: application/json' \
  -d '{"name":"greetings","partitions":1,"content_type":"text/plain"}'
for word in hello hola bonjour; do
  echo "\$ POST /streams/greetings  '$word'"
  curl -sS --fail-with-body -X POST "$api/streams/greetings" -H 'Content-Type: text/plain' -d "$word"
done

echo
echo "\$ GET /streams/greetings/records?partition=0&offset=0"
records=$(curl -sS --fail-with-body "$api/streams/greetings/records?partition=0&offset=0")
python3 - "$records" <<'PY'
import json, sys
for r in json.loads(sys.argv[1])["records"]:
    print(f'  offset {r["offset"]}: {r["data"]!r} ({r["content_type"]}, id {r["id"]})')
PY
