#!/usr/bin/env bash
# Makes docs/quantization.md's table: every `jisu quantize` type of the demo model's f32 file,
# without and with an importance matrix (calibrated on the training part of tiny-shakespeare),
# measured on the held-out valid.txt at -c 128: file size, perplexity, mean KL divergence
# against the f32 model and the perplexity pass's speed on one thread. Markdown rows on stdout. The importance
# matrix uses the first 400 chunks of 128 tokens (51,200 tokens) of the training text.
# TYPES (environment) picks the rows; an imatrix or base file already in WORKDIR is reused.
#   scripts/quantization_table.sh [JISU] [WORKDIR]
set -euo pipefail
jisu=${1:-build/jisu}
work=${2:-$(mktemp -d)}
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
demo=$shared/models/demo-shakespeare
valid=$demo/valid.txt
# The training part: tiny-shakespeare without its held-out tail (valid.txt).
head -c $(($(stat -c %s "$shared/corpora/tinyshakespeare.txt") - $(stat -c %s "$valid"))) \
  "$shared/corpora/tinyshakespeare.txt" > "$work/train.txt"
[ -f "$work/imatrix.gguf" ] || "$jisu" imatrix -t 1 -m "$demo/model.f32.gguf" -f "$work/train.txt" -c 128 --chunks 400 -o "$work/imatrix.gguf" 2>/dev/null
[ -f "$work/base.kld" ] || "$jisu" perplexity -t 1 -m "$demo/model.f32.gguf" -f "$valid" -c 128 --kl-divergence-base "$work/base.kld" >/dev/null 2>&1

measure() {  # FILE -> "size | PPL ± err | KLD ± err | tokens/s"
  local out
  out=$("$jisu" perplexity -t 1 -m "$1" -f "$valid" -c 128 --kl-divergence-base "$work/base.kld" --kl-divergence 2>&1)
  local ppl kld speed
  ppl=$(grep 'Final estimate' <<<"$out" | awk '{print $5 " ± " $7}')
  kld=$(grep 'Mean    KLD' <<<"$out" | awk '{print $3 " ± " $5}')
  speed=$(grep -o '([0-9.]* tokens/s)' <<<"$out" | tr -d '(' | awk '{print $1}')
  echo "$(stat -c %s "$1") | $ppl | $kld | $speed"
}

types=${TYPES:-f16 bf16 q8_0 q6_k q5_k_m q5_k_s q5_1 q5_0 q4_k_m q4_k_s q4_1 q4_0 iq4_nl q3_k_l q3_k_m q3_k_s q2_k}
if [ -z "${TYPES:-}" ]; then
  echo "| type | bytes | PPL | KLD vs f32 | tokens/s | with --imatrix: PPL | KLD |"
  echo "|---|---|---|---|---|---|---|"
  echo "| f32 (base) | $(measure "$demo/model.f32.gguf") | | |"
fi
for type in $types; do
  "$jisu" quantize -t 1 "$demo/model.f32.gguf" "$work/$type.gguf" "$type" 2>/dev/null
  plain=$(measure "$work/$type.gguf")
  with=" | "
  if [[ $type == q* || $type == iq* || $type == cb4 || $type == i8_row ]]; then
    "$jisu" quantize -t 1 "$demo/model.f32.gguf" "$work/$type.imatrix.gguf" "$type" --imatrix "$work/imatrix.gguf" 2>/dev/null
    with=$(measure "$work/$type.imatrix.gguf" | awk -F' [|] ' '{print $2 " | " $3}')
  fi
  echo "| $type | $plain | $with |"
done
