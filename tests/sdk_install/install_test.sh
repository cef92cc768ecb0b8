#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/sdk_install/hello against it
# with find_package(Runnel CONFIG), runs the function and checks one HTTP call and a clean
# SIGTERM shutdown. Usage: install_test.sh <build-dir> <source-dir-of-hello>
set -euo pipefail
build_dir=$1
hello_src=$2
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/runnel/sdk/server.h"
if grep -rlE '#include <(grpc|google/protobuf|boost)' "$work/prefix/include/runnel"; then
  echo "public SDK headers include gRPC, protobuf or Boost" >&2
  exit 1
fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$hello_src" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null

"$work/build/hello" --host=127.0.0.1 --grpc-port=0 --http-port=0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "runnel-sdk: ready" "$work/out" && break
  sleep 0.1
done
port=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$work/out")
test -n "$port"
body=$(curl -sS --max-time 10 -X POST -H 'Content-Type: text/plain' -H 'Accept: text/plain' \
  --data-binary 'runnel' "http://127.0.0.1:$port/")
if [ "$body" != "hello runnel" ]; then
  echo "unexpected reply: '$body'" >&2
  exit 1
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" != 0 ]; then
  echo "function exited with $status after SIGTERM" >&2
  cat "$work/err" >&2
  exit 1
fi
echo "out-of-tree function built against the installed SDK and served a request"
