#!/usr/bin/env bash
# Installs the Debian packages that building and running jisu needs, when missing, plus any
# packages named as arguments (scripts/install_test_deps.sh passes the test suite's). Touches
# no Python environment. Safe to run repeatedly.
set -euo pipefail

# libeigen3-dev: SVD and Cholesky of jisu lowrank. libopenmpi-dev / openmpi-bin: the process grid
# (--tp/--pp under mpirun, docs/distributed.md).
debian_packages=(cmake ninja-build g++ nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libeigen3-dev libopenmpi-dev openmpi-bin "$@")
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
