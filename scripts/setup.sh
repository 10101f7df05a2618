#!/usr/bin/env bash
# Installs the Debian 12 packages forkjournal needs, only those missing.
# Safe to run again; runs apt-get only when something is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  liblmdb-dev lmdb-utils
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev libcli11-dev libgtest-dev
  libsystemd-dev prometheus-cpp-dev
  clang-14 libclang-rt-14-dev
  libbenchmark-dev libsqlite3-dev gnuplot-nox
  libxxhash-dev libseccomp-dev
  nats-server libnats-dev
  golang-go
  help2man lintian dpkg-dev fakeroot adduser systemd man-db
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
