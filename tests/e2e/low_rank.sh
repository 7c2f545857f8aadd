#!/usr/bin/env bash
# jisu lowrank against independent references (numpy float64):
#  1. plain: for the fixture f32 model, each pair A B equals numpy's best rank-r approximation
#     (truncated SVD) of the weight, with r the largest rank keeping half the parameters;
#  2. --whiten: on the demo model's first-layer Q/K weights, whose input numpy computes from the
#     calibration tokens (RMSNorm of the embedding rows), A B equals numpy's SVD-LLM solution and
#     its output error ||(W - A B) X^T|| is no larger than plain SVD's;
#  3. the factored model's logits equal those of its --dense-output twin (A B multiplied out);
#     `jisu quantize` keeps the pairs (Q8_0 factors) and the quantized model still runs;
#  4. bad inputs: one "error:" line, exit 1, no file written.
#   bash tests/e2e/low_rank.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
DEMO=$SHARED/models/demo-shakespeare/model.f32.gguf
TINY=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
source "$(cd "$2" && pwd)/tests/e2e/expect_error.bash" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-low-rank.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# 1. Plain truncated SVD of every layer linear of the fixture.
"$JISU" lowrank -m "$TINY" -o plain.gguf --ratio 0.5 --rank-multiple 1 -t 2 2>/dev/null || fail "lowrank plain"
python3 - "$TINY" <<'PY' || fail "plain factors differ from numpy's truncated SVD"
import sys, numpy as np, gguf
load = lambda path: {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(path).tensors}
base, ours = load(sys.argv[1]), load("plain.gguf")
ok, checked = True, 0
for name, w in base.items():
    if name + ".lowrank_a" not in ours:
        continue
    a, b = ours[name + ".lowrank_a"], ours[name + ".lowrank_b"]
    rows, cols = w.shape
    rank = int(0.5 * rows * cols // (rows + cols))
    if a.shape != (rows, rank) or b.shape != (rank, cols):
        print(name, "factor shapes", a.shape, b.shape, "expected rank", rank); ok = False; continue
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    best = (u[:, :rank] * s[:rank]) @ vt[:rank]
    err = np.linalg.norm(a @ b - best) / np.linalg.norm(best)
    if not err <= 1e-5:
        print(name, "relative difference from numpy's rank", rank, "approximation", err); ok = False
    checked += 1
if checked != 21:
    print("factored", checked, "weights, expected the 21 layer linears"); ok = False
sys.exit(0 if ok else 1)
PY

# 2. SVD-LLM whitening of blk.0.attn_q/attn_k of the demo model over 32 chunks of 64 tokens (2048 tokens, 411 distinct: X^T X is positive definite).
head -c 20000 "$SHARED/corpora/tinyshakespeare.txt" > calib.txt
WHITEN=(--tensors '^blk\.0\.attn_(q|k)\.weight$' --rank-multiple 1 -t 2)
"$JISU" lowrank -m "$DEMO" -o white.gguf --ratio 0.25 --whiten --calib calib.txt -c 64 --chunks 32 "${WHITEN[@]}" 2>/dev/null ||
  fail "lowrank --whiten"
"$JISU" lowrank -m "$DEMO" -o demo_plain.gguf --ratio 0.25 "${WHITEN[@]}" 2>/dev/null || fail "lowrank demo plain"
"$JISU" tokenize -m "$DEMO" -f calib.txt --add-special > tokens.txt 2>/dev/null || fail "tokenize"
python3 - "$DEMO" <<'PY' || fail "whitened factors differ from numpy's SVD-LLM or do worse than plain SVD"
import sys, re, numpy as np, gguf
load = lambda path: {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(path).tensors}
model, white, plain = load(sys.argv[1]), load("white.gguf"), load("demo_plain.gguf")
tokens = [int(v) for v in re.findall(r"-?\d+", open("tokens.txt").read())]
chunks = [[1] + tokens[k * 64 + 1:(k + 1) * 64] for k in range(32)]  # each chunk starts with BOS
x = model["token_embd.weight"].reshape(-1, 256)[np.concatenate(chunks)]
x = x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-5) * model["blk.0.attn_norm.weight"]
lower = np.linalg.cholesky(x.T @ x)
ok = True
for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight"):
    w = model[name]
    rows, cols = w.shape
    rank = int(0.25 * rows * cols // (rows + cols))
    u, s, vt = np.linalg.svd(w @ lower, full_matrices=False)
    expected = (u[:, :rank] * s[:rank]) @ vt[:rank] @ np.linalg.inv(lower)
    ab_white = white[name + ".lowrank_a"] @ white[name + ".lowrank_b"]
    ab_plain = plain[name + ".lowrank_a"] @ plain[name + ".lowrank_b"]
    diff = np.linalg.norm(ab_white - expected) / np.linalg.norm(expected)
    err_white, err_plain = (np.linalg.norm((w - ab) @ x.T) for ab in (ab_white, ab_plain))
    print(f"{name}: rank {rank}, whitened vs numpy {diff:.2e}, output error whitened {err_white:.4f} plain {err_plain:.4f}")
    if not diff <= 1e-3 or not err_white <= err_plain:
        ok = False
sys.exit(0 if ok else 1)
PY

# 3. Factored vs dense twin: same logits (f32 rounding); Q8_0 factors keep the pairs and run.
"$JISU" lowrank -m "$TINY" -o twin.gguf --ratio 0.5 --rank-multiple 1 --dense-output -t 2 2>/dev/null || fail "dense output"
tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('${TINY%.gguf}.json'))['tokens'])))")
"$JISU" logits -m plain.gguf --tokens "$tokens" -o plain.logits -t 2 >/dev/null 2>&1 || fail "logits of the factored model"
"$JISU" logits -m twin.gguf --tokens "$tokens" -o twin.logits -t 2 >/dev/null 2>&1 || fail "logits of the dense twin"
"$JISU" lowrank -m "$TINY" -o r32.gguf --ratio 0.5 -t 2 2>/dev/null || fail "lowrank with ranks of multiples of 32"
"$JISU" quantize r32.gguf r32.q8_0.gguf q8_0 --pure -t 2 >/dev/null 2>&1 || fail "quantize a factored model"
"$JISU" logits -m r32.gguf --tokens "$tokens" -o r32.logits -t 2 >/dev/null 2>&1 || fail "logits of r32"
"$JISU" logits -m r32.q8_0.gguf --tokens "$tokens" -o r32.q8_0.logits -t 2 >/dev/null 2>&1 || fail "logits of r32 q8_0"
python3 - <<'PY' || fail "factored logits differ from the dense twin's, or quantize lost the pairs"
import sys, numpy as np, gguf
rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)
read = lambda path: np.fromfile(path, dtype=np.float32).astype(np.float64)
ok = True
twin = rel(read("plain.logits"), read("twin.logits"))
quantized = rel(read("r32.q8_0.logits"), read("r32.logits"))
types = {t.name: t.tensor_type.name for t in gguf.GGUFReader("r32.q8_0.gguf").tensors}
pairs = [n for n in types if n.endswith(".lowrank_a") or n.endswith(".lowrank_b")]
print(f"factored vs dense twin {twin:.2e}; q8_0 factors vs f32 factors {quantized:.2e}; {len(pairs)} factor tensors")
if not twin <= 1e-5: ok = False
if not quantized <= 3e-2: ok = False
if len(pairs) != 42 or any(types[n] != "Q8_0" for n in pairs) or any(n.endswith("ffn_up.weight") for n in types): ok = False
sys.exit(0 if ok else 1)
PY

# 4. Bad inputs: exactly one error line, exit 1, nothing written.
printf 'ROMEO:\nThen stay.\n' > short.txt
expect_error "ratio 0" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 0
expect_error "ratio above 1" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 1.5
expect_error "ratio NaN" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio nan
expect_error "rank zero" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 0.05
expect_error "no tensor matched" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 0.5 --tensors 'no_such_tensor'
expect_error "bad regex" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 0.5 --tensors '(['
expect_error "whiten without text" "$JISU" lowrank -m "$DEMO" -o out/x.gguf --ratio 0.5 --whiten
expect_error "calibration too short" "$JISU" lowrank -m "$DEMO" -o out/x.gguf --ratio 0.5 --whiten --calib short.txt
expect_error "missing calibration" "$JISU" lowrank -m "$DEMO" -o out/x.gguf --ratio 0.5 --whiten --calib nothing.txt
expect_error "unknown factor type" "$JISU" lowrank -m "$TINY" -o out/x.gguf --ratio 0.5 --type q4_z
expect_error "missing model" "$JISU" lowrank -m nothing.gguf -o out/x.gguf --ratio 0.5

[ $failures -eq 0 ] && echo "low rank: all checks passed"
exit $((failures > 0))
