#!/usr/bin/env bash
# Installs every Debian package Runnel needs to build, test and benchmark. Idempotent: packages
# already present are left alone, and apt is only consulted when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librdkafka-dev libboost-dev libboost-system-dev nlohmann-json3-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openjdk-17-jre-headless maven nodejs npm curl python3 python3-yaml
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node, Java, Maven and Go may come from elsewhere on a machine (a JDK, Node or Go outside apt):
# count a working command as present rather than pulling a second copy through apt.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || filtered+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || filtered+=("$p") ;;
    openjdk-17-jre-headless) command -v java >/dev/null 2>&1 || filtered+=("$p") ;;
    maven) command -v mvn >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done

if ((${#filtered[@]})); then
  echo "setup: installing ${filtered[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
else
  echo "setup: all packages present" >&2
fi
