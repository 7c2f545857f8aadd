#!/usr/bin/env bash
# jisu perplexity / imatrix / quantize against independent references:
#  - perplexity of the demo model's files against llama.cpp's numbers in its README (±0.005);
#  - `jisu quantize` of every type, re-read and dequantized by the `gguf` Python package (not
#    ours) within each type's error bound against the f32 weights; Q4_K_M of the demo model with
#    llama.cpp's per-tensor types, byte size and general.* keys, and perplexity no worse than
#    llama.cpp's quantizer's;
#  - the importance matrix's attn_q, attn_output and ffn_down entries of two layers against a
#    numpy forward; the token embedding's entry (--embedding-importance): its shape and count,
#    quantizing with it changes token_embd and nothing else, a model the trainer cannot run
#    gets a note and no entry;
#  - KL divergence of a model against itself ~0;
#  - bad inputs: one "error:" line, exit 1, no file left behind.
#   bash tests/e2e/quality_tools.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
DEMO=$SHARED/models/demo-shakespeare
TINY=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-quality-tools.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

final_ppl() { "$JISU" perplexity -m "$1" -f "$DEMO/valid.txt" -c 128 -t 2 2>/dev/null | awk '/Final estimate/ {print $5}'; }
near() { python3 -c "import sys; sys.exit(0 if abs($1 - $2) <= $3 else 1)"; }

# 1. Perplexity as llama-perplexity computes it (numbers from the demo model's README).
for entry in f32:24.6214 q4_k_m:24.7240; do
  ppl=$(final_ppl "$DEMO/model.${entry%%:*}.gguf")
  near "$ppl" "${entry##*:}" 0.005 || fail "perplexity of ${entry%%:*}: $ppl, llama.cpp ${entry##*:}"
done

# 2. Every type, read back by the gguf package and dequantized by its numpy code.
for type in f16 bf16 q8_0 q6_k q5_k_s q5_1 q5_0 q4_k_s q4_1 q4_0 iq4_nl q3_k_s q2_k; do
  "$JISU" quantize "$TINY" "$type.gguf" "$type" --pure -t 2 2>/dev/null || fail "quantize $type"
done
python3 - "$TINY" <<'PY' || fail "re-reading the quantized files with the gguf package"
import sys, numpy as np, gguf, gguf.quants
base = {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(sys.argv[1]).tensors}
# Relative RMS error bounds per type (half a step of each grid on Gaussian-like weights, with margin).
bounds = {"f16": 1e-3, "bf16": 5e-3, "q8_0": 0.01, "q6_k": 0.03, "q5_k_s": 0.05, "q5_1": 0.05, "q5_0": 0.06,
          "q4_k_s": 0.1, "q4_1": 0.1, "q4_0": 0.12, "iq4_nl": 0.12, "q3_k_s": 0.2, "q2_k": 0.4}
ok = True
for name, bound in bounds.items():
    reader = gguf.GGUFReader(f"{name}.gguf")
    fields = {k: v.contents() for k, v in reader.fields.items()}
    for t in reader.tensors:
        if len(t.shape) < 2 or "norm" in t.name:
            continue
        restored = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(base[t.name].shape)
        err = np.sqrt(((restored - base[t.name]) ** 2).sum() / (base[t.name] ** 2).sum())
        if not err <= bound or (bound > 0.005 and err < bound / 200):
            print(f"{name} {t.name} ({t.tensor_type.name}): relative error {err:.4g}, bound {bound}"); ok = False
    if name.startswith("q") or name.startswith("iq"):
        if fields.get("general.quantization_version") != 2:
            print(f"{name}: general.quantization_version {fields.get('general.quantization_version')}"); ok = False
sys.exit(0 if ok else 1)
PY

# 3. Q4_K_M of the demo model: llama.cpp's mix, size and keys; perplexity no worse than its.
"$JISU" quantize "$DEMO/model.f32.gguf" demo.q4_k_m.gguf q4_k_m -t 2 2>/dev/null || fail "quantize demo q4_k_m"
[ "$(stat -c %s demo.q4_k_m.gguf 2>/dev/null)" = 2284064 ] || fail "demo q4_k_m is $(stat -c %s demo.q4_k_m.gguf) bytes, llama.cpp's 2284064"
python3 - "$DEMO/model.q4_k_m.gguf" demo.q4_k_m.gguf <<'PY' || fail "demo q4_k_m types differ from llama.cpp's"
import sys, gguf
theirs, ours = (gguf.GGUFReader(p) for p in sys.argv[1:3])
types = lambda r: {t.name: t.tensor_type.name for t in r.tensors}
keys = lambda r: {k: r.fields[k].contents() for k in ("general.file_type", "general.quantization_version")}
if types(theirs) != types(ours) or keys(theirs) != keys(ours):
    print({k: (v, types(ours).get(k)) for k, v in types(theirs).items() if types(ours).get(k) != v}, keys(ours)); sys.exit(1)
PY
ppl=$(final_ppl demo.q4_k_m.gguf)
near "$ppl" 0 24.7240 || fail "jisu's q4_k_m perplexity $ppl is worse than llama.cpp's quantizer's 24.7240"

# 4. The importance matrix against a numpy forward of the first two layers: attn_q (input
#    RMSNorm(embedding) * attn_norm), attn_output (input: the attention's output, after RoPE,
#    grouped-query causal softmax) and ffn_down (input: SwiGLU, the most uneven columns).
printf 'ROMEO:\nWhat say you, my lord? I will not go.\nJULIET:\nThen stay.\n' > calib.txt
"$JISU" imatrix -m "$DEMO/model.f32.gguf" -f calib.txt -c 16 --chunks 1 -o imatrix.gguf -t 2 2>/dev/null || fail "imatrix"
"$JISU" tokenize -m "$DEMO/model.f32.gguf" -f calib.txt --add-special > tokens.txt 2>/dev/null || fail "tokenize"
python3 - "$DEMO/model.f32.gguf" <<'PY' || fail "imatrix entry differs from numpy"
import sys, re, numpy as np, gguf
model = {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(sys.argv[1]).tensors}
imatrix = {t.name: np.array(t.data, dtype=np.float64).ravel() for t in gguf.GGUFReader("imatrix.gguf").tensors}
n, d, heads, kv_heads, hd = 16, 256, 8, 4, 32  # the demo model: 8 heads, 4 KV heads of 32
tokens = [int(v) for v in re.findall(r"-?\d+", open("tokens.txt").read())][:n]
tokens[0] = 1  # each chunk starts with BOS
rms = lambda x, w: x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-5) * w
lin = lambda name, x: x @ model[name].reshape(-1, x.shape[1]).T
def rope(x):  # [n, heads, hd]; GGUF llama layout: adjacent pairs rotate, base 10000
    angle = np.arange(n)[:, None, None] * 10000.0 ** (-np.arange(0, hd, 2) / hd)
    out = np.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * np.cos(angle) - x[..., 1::2] * np.sin(angle)
    out[..., 1::2] = x[..., 0::2] * np.sin(angle) + x[..., 1::2] * np.cos(angle)
    return out
ok = True
def check(name, x):
    global ok
    sums, counts = imatrix[name + ".in_sum2"], imatrix[name + ".counts"]
    expected = (x ** 2).sum(axis=0)
    err = np.abs(sums - expected).max() / expected.max()
    if counts[0] != n or err > 1e-4: print(name, "counts", counts, "relative error", err); ok = False
h = model["token_embd.weight"].reshape(-1, d)[tokens]
for p in ("blk.0.", "blk.1."):
    x = rms(h, model[p + "attn_norm.weight"])
    check(p + "attn_q.weight", x)
    q = rope(lin(p + "attn_q.weight", x).reshape(n, heads, hd))
    k = np.repeat(rope(lin(p + "attn_k.weight", x).reshape(n, kv_heads, hd)), heads // kv_heads, axis=1)
    v = np.repeat(lin(p + "attn_v.weight", x).reshape(n, kv_heads, hd), heads // kv_heads, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + np.triu(np.full((n, n), -np.inf), 1)
    probs = np.exp(scores - scores.max(axis=2, keepdims=True))
    attention = np.einsum("hqk,khd->qhd", probs / probs.sum(axis=2, keepdims=True), v).reshape(n, d)
    check(p + "attn_output.weight", attention)
    h = h + lin(p + "attn_output.weight", attention)
    x = rms(h, model[p + "ffn_norm.weight"])
    gate = lin(p + "ffn_gate.weight", x)
    swiglu = gate / (1 + np.exp(-gate)) * lin(p + "ffn_up.weight", x)
    check(p + "ffn_down.weight", swiglu)
    h = h + lin(p + "ffn_down.weight", swiglu)
sys.exit(0 if ok else 1)
PY

# 4b. The token embedding's entry from the loss's gradient (values: test_embedding_importance.cpp
#     against finite differences). Same chunk; every other entry as without the flag; count =
#     the 15 positions with a next token; quantized with it, token_embd differs and no other tensor.
"$JISU" imatrix -m "$DEMO/model.f32.gguf" -f calib.txt -c 16 --chunks 1 -o imatrix_embd.gguf -t 2 \
  --embedding-importance 2>/dev/null || fail "imatrix --embedding-importance"
"$JISU" quantize "$DEMO/model.f32.gguf" im.gguf q4_k_m --imatrix imatrix.gguf -t 2 >/dev/null 2>&1 || fail "quantize --imatrix"
"$JISU" quantize "$DEMO/model.f32.gguf" im_embd.gguf q4_k_m --imatrix imatrix_embd.gguf -t 2 > quantize.log 2>&1 ||
  fail "quantize --imatrix with the embedding's entry"
grep -q "token_embd.weight .* imatrix" quantize.log || fail "the quantizer did not use the token_embd entry"
python3 - <<'PY' || fail "the embedding's imatrix entry or its effect on the quantized file is wrong"
import sys, numpy as np, gguf
read = lambda p: {t.name: np.array(t.data).ravel() for t in gguf.GGUFReader(p).tensors}
plain, embd = read("imatrix.gguf"), read("imatrix_embd.gguf")
shape = {t.name: [int(v) for v in t.shape] for t in gguf.GGUFReader("imatrix_embd.gguf").tensors}
ok = set(embd) == set(plain) | {"token_embd.weight.in_sum2", "token_embd.weight.counts"}
ok &= all(np.array_equal(plain[k], embd[k]) for k in plain)
ok &= shape["token_embd.weight.in_sum2"] == [256, 1] and list(embd["token_embd.weight.counts"]) == [15.0]
ok &= bool((embd["token_embd.weight.in_sum2"] > 0).all())
a, b = read("im.gguf"), read("im_embd.gguf")
differ = sorted(k for k in a if not np.array_equal(a[k], b[k]))
if differ != ["token_embd.weight"]: print("tensors that differ:", differ); ok = False
sys.exit(0 if ok else 1)
PY
QWEN=$SHARED/fixtures/models/tiny-qwen2-s1.f32.gguf
"$JISU" imatrix -m "$QWEN" -f calib.txt -c 16 --chunks 1 -o imatrix_qwen.gguf -t 2 --embedding-importance 2> qwen.log ||
  fail "imatrix --embedding-importance of a model the trainer cannot run"
[ "$(grep -c '^note: no token_embd.weight entry: the trainer has no backward pass' qwen.log)" = 1 ] ||
  fail "no one-line note for the skipped embedding entry: $(grep note qwen.log)"
python3 -c "import gguf, sys; sys.exit(any(t.name.startswith('token_embd') for t in gguf.GGUFReader('imatrix_qwen.gguf').tensors))" ||
  fail "imatrix of qwen2 has a token_embd entry"

# 5. KL divergence of the f32 model against its own saved log-probabilities.
"$JISU" perplexity -m "$DEMO/model.f32.gguf" -f "$DEMO/valid.txt" -c 128 --chunks 20 --kl-divergence-base base.kld >/dev/null 2>&1 || fail "kl base"
kld=$("$JISU" perplexity -m "$DEMO/model.f32.gguf" -f "$DEMO/valid.txt" -c 128 --chunks 20 --kl-divergence-base base.kld --kl-divergence 2>/dev/null | awk '/Mean    KLD/ {print $3}')
near "${kld:-1}" 0 1e-5 || fail "KLD of the base model against itself: $kld"
kld=$("$JISU" perplexity -m "$DEMO/model.q4_k_m.gguf" -f "$DEMO/valid.txt" -c 128 --chunks 20 --kl-divergence-base base.kld --kl-divergence 2>/dev/null | awk '/Mean    KLD/ {print $3}')
near "${kld:-0}" 0.004 0.003 || fail "KLD of q4_k_m: $kld (expected about 0.004)"

# 6. Bad inputs: exactly one error line, exit 1, nothing written.
expect_error() {  # description, command...
  local what=$1; shift
  mkdir -p out && rm -rf out/*
  "$@" > /dev/null 2> err.txt
  local status=$?
  [ $status -eq 1 ] || fail "$what: exit status $status"
  [ "$(wc -l < err.txt)" -eq 1 ] && grep -q '^error:' err.txt || fail "$what: stderr is not one error line: $(cat err.txt)"
  [ -z "$(ls -A out)" ] || fail "$what: left $(ls -A out)"
}
expect_error "unknown type" "$JISU" quantize "$TINY" out/x.gguf q4_z
expect_error "requantize" "$JISU" quantize "$SHARED/fixtures/models/tiny-llama-s1.q8_0.gguf" out/x.gguf q4_0
expect_error "missing imatrix" "$JISU" quantize "$TINY" out/x.gguf q4_0 --imatrix nothing.gguf
expect_error "imatrix of another model" "$JISU" quantize "$TINY" out/x.gguf q4_0 --imatrix imatrix.gguf
expect_error "kl without base" "$JISU" perplexity -m "$TINY" -f calib.txt --kl-divergence
expect_error "text too short" "$JISU" perplexity -m "$DEMO/model.f32.gguf" -f calib.txt -c 128

[ $failures -eq 0 ] && echo "quality tools: all checks passed"
exit $((failures > 0))
