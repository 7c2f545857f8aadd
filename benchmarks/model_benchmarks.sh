#!/usr/bin/env bash
# Model-level speed table of issue 3: makes random-weight TinyLlama-shape models (speed does not
# depend on weight values) and runs `jisu bench` on each: prompt processing, generation with the
# roofline column, and batched decode. Reports only; nothing is asserted.
#   benchmarks/model_benchmarks.sh [MODEL_DIR] [THREADS]
# MODEL_DIR keeps the made models between runs (default: /tmp/jisu-bench-models). Run it on a
# quiet machine: other processes halve the numbers of a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${1:-/tmp/jisu-bench-models}
threads=${2:-2}
jisu=${JISU:-build/jisu}
mkdir -p "$model_dir"
for type in q4_0 q8_0 q4_k_m f16; do
  model="$model_dir/tinyllama-$type.gguf"
  [ -f "$model" ] || "$jisu" make-model --shape tinyllama --type "$type" -o "$model" -t "$threads" >/dev/null
  echo "## $type"
  echo '```'
  echo "$ $jisu bench -m $model -t $threads -p 128 -n 32 -r 3"
  "$jisu" bench -m "$model" -t "$threads" -p 128 -n 32 -r 3
  echo "$ $jisu bench -m $model -t $threads -p 0 -n 16 -r 2 --batch 8 --no-probe"
  "$jisu" bench -m "$model" -t "$threads" -p 0 -n 16 -r 2 --batch 8 --no-probe | grep '^| tg'
  echo '```'
done
