#!/usr/bin/env bash
# Configures and builds jisu into build/ (Release). Extra arguments go to cmake's configure.
# JISU_BUILD_DIR picks another build folder. When ccache is installed it is used, with paths
# taken relative to the checkout so that worktrees and fresh clones share cached objects.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${JISU_BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
