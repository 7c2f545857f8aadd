#!/usr/bin/env bash
# Quick start, command 2: install what the build and the tests need when missing (also
# Chromium, clang and test-only Python packages), build everything, and run the whole test
# suite: unit, fixture (every ISA path the CPU has), end-to-end, then again under ASan/UBSan;
# then a 2-minute soak of the server and 20 s of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_test_deps.sh
jobs=$(nproc)

echo "== release build and tests"
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

echo "== sanitizer build (ASan + UBSan) and tests"
JISU_BUILD_DIR=build-sanitize scripts/build.sh -DJISU_SANITIZE=ON -DJISU_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize --output-on-failure -j "$jobs" --timeout 1800

echo "== soak: jisu serve under 16 clients of mixed, cancelled, malformed and oversized requests"
python3 tests/tools/soak.py --jisu build/jisu --model models/demo-shakespeare.q8_0.gguf --minutes 2

echo "== fuzzing: each parser of untrusted input for 20 s (clang, ASan + UBSan)"
tests/fuzz/run_fuzzers.sh 20
