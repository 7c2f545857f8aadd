#!/usr/bin/env bash
# Quick start, command 2: install what the build and the tests need when missing (also
# Chromium, clang and test-only Python packages), build everything, and run the whole test
# suite: unit, fixture (every ISA path the CPU has), end-to-end, then again under ASan/UBSan;
# then a 2-minute soak of the server and 20 s of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_test_deps.sh
jobs=$(nproc)

# Runs ctest in build dir $1 (further arguments go to ctest). One test is known to fail now and
# then for a reason not yet found: e2e.grid_parallel (mpirun ranks; 1 failure in 6 ASan runs on
# 2 loaded cores, 2026-12-03). When it is the only failure it runs once more, after its first
# output is printed above; any other failure, or a second one of it, fails the suite.
run_suite() {
  local dir=$1
  shift
  if ctest --test-dir "$dir" --output-on-failure "$@"; then return 0; fi
  local failed
  failed=$(cut -d: -f2 "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null || true)
  if [ "$failed" != "e2e.grid_parallel" ]; then return 1; fi
  echo "== e2e.grid_parallel failed alone; running it once more (a known intermittent failure)"
  ctest --test-dir "$dir" --output-on-failure -R '^e2e\.grid_parallel$' "$@"
}

echo "== release build and tests"
scripts/build.sh
run_suite build -j "$jobs" --timeout 900

echo "== sanitizer build (ASan + UBSan) and tests"
JISU_BUILD_DIR=build-sanitize scripts/build.sh -DJISU_SANITIZE=ON -DJISU_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-sanitize -j "$jobs" --timeout 1800

echo "== soak: jisu serve under 16 clients of mixed, cancelled, malformed and oversized requests"
python3 tests/tools/soak.py --jisu build/jisu --model models/demo-shakespeare.q8_0.gguf --minutes 2

echo "== fuzzing: each parser of untrusted input for 20 s (clang, ASan + UBSan)"
tests/fuzz/run_fuzzers.sh 20
