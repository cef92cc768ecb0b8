#!/usr/bin/env bash
# The README's main job: installs what Runnel needs, builds it, and runs a small pipeline in local
# mode on the embedded file log, through the `runnel` CLI:
#   numbers ──▶ processor "square" (runnel-processor + the C++ SDK's square function) ──▶ squares
# It publishes a few numbers, prints the squares as they arrive, shows the processor's status and
# stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
build_dir=${RUNNEL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
ninja -C "$build_dir" runnel runnel-gateway runnel-processor sdk_example_square >/dev/null
build_dir=$(cd "$build_dir" && pwd)

# A private local control plane: its state, logs and file log live in a temporary RUNNEL_HOME.
export RUNNEL_HOME
RUNNEL_HOME=$(mktemp -d)
runnel="$build_dir/cli/runnel"
trap '"$runnel" down >/dev/null 2>&1 || true; rm -rf "$RUNNEL_HOME"' EXIT
run() {
  echo "\$ runnel $*"
  "$runnel" "$@"
}

run gateway create main
run stream create numbers --gateway main --content-type application/json
run stream create squares --gateway main --content-type application/json
run processor create square --function-cmd "$build_dir/sdk/examples/square" \
  --input numbers@earliest --output squares
run publish numbers --payload 1 --payload 2 --payload 3 --payload 4
run subscribe squares --from-beginning --max 4 --timeout 60s
# Inputs are acknowledged once their window's outputs are stored, a moment after the squares
# show up: give the acks up to 10 s, so that the status below shows the lag they leave (0).
for _ in $(seq 1 50); do
  "$runnel" processor status square 2>/dev/null | grep -q "lag: 0" && break
  sleep 0.2
done
run processor status square
