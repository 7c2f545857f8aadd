#!/usr/bin/env bash
# jisu prune (unstructured and N:M pruning into jisu's sparse storage) against independent checks:
#  - the pruning itself, re-read by the `gguf` Python package and checked with numpy: magnitude
#    pruning zeroes exactly the smallest |W| of each row (ties: lower index first), every row has
#    the same kept count, 2:4 / 4:8 groups keep exactly 2 / 4, Wanda keeps the count per row;
#  - the sparse files give the logits of their --dense-output twins, within the int8 activation
#    quantization of the path (relative L2 <= 3e-2, the fixtures' bound for integer paths);
#  - quantize keeps the sparse tensors; info, run, bench and perplexity work on a pruned file;
#  - bad inputs: one "error:" line, exit 1, no file left behind.
#   bash tests/e2e/prune.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
DEMO=$SHARED/models/demo-shakespeare
TINY=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-prune.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
prune() { "$JISU" prune -m "$TINY" -t 2 "$@" 2>>prune.log || fail "prune $*"; }

head -c 60000 "$SHARED/corpora/tinyshakespeare.txt" > calib.txt
prune -o mag50.gguf --sparsity 0.5
prune -o mag50.dense.gguf --sparsity 0.5 --dense-output
prune -o mag70.gguf --sparsity 0.7
prune -o mag70.dense.gguf --sparsity 0.7 --dense-output
prune -o nm24.gguf --pattern 2:4
prune -o nm24.dense.gguf --pattern 2:4 --dense-output
prune -o nm48.gguf --pattern 4:8
prune -o nm48.dense.gguf --pattern 4:8 --dense-output
prune -o wanda50.gguf --sparsity 0.5 --method wanda --calib calib.txt --calib-ctx 64 --calib-chunks 16
prune -o wanda50.dense.gguf --sparsity 0.5 --method wanda --calib calib.txt --calib-ctx 64 --calib-chunks 16 --dense-output

# 1. The pruning, checked with numpy on the dense twins.
python3 - "$TINY" <<'PY' || fail "the pruned weights (numpy)"
import re, sys, numpy as np, gguf
base = {t.name: np.array(t.data, dtype=np.float32).reshape(-1, t.shape[0]) for t in gguf.GGUFReader(sys.argv[1]).tensors}
chosen = re.compile(r"^blk\.[0-9]+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$")
def pruned(path):
    return {t.name: np.array(t.data, dtype=np.float32).reshape(-1, t.shape[0]) for t in gguf.GGUFReader(path).tensors}
ok, count = True, 0
for path, kind in [("mag50.dense.gguf", ("mag", 32)), ("mag70.dense.gguf", ("mag", 19)), ("nm24.dense.gguf", ("nm", 2, 4)),
                   ("nm48.dense.gguf", ("nm", 4, 8)), ("wanda50.dense.gguf", ("count", 32))]:
    for name, w in pruned(path).items():
        if not chosen.match(name):
            if not np.array_equal(w, base[name]): print(path, name, "changed but was not chosen"); ok = False
            continue
        count += 1
        b = base[name]
        zeroed = (w == 0) & (b != 0)
        if not np.array_equal(w[~zeroed], b[~zeroed]): print(path, name, "kept weights changed"); ok = False
        kept = w != 0
        if kind[0] in ("mag", "count"):
            k = b.shape[1] // 64 * kind[1]
            if not (kept.sum(axis=1) == k).all(): print(path, name, "kept per row", kept.sum(axis=1)[:4], "not", k); ok = False
        if kind[0] == "mag":
            for r in range(b.shape[0]):
                order = np.lexsort((np.arange(b.shape[1]), np.abs(b[r])))  # score ascending, index ascending
                expected = np.ones(b.shape[1], bool); expected[order[: b.shape[1] - k]] = False
                if not np.array_equal(expected, kept[r]): print(path, name, "row", r, "zeroes another set"); ok = False; break
        if kind[0] == "nm":
            n, m = kind[1], kind[2]
            if not (kept.reshape(-1, m).sum(axis=1) == n).all(): print(path, name, f"not {n}:{m}"); ok = False
            groups = np.abs(b).reshape(-1, m)
            smallest_kept = np.where(kept.reshape(-1, m), groups, np.inf).min(axis=1)
            largest_pruned = np.where(kept.reshape(-1, m), -np.inf, groups).max(axis=1)
            if not (smallest_kept >= largest_pruned).all(): print(path, name, "pruned a larger weight"); ok = False
assert count == 5 * 21, count
sys.exit(0 if ok else 1)
PY

# 2. Sparse files against their dense twins: the same logits within the int8 path's rounding.
tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('${TINY%.gguf}.json'))['tokens'])))")
for name in mag50 mag70 nm24 nm48 wanda50; do
  "$JISU" logits -m "$name.gguf" --tokens "$tokens" -o "$name.logits" -t 2 2>/dev/null || fail "logits of $name"
  "$JISU" logits -m "$name.dense.gguf" --tokens "$tokens" -o "$name.dense.logits" -t 2 2>/dev/null || fail "logits of $name dense"
  python3 - "$name" <<'PY' || fail "$name: sparse and dense logits differ"
import sys, numpy as np
a, b = (np.fromfile(f"{sys.argv[1]}{s}.logits", dtype=np.float32) for s in ("", ".dense"))
rel = np.linalg.norm(a - b) / np.linalg.norm(b)
top = (a.reshape(-1, 512).argmax(1) == b.reshape(-1, 512).argmax(1)).mean()
print(f"{sys.argv[1]}: relative L2 {rel:.2e}, top-1 agreement {top:.3f}")
sys.exit(0 if rel <= 3e-2 and top >= 0.9 else 1)
PY
done

# 3. The sparse storage is smaller than Q8_0 and is what info reports; quantize keeps it.
"$JISU" quantize "$TINY" q8.gguf q8_0 --pure -t 2 2>/dev/null || fail "quantize q8_0"
"$JISU" info mag70.gguf > info.txt 2>&1 || fail "info of a pruned file"
grep -q "jisu_sparse_q8_k19" info.txt && grep -q "jisu-only" info.txt || fail "info does not name the jisu-only types"
"$JISU" quantize mag70.gguf mag70.q4_0.gguf q4_0 -t 2 2>quantize.log || fail "quantize of a pruned file: $(tail -1 quantize.log)"
"$JISU" info mag70.q4_0.gguf 2>/dev/null | grep -q "jisu_sparse_q8_k19" || fail "quantize dropped the sparse tensors"
"$JISU" logits -m mag70.q4_0.gguf --tokens "$tokens" -o mag70.q4_0.logits -t 2 2>/dev/null || fail "logits of the quantized pruned file"
"$JISU" run -m nm24.gguf -p "Hello" -n 8 -q -t 2 > /dev/null 2>&1 || fail "run of a 2:4 file"
"$JISU" bench -m mag70.gguf -p 16 -n 4 -r 1 --no-probe -t 2 > /dev/null 2>&1 || fail "bench of a pruned file"
"$JISU" prune -m "$DEMO/model.f32.gguf" -o demo50.gguf --sparsity 0.5 -t 2 2>/dev/null || fail "prune the demo model"
ppl=$("$JISU" perplexity -m demo50.gguf -f "$DEMO/valid.txt" -c 128 --chunks 8 -t 2 2>/dev/null | awk '/Final estimate/ {print $5}')
python3 -c "import sys; sys.exit(0 if 1 < float('${ppl:-0}') < 200 else 1)" || fail "perplexity of a pruned demo model: '$ppl'"

# 4. Bad input: one error line, exit 1, no file.
python3 - <<'PY' || fail "writing the odd-width model"
import gguf, numpy as np
w = gguf.GGUFWriter("odd.gguf", "llama")
w.add_tensor("blk.0.ffn_down.weight", np.ones((4, 48), dtype=np.float32))
w.add_tensor("blk.0.ffn_up.weight", np.ones((4, 50), dtype=np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
expect_error() {  # expected-message-part, then arguments
  local want=$1; shift
  rm -f out.gguf
  "$JISU" prune -o out.gguf -t 2 "$@" > /dev/null 2> err.txt
  local rc=$?
  [[ $rc == 1 ]] || fail "prune $* exited $rc"
  [[ $(grep -c "^error:" err.txt) == 1 ]] || fail "prune $*: not one error line: $(cat err.txt)"
  grep -qi -- "$want" err.txt || fail "prune $*: '$want' not in: $(cat err.txt)"
  ls out.gguf* > /dev/null 2>&1 && fail "prune $* left a file"
}
expect_error "in \[0, 1)" -m "$TINY" --sparsity 1.0
expect_error "in \[0, 1)" -m "$TINY" --sparsity -0.1
expect_error "needs --sparsity" -m "$TINY"
expect_error "unknown --pattern" -m "$TINY" --sparsity 0.5 --pattern 3:4
expect_error "unknown --method" -m "$TINY" --sparsity 0.5 --method random
expect_error "exactly 50 %" -m "$TINY" --sparsity 0.7 --pattern 2:4
expect_error "needs calibration text" -m "$TINY" --sparsity 0.5 --method wanda
head -c 300 calib.txt > short.txt
expect_error "too short" -m "$TINY" --sparsity 0.5 --method wanda --calib short.txt
expect_error "no weight matrix" -m "$TINY" --sparsity 0.5 --tensors 'nothing_is_called_this'
expect_error "not a regular expression" -m "$TINY" --sparsity 0.5 --tensors '('
expect_error "multiple of 64" -m odd.gguf --sparsity 0.5 --tensors ffn_down
expect_error "cannot divide" -m odd.gguf --pattern 4:8 --tensors ffn_up --dense-output
expect_error "already pruned" -m mag50.gguf --sparsity 0.5
expect_error "lookup table" -m "$TINY" --sparsity 0.5 --tensors token_embd

[[ $failures == 0 ]] && echo "prune: all checks passed"
exit $((failures > 0))
