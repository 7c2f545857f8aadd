#!/usr/bin/env bash
# Re-trains the bundled default model (models/demo-shakespeare.q8_0.gguf) with jisu's own trainer:
# the demo recipe (../shared/models/demo-shakespeare/README.md: dim 256, 4 layers, 8/4 heads,
# ffn 768, 766 AdamW steps of 16 x 128 tokens on the first 90 % of tiny-shakespeare, seed 1),
# then Q8_0 by `jisu quantize`, then the perplexity of both files on valid.txt (-c 128).
# Deterministic for the thread count (THREADS, default 2): the same command writes the same files.
# STEPS (environment) shortens the run for a smoke test only.
#   scripts/train_bundled_model.sh [JISU] [WORKDIR]      # ~25 min on 2 idle cores
set -euo pipefail
jisu=${1:-build/jisu}
work=${2:-$(mktemp -d)}
threads=${THREADS:-2}
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
demo=$shared/models/demo-shakespeare
valid=$demo/valid.txt
head -c $(($(stat -c %s "$shared/corpora/tinyshakespeare.txt") - $(stat -c %s "$valid"))) \
  "$shared/corpora/tinyshakespeare.txt" > "$work/train.txt"
"$jisu" train --tokenizer "$demo/model.f32.gguf" -f "$work/train.txt" --valid "$valid" --shape demo --ctx 128 \
  --batch 16 --steps "${STEPS:-766}" --lr 2e-3 --warmup 50 --weight-decay 0.1 --seed 1 --save-every 50 \
  -t "$threads" -o "$work/demo-jisu.f32.gguf"
"$jisu" quantize "$work/demo-jisu.f32.gguf" "$work/demo-shakespeare.q8_0.gguf" Q8_0
for file in "$work/demo-jisu.f32.gguf" "$work/demo-shakespeare.q8_0.gguf"; do
  echo "$file: $("$jisu" perplexity -t "$threads" -m "$file" -f "$valid" -c 128 2>&1 | grep 'Final estimate')"
done
