#!/usr/bin/env bash
# `jisu run` and `jisu bench` with --device cuda where CUDA cannot run (a build without it, or
# no GPU visible): exit status 1 (not a signal) and exactly one line on stderr starting with
# "error:". With a GPU visible the commands must succeed instead. --device cuda --gpu-layers 0
# runs on the CPU everywhere.
#   bash tests/e2e/device_errors.sh path/to/jisu path/to/source-dir
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2
  exit 2
fi
JISU=$1
FIXTURES=${JISU_SHARED_DIR:-$2/../shared}/fixtures
MODEL=$FIXTURES/models/tiny-llama-s1.q8_0.gguf
if [ ! -f "$MODEL" ]; then
  echo "FAIL: fixture $MODEL not found (set JISU_SHARED_DIR?)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

gpu_visible=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then gpu_visible=1; fi

check() {
  local name=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local status=$?
  if [ $gpu_visible = 1 ]; then
    if [ $status -ne 0 ]; then
      echo "FAIL: $name: exit $status with a GPU visible: $(cat "$work/err")" >&2
      failures=$((failures + 1))
    fi
    return
  fi
  local lines
  lines=$(wc -l <"$work/err")
  if [ $status -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q '^error: ' "$work/err"; then
    echo "FAIL: $name: exit $status, $lines stderr lines: $(cat "$work/err")" >&2
    failures=$((failures + 1))
  fi
}

check "run --device cuda" "$JISU" run -m "$MODEL" --device cuda -n 2 -p hello
check "bench --device cuda" "$JISU" bench -m "$MODEL" --device cuda -p 8 -n 2 -r 1 --no-probe

if ! "$JISU" run -m "$MODEL" --device cuda --gpu-layers 0 -n 2 -p hello -q >/dev/null 2>"$work/err"; then
  echo "FAIL: --gpu-layers 0 must run on the CPU: $(cat "$work/err")" >&2
  failures=$((failures + 1))
fi

if [ $failures -ne 0 ]; then exit 1; fi
echo "device errors: ok"
