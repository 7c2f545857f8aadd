#!/usr/bin/env bash
# The process grid under mpirun (docs/distributed.md): --tp 2 and --pp 2 logits of every fixture
# model against the fixtures' exact reference, --tp 2 --pp 2 under -np 4, greedy decoding
# through a grid server against llama.cpp's greedy output, the bad-input errors on every rank,
# and a killed or stopped rank ending the others with an error. Skipped (77) without mpirun or
# without MPI in the build.
#   bash tests/e2e/grid_parallel.sh path/to/jisu path/to/source-dir
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2
  exit 2
fi
if ! command -v mpirun >/dev/null; then
  echo "SKIP: mpirun not found (scripts/install_test_deps.sh installs openmpi-bin)"
  exit 77
fi
if "$1" logits --tokens 1 -o /dev/null --tp 2 2>&1 | grep -q "built with MPI"; then
  echo "SKIP: this jisu was built without MPI"
  exit 77
fi
# Under AddressSanitizer: OpenMPI's allocations at start are never freed (see the file). Some of
# them come from its plugins, which it unloads before LeakSanitizer runs: their stacks end in an
# "<unknown module>" that no suppression can name (seen with Debian 12's OpenMPI 4.1), so leak
# checking is off for the ranks; ASan's memory-error checks stay on, and the one-process tests
# leak-check the same forward pass, scheduler and server code.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(cd "$(dirname "$0")" && pwd)/openmpi.lsan.supp"
[[ -n ${ASAN_OPTIONS:-} ]] && export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
exec python3 "$(dirname "$0")/grid_parallel.py" "$1" "${JISU_SHARED_DIR:-$2/../shared}/fixtures"
