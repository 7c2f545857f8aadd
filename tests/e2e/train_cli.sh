#!/usr/bin/env bash
# jisu train / jisu distill end to end on a tiny shape (seconds):
#  - a trained checkpoint runs in the engine (jisu logits, jisu perplexity);
#  - resuming from a run stopped mid-way (--stop-at) writes the same file, byte for byte, as the
#    uninterrupted run (same seed and threads);
#  - the same command twice gives the same file (determinism);
#  - --init: a fine-tune starts from the file's weights (at learning rate 0 the output computes
#    the same logits as the file it started from) with a fresh optimizer;
#  - distillation from a quantized teacher (the bundled q8_0 model) into a shape and into a
#    --student file;
#  - bad inputs: --init with shape flags, with --resume, or of another vocabulary; a tokenizer file without a vocabulary, a text shorter than one batch, a student
#    of another vocabulary, a diverging run (NaN/inf) that stops with a clear line and keeps the
#    last good checkpoint.
#   bash tests/e2e/train_cli.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SOURCE=$(cd "$2" && pwd)
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
TOKENIZER=$SOURCE/models/demo-shakespeare.q8_0.gguf
OTHER_VOCAB=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-train-cli.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

head -c 60000 "$SHARED/models/demo-shakespeare/valid.txt" > train.txt
tail -c 8000 "$SHARED/models/demo-shakespeare/valid.txt" > valid.txt
SHAPE=(--dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 64 --ctx 16 --batch 4 -t 2 --log-every 1)
TINY=("${SHAPE[@]}" --lr 3e-3 --warmup 2 --eval-every 3 --eval-windows 4)

# 1. Train, then the engine runs the checkpoint.
"$JISU" train --tokenizer "$TOKENIZER" -f train.txt --valid valid.txt "${TINY[@]}" --steps 6 --save-every 3 \
  -o full.gguf 2> full.log || fail "train: $(tail -1 full.log)"
grep -q "valid perplexity" full.log || fail "train printed no validation perplexity"
grep -q "tokens/s" full.log && grep -q "ETA" full.log || fail "train printed no speed or ETA"
"$JISU" logits -m full.gguf --tokens 1,100,200,300 -o logits.bin 2> /dev/null || fail "jisu logits cannot run the checkpoint"
[[ $(stat -c %s logits.bin 2> /dev/null) == $((4 * 1024 * 4)) ]] || fail "logits of the checkpoint have the wrong size"
"$JISU" perplexity -m full.gguf -f valid.txt -c 16 2> /dev/null | grep -q "Final estimate" ||
  fail "jisu perplexity cannot run the checkpoint"

# 2. Determinism, and resume = uninterrupted (file identical).
"$JISU" train --tokenizer "$TOKENIZER" -f train.txt --valid valid.txt "${TINY[@]}" --steps 6 --save-every 3 \
  -o again.gguf 2> /dev/null || fail "second run"
cmp -s full.gguf again.gguf || fail "the same command twice wrote different files"
"$JISU" train --tokenizer "$TOKENIZER" -f train.txt --valid valid.txt "${TINY[@]}" --steps 6 --stop-at 3 -o half.gguf \
  2> /dev/null || fail "half run"
[[ -f half.gguf.optimizer ]] || fail "no optimizer state beside the checkpoint"
"$JISU" train --tokenizer "$TOKENIZER" -f train.txt --valid valid.txt "${TINY[@]}" --steps 6 --resume half.gguf \
  -o resumed.gguf 2> resumed.log || fail "resume: $(tail -1 resumed.log)"
cmp -s full.gguf resumed.gguf || fail "resumed run differs from the uninterrupted one"
cmp -s full.gguf.optimizer resumed.gguf.optimizer || fail "resumed optimizer state differs"

# 2b. Fine-tune with --init: the shape comes from the file; at lr 0 (no weight decay then
#     either) the weights are the file's, so the logits are too, bit for bit; at a real
#     learning rate the fine-tune starts at the file's loss, not at a random model's.
"$JISU" train --tokenizer "$TOKENIZER" --init full.gguf -f train.txt --ctx 16 --batch 4 -t 2 --steps 1 --lr 0 \
  --warmup 0 -o same.gguf 2> same.log || fail "train --init: $(tail -1 same.log)"
grep -q "dim 32, 2 layers, 4 heads, 2 KV heads, ffn 64" same.log || fail "--init did not take the file's shape"
"$JISU" logits -m same.gguf --tokens 1,100,200,300 -o same.bin 2> /dev/null || fail "jisu logits cannot run the fine-tune"
cmp -s logits.bin same.bin || fail "--init at lr 0 changed the model's logits"
"$JISU" train --tokenizer "$TOKENIZER" --init full.gguf -f train.txt --ctx 16 --batch 4 -t 2 --steps 2 --lr 3e-3 \
  --warmup 0 --log-every 1 -o tuned.gguf 2> tuned.log || fail "train --init: $(tail -1 tuned.log)"
[[ -f tuned.gguf.optimizer ]] || fail "no optimizer state beside the fine-tune"
awk -v a="$(awk '/^step 1\//{print $4}' tuned.log)" -v b="$(awk '/^step 1\//{print $4}' full.log)" \
  'BEGIN { exit !(a + 0 < b + 0) }' || fail "the fine-tune's first loss is not below a fresh model's: $(grep '^step 1/' tuned.log full.log)"

# 3. Distillation from a quantized teacher: into a shape, and into a --student file.
"$JISU" distill --teacher "$TOKENIZER" --dim 32 --layers 1 --heads 4 --kv-heads 2 --ffn 64 --ctx 16 --batch 2 \
  --steps 2 --temperature 2 --alpha 0.5 -t 2 -f train.txt -o student.gguf 2> distill.log ||
  fail "distill into a shape: $(tail -1 distill.log)"
"$JISU" distill --teacher "$TOKENIZER" --student full.gguf --ctx 16 --batch 2 --steps 2 -t 2 -f train.txt \
  -o student2.gguf 2> distill2.log || fail "distill --student: $(tail -1 distill2.log)"
"$JISU" logits -m student2.gguf --tokens 1,2,3 -o s.bin 2> /dev/null || fail "engine cannot run the student"

# 3b. Recovery after structured pruning: the pruned student (fewer heads of the same width,
#     half the FFN) distils from its original (the F32 checkpoint of 1.) in one command.
"$JISU" prune --structured --ffn-keep 0.5 --heads-keep 0.5 -m full.gguf --calib train.txt --calib-chunks 2 \
  -t 2 -o pruned.gguf 2> prune.log || fail "structured prune: $(tail -1 prune.log)"
"$JISU" distill --teacher full.gguf --student pruned.gguf --ctx 16 --batch 2 --steps 2 -t 2 -f train.txt \
  -o recovered.gguf 2> recovered.log || fail "distill into the pruned student: $(tail -1 recovered.log)"
"$JISU" perplexity -m recovered.gguf -f valid.txt -c 16 2> /dev/null | grep -q "Final estimate" ||
  fail "jisu perplexity cannot run the recovered student"

# 3b'. Recovery after low-rank factoring: the pairs are trained as two matrices each.
"$JISU" lowrank -m full.gguf --ratio 0.5 --rank-multiple 4 -t 2 -o lowrank.gguf 2> lowrank.log ||
  fail "lowrank: $(tail -1 lowrank.log)"
"$JISU" distill --teacher full.gguf --student lowrank.gguf --ctx 16 --batch 2 --steps 2 -t 2 -f train.txt \
  -o lowrank-recovered.gguf 2> lowrank-recovered.log || fail "distill into the low-rank student: $(tail -1 lowrank-recovered.log)"
grep -aq "blk.0.ffn_up.weight.lowrank_b" lowrank-recovered.gguf || fail "the recovered student lost its low-rank pairs"
"$JISU" perplexity -m lowrank-recovered.gguf -f valid.txt -c 16 2> /dev/null | grep -q "Final estimate" ||
  fail "jisu perplexity cannot run the recovered low-rank student"

# 3c. Teacher top-k cache: written by the first run, read by the second (same file, byte for
#     byte); with k = vocab the first step's loss is the uncached one.
KD=(--dim 32 --layers 1 --heads 4 --kv-heads 2 --ffn 64 --ctx 16 --batch 2 --steps 3 --temperature 2 --alpha 0.5
  -t 2 -f train.txt --log-every 1)
"$JISU" distill --teacher "$TOKENIZER" "${KD[@]}" -o plain.gguf 2> plain.log || fail "uncached distill"
"$JISU" distill --teacher "$TOKENIZER" "${KD[@]}" --teacher-cache top.bin --teacher-top-k 1024 -o cached1.gguf \
  2> cached1.log || fail "cache-writing distill: $(tail -1 cached1.log)"
grep -q "written to top.bin" cached1.log && [[ -f top.bin ]] || fail "no teacher cache written"
"$JISU" distill --teacher "$TOKENIZER" "${KD[@]}" --teacher-cache top.bin --teacher-top-k 1024 -o cached2.gguf \
  2> cached2.log || fail "cache-reading distill: $(tail -1 cached2.log)"
grep -q "read from top.bin" cached2.log || fail "the second run did not read the cache"
cmp -s cached1.gguf cached2.gguf || fail "the run reading the cache differs from the run writing it"
# (the loss is the 4th field; cut -d' ' would see the double space as an empty field)
uncached_loss=$(awk '/^step 1\//{print $4}' plain.log)
[[ -n $uncached_loss && $uncached_loss == $(awk '/^step 1\//{print $4}' cached2.log) ]] ||
  fail "cached loss (k = vocab) differs from the uncached one: $(grep '^step 1/' plain.log cached2.log)"
expect_error_later=("stale teacher cache" "teacher cache of another run: its seed" \
  "$JISU" distill --teacher "$TOKENIZER" "${KD[@]}" --seed 2 --teacher-cache top.bin --teacher-top-k 1024 -o bad.gguf)

# 4. Bad inputs: one "error:" line, exit 1.
expect_error() {  # expect_error "what" "pattern" command...
  local what=$1 pattern=$2
  shift 2
  local output status
  output=$("$@" 2>&1 >/dev/null)
  status=$?
  [[ $status == 1 ]] || fail "$what: exit $status (want 1): $output"
  grep -q "error:.*$pattern" <<<"$output" || fail "$what: no error line matching '$pattern': $output"
  [[ $(grep -c "error:" <<<"$output") == 1 ]] || fail "$what: not exactly one error line: $output"
}
expect_error "${expect_error_later[@]}"
expect_error "--init with a shape" "give no shape flags" \
  "$JISU" train --tokenizer "$TOKENIZER" --init full.gguf --dim 64 -f train.txt --ctx 16 --steps 1 -o bad.gguf
expect_error "--init and --resume" "--init or --resume" \
  "$JISU" train --tokenizer "$TOKENIZER" --init full.gguf --resume half.gguf -f train.txt --ctx 16 --steps 1 -o bad.gguf
expect_error "--init of another vocabulary" "another vocabulary" \
  "$JISU" train --tokenizer "$TOKENIZER" --init "$OTHER_VOCAB" -f train.txt --ctx 16 --batch 2 --steps 1 -o bad.gguf
expect_error "tokenizer without vocabulary" "no vocabulary" \
  "$JISU" train --tokenizer full.gguf.optimizer -f train.txt "${TINY[@]}" --steps 1 -o bad.gguf
echo "too short" > short.txt
expect_error "text shorter than a batch" "fewer than one batch" \
  "$JISU" train --tokenizer "$TOKENIZER" -f short.txt "${TINY[@]}" --steps 1 -o bad.gguf
expect_error "student of another vocabulary" "vocabulary.*differs" \
  "$JISU" distill --teacher "$TOKENIZER" --student "$OTHER_VOCAB" -f train.txt --ctx 16 --batch 2 --steps 1 -o bad.gguf
[[ -e bad.gguf ]] && fail "a failed run left bad.gguf"
# Diverging: weight decay 10 at lr 10 multiplies each weight by -99 per step until it overflows.
expect_error "diverging run" "NaN or infinite" \
  "$JISU" train --tokenizer "$TOKENIZER" -f train.txt "${SHAPE[@]}" --lr 10 --weight-decay 10 --warmup 0 --clip 0 \
  --steps 60 --save-every 1 -o diverged.gguf
"$JISU" logits -m diverged.gguf --tokens 1,2 -o d.bin 2> /dev/null || fail "the last good checkpoint does not load"

((failures == 0)) && echo "train_cli: all checks passed"
exit $((failures > 0))
