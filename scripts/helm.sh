#!/usr/bin/env bash
# Prints the path of the helm binary the chart tests use, installing a pinned helm from the Go
# module proxy (go install) into .cache/tools/bin when it is not there yet. Fails, loudly, when
# it cannot: the chart tests must not be skipped for want of helm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v3.16.4
bin="$root/.cache/tools/bin/helm"
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "helm.sh: helm $version is installed with 'go install'; no go toolchain found (apt-get install golang-go, or put go on PATH)" >&2
    exit 1
  fi
  echo "helm.sh: installing helm $version into $root/.cache/tools/bin (go install, a few minutes)" >&2
  GOBIN="$root/.cache/tools/bin" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$version" >&2
fi
"$bin" version --short >/dev/null
echo "$bin"
