#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one command, for a machine that has one (CI has none):
# every CUDA test in its own process (a crash names its test and the others still run), the
# device-error e2e test, and `jisu bench --device cuda` on random-weight TinyLlama and Llama-8B
# shapes. Prints one summary table last.
#   scripts/gpu_check.sh [BUILD_DIR]    (default build-cuda; JISU_SHARED_DIR as for the tests)
set -u
cd "$(dirname "$0")/.."
build=${1:-build-cuda}
jisu=$build/jisu
tests=$build/tests/jisu_cuda_tests
for f in "$jisu" "$tests"; do
  [[ -x $f ]] || { echo "error: $f not found (build with JISU_BUILD_DIR=$build scripts/build.sh -DJISU_CUDA=ON)" >&2; exit 1; }
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()

passed=0 failed=0 crashed=0
for name in $("$tests" --gtest_list_tests | awk '/^[^ ]/{suite=$1} /^  /{print suite $1}'); do
  timeout 300 "$tests" --gtest_filter="$name" >"$work/test.log" 2>&1
  rc=$?
  if [[ $rc == 0 ]]; then
    grep -q "\[  SKIPPED \] 1 test" "$work/test.log" && { echo "skipped: $name (no CUDA device?)"; continue; }
    passed=$((passed + 1))
  elif grep -q "\[  FAILED  \] 1 test" "$work/test.log"; then
    failed=$((failed + 1)); echo "FAILED: $name"; grep -E "Failure|rel_l2|Expected|actual" "$work/test.log" | head -8
  else
    crashed=$((crashed + 1)); echo "CRASHED (exit $rc): $name"; tail -5 "$work/test.log"
  fi
  grep -h "rel_l2_vs_exact" "$work/test.log"
done
summary+=("cuda tests: $passed passed, $failed failed, $crashed crashed")

if bash tests/e2e/device_errors.sh "$jisu" . >"$work/errors.log" 2>&1; then
  summary+=("device errors e2e: ok")
else
  summary+=("device errors e2e: FAILED"); cat "$work/errors.log"
fi

gpu_visible=0
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU && gpu_visible=1
[[ $gpu_visible == 1 ]] || summary+=("benchmarks: skipped, no GPU visible")
for spec in $([[ $gpu_visible == 1 ]] && echo tinyllama:q4_0 tinyllama:q8_0 tinyllama:f16 tinyllama:q4_k_m llama-8b:q4_0); do
  model=$work/${spec/:/-}.gguf
  "$jisu" make-model --shape "${spec%:*}" --type "${spec#*:}" -o "$model" >/dev/null 2>&1 || { summary+=("$spec: make-model failed"); continue; }
  "$jisu" bench -m "$model" --device cuda -p 512 -n 128 -r 5 >"$work/bench.log" 2>&1
  probe=$(grep -o "device copy probe [0-9.]* GB/s" "$work/bench.log")
  rows=$(grep -E "^\| (pp|tg)" "$work/bench.log" | awk -F'|' '{printf "%s %s t/s (%s%% of probe); ", $2, $3, $6}' | tr -s ' ')
  summary+=("$spec: ${rows:-bench failed: $(tail -1 "$work/bench.log")} $probe")
  rm -f "$model"
done
printf '%s\n' "" "== summary" "${summary[@]}"
