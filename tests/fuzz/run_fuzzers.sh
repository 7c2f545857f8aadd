#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, into build-fuzz/) and runs each for
# SECONDS (default 20), seeded from ../shared/fixtures and tests/. A crash, a leak, a time-out
# (one input running past 10 s) or memory past 2 GB fails the run; its input is saved as
# build-fuzz/findings/<target>/crash-* (make it a regression test, then delete it).
#   tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]       e.g. run_fuzzers.sh 3600 chat_template
# Prints, per target, the executions and executions per second of the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(gguf tokenizer_json sentencepiece chat_template openai_request grammar safetensors)
shared=${JISU_SHARED_DIR:-$PWD/../shared}

# Only the fuzz targets and what they link (the parsers, not the kernels).
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "fuzz_$target"); done
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DJISU_FUZZ=ON -DJISU_SANITIZE=ON \
  -DJISU_BUILD_TESTS=OFF -DJISU_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$(nproc)" "${build_targets[@]}"

# seeds TARGET: the seed files of one target (the corpus directory keeps what fuzzing adds).
seeds() {
  case $1 in
    gguf) ls "$shared"/fixtures/tokenizers/*.gguf "$shared"/fixtures/models/*q4_k_m.gguf models/*.gguf ;;
    tokenizer_json) ls tests/fuzz/seeds/tokenizer_json/* ;;
    sentencepiece) ls "$shared"/fixtures/tokenizers/*.model ;;
    chat_template) ls "$shared"/fixtures/chat-templates/*.jinja tests/chat_templates/templates/* ;;
    openai_request) ls tests/fuzz/seeds/openai_request/* ;;
    grammar) ls tests/fuzz/seeds/grammar/* ;;
    safetensors) ls tests/fuzz/seeds/safetensors/* ;;
  esac 2>/dev/null || true
}

failed=0
for target in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$target
  findings=build-fuzz/findings/$target
  mkdir -p "$corpus" "$findings"
  seeds "$target" | while read -r seed; do cp -n "$seed" "$corpus/" 2>/dev/null || true; done
  log=build-fuzz/findings/$target.log
  # Big model files are seeds for their first bytes only: the header, metadata and tensor table.
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/tests/fuzz/fuzz_$target" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz_$target: ${runs:-?} executions in ${seconds} s (${rate:-?}/s), no findings"
  else
    echo "fuzz_$target: FINDING (see $log and $findings/)" >&2
    grep -m3 -E "ERROR|SUMMARY|Exception|deadly" "$log" >&2 || tail -20 "$log" >&2
    failed=1
  fi
done
exit $failed
