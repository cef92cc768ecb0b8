# Shared by the samples' run.sh scripts (sourced, not run): finds or builds Runnel, gives the
# sample a private local control plane, and stops it on exit.
#
# Environment: RUNNEL_BUILD_DIR (default: build, where scripts/quickstart.sh builds),
# RUNNEL_SAMPLE_BUILD=0 to use the build as it is (tests do), RUNNEL_HOME (default: a temporary
# directory removed on exit).

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${RUNNEL_BUILD_DIR:-$repo/build}

# sample_build TARGET...: brings the build up to date for these targets.
sample_build() {
  if [ "${RUNNEL_SAMPLE_BUILD:-1}" != 0 ]; then
    if [ ! -f "$build_dir/build.ninja" ]; then
      echo "No Runnel build in $build_dir: run scripts/quickstart.sh first (or set RUNNEL_BUILD_DIR)." >&2
      exit 1
    fi
    echo "Building $* in $build_dir ..." >&2
    ninja -C "$build_dir" runnel runnel-gateway runnel-processor "$@" >/dev/null
  fi
  build_dir=$(cd "$build_dir" && pwd)
  runnel_bin="$build_dir/cli/runnel"
}

# sample_home: a private RUNNEL_HOME, and `runnel down` (plus cleanup) when the script exits.
sample_home() {
  export RUNNEL_HOME
  if [ -z "${RUNNEL_HOME:-}" ]; then
    RUNNEL_HOME=$(mktemp -d)
    sample_remove_home=1
  fi
  trap sample_cleanup EXIT
  trap 'exit 130' INT TERM
}

sample_cleanup() {
  local pids
  pids=$(jobs -p)
  [ -n "$pids" ] && kill $pids 2>/dev/null
  "$runnel_bin" down >/dev/null 2>&1 || true
  if [ "${sample_remove_home:-0}" = 1 ]; then rm -rf "$RUNNEL_HOME"; fi
}

# run ARGS...: prints and runs a runnel command.
run() {
  echo "\$ runnel $*"
  "$runnel_bin" "$@"
}

# sample_wait_processed PROCESSOR RECORDS SECONDS: waits until PROCESSOR has read RECORDS records
# and has no window open (every window fired, its outputs published); prints how many outputs it
# published. Fails after SECONDS.
sample_wait_processed() {
  local name=$1 want=$2 deadline=$((SECONDS + $3)) status in out open
  while true; do
    status=$("$runnel_bin" processor status "$name" 2>/dev/null || true)
    in=$(awk '$1 == "in:" {print $2}' <<<"$status")
    out=$(awk '$1 == "out:" {print $2}' <<<"$status")
    open=$(awk '$1 == "openWindows:" {print $2}' <<<"$status")
    if [ "${in:-0}" -ge "$want" ] && [ "${open:-1}" = 0 ]; then
      echo "$out"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "processor $name: not done after $3s (want $want records in, no open window):" >&2
      echo "$status" >&2
      return 1
    fi
    sleep 0.5
  done
}
