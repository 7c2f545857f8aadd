#!/usr/bin/env bash
# Configures and builds jisu into build/ (Release). Extra arguments go to cmake's configure.
# JISU_BUILD_DIR picks another build folder; JISU_BUILD_TARGET builds one target (e.g. jisu)
# instead of everything (the tests and benchmarks). When ccache is installed it is used, with paths
# taken relative to the checkout so that worktrees and fresh clones share cached objects.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${JISU_BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
# The CUDA toolkit's default place, when nvcc is not on PATH (CMake then finds it for the
# CUDA backend; JISU_CUDA=OFF in the arguments still turns the backend off).
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  launcher+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
target=()
[[ -n ${JISU_BUILD_TARGET:-} ]] && target=(--target "$JISU_BUILD_TARGET")
cmake --build "$build_dir" -j "$(nproc)" "${target[@]}"
