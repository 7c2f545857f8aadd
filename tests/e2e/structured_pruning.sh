#!/usr/bin/env bash
# jisu prune --structured against an independent float64 numpy forward of the llama layer
# sequence (itself checked first against the fixture's exact logits):
#  1. the kept FFN neurons, KV groups and the dropped layer are those numpy's importance (the
#     header of src/compress/structured_pruning.h) picks from its own activations over the same
#     calibration chunks, and the pruned tensors are those rows / columns of the original;
#  2. the pruned model's logits (jisu) equal numpy's forward of the pruned file;
#  3. bad inputs: one "error:" line, exit 1, no file written.
#   bash tests/e2e/structured_pruning.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
TINY=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
source "$(cd "$2" && pwd)/tests/e2e/expect_error.bash" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-structured.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

head -c 6000 "$SHARED/corpora/tinyshakespeare.txt" > calib.txt
"$JISU" prune --structured -m "$TINY" -o pruned.gguf --ffn-keep 0.5 --heads-keep 0.5 --drop-layers 1 --calib calib.txt \
  --calib-ctx 32 --calib-chunks 4 -t 2 2>/dev/null || fail "prune --structured"
"$JISU" tokenize -m "$TINY" -f calib.txt --add-special > calib_tokens.txt 2>/dev/null || fail "tokenize"
tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('${TINY%.gguf}.json'))['tokens'])))")
"$JISU" logits -m pruned.gguf --tokens "$tokens" -o pruned.logits -t 2 >/dev/null 2>&1 || fail "logits of the pruned model"
python3 - "$TINY" "$tokens" <<'PY' || fail "pruned model differs from the numpy reference"
import sys, re, numpy as np, gguf

def load(path):
    reader = gguf.GGUFReader(path)
    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer")}
    tensors = {t.name: np.array(t.data, dtype=np.float64).reshape(tuple(reversed(t.shape.tolist()))) for t in reader.tensors}
    return meta, tensors

def forward(meta, w, tokens, record=None):
    """Logits of one sequence (float64); record[(layer, name)] += sum of squared inputs per column."""
    n_layer, n_head, n_kv = (int(meta["llama." + k]) for k in ("block_count", "attention.head_count", "attention.head_count_kv"))
    hd = int(meta.get("llama.attention.key_length", meta["llama.embedding_length"] // n_head))
    eps, base = meta["llama.attention.layer_norm_rms_epsilon"], meta.get("llama.rope.freq_base", 10000.0)
    norm = lambda x, g: x / np.sqrt((x ** 2).mean(axis=-1, keepdims=True) + eps) * g
    n = len(tokens)
    angles = np.arange(n)[:, None] * base ** (-np.arange(0, hd, 2) / hd)
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    def rope(x):  # interleaved pairs (2i, 2i+1)
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x); out[..., 0::2] = even * cos - odd * sin; out[..., 1::2] = even * sin + odd * cos
        return out
    x = w["token_embd.weight"][tokens]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = norm(x, w[p + "attn_norm.weight"])
        q = rope((h @ w[p + "attn_q.weight"].T).reshape(n, n_head, hd))
        k = rope((h @ w[p + "attn_k.weight"].T).reshape(n, n_kv, hd))
        v = (h @ w[p + "attn_v.weight"].T).reshape(n, n_kv, hd)
        heads = []
        for head in range(n_head):
            g = head // (n_head // n_kv)
            s = q[:, head] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True)); s /= s.sum(axis=1, keepdims=True)
            heads.append(s @ v[:, g])
        o = np.concatenate(heads, axis=1)
        if record is not None: record[(l, "attn_output")] = record.get((l, "attn_output"), 0) + (o ** 2).sum(axis=0)
        x = x + o @ w[p + "attn_output.weight"].T
        h = norm(x, w[p + "ffn_norm.weight"])
        gate, up = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        a = gate / (1 + np.exp(-gate)) * up
        if record is not None: record[(l, "ffn_down")] = record.get((l, "ffn_down"), 0) + (a ** 2).sum(axis=0)
        x = x + a @ w[p + "ffn_down.weight"].T
    out = w.get("output.weight", w["token_embd.weight"])
    return norm(x, w["output_norm.weight"]) @ out.T

rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)
meta, base = load(sys.argv[1])
tokens = [int(t) for t in sys.argv[2].split(",")]
exact = np.fromfile(sys.argv[1][:-len(".gguf")] + ".exact.logits", dtype=np.float32).reshape(len(tokens), -1)
err = rel(forward(meta, base, tokens), exact)
if not err <= 1e-5: print("the numpy reference itself differs from the fixture's exact logits:", err); sys.exit(1)

# 1. Importance from numpy's own activations over the same 4 chunks of 32 calibration tokens.
calib = [int(v) for v in re.findall(r"-?\d+", open("calib_tokens.txt").read())]
record = {}
for c in range(4):
    forward(meta, base, [1] + calib[c * 32 + 1:(c + 1) * 32], record)
score = lambda l, name: record[(l, name)] * (base[f"blk.{l}.{name}.weight"] ** 2).sum(axis=0)
layer_score = [score(l, "ffn_down").sum() + score(l, "attn_output").sum() for l in range(3)]
kept_layers = sorted(np.argsort(layer_score, kind="stable")[1:])
pmeta, pruned = load("pruned.gguf")
ok = True
expect = {"llama.block_count": 2, "llama.feed_forward_length": 256, "llama.attention.head_count": 2,
          "llama.attention.head_count_kv": 1, "llama.attention.key_length": 64}
for key, value in expect.items():
    if pmeta.get(key) != value: print(key, pmeta.get(key), "expected", value); ok = False
for new, l in enumerate(kept_layers):
    p, q = f"blk.{l}.", f"blk.{new}."
    neurons = np.sort(np.argsort(-score(l, "ffn_down"), kind="stable")[:256])
    group_score = score(l, "attn_output").reshape(2, -1).sum(axis=1)  # 2 KV groups of 2 query heads
    g = int(np.argmax(group_score)); heads = np.arange(g * 128, (g + 1) * 128); kv = np.arange(g * 64, (g + 1) * 64)
    pairs = [("ffn_gate.weight", base[p + "ffn_gate.weight"][neurons]), ("ffn_up.weight", base[p + "ffn_up.weight"][neurons]),
             ("ffn_down.weight", base[p + "ffn_down.weight"][:, neurons]), ("attn_q.weight", base[p + "attn_q.weight"][heads]),
             ("attn_k.weight", base[p + "attn_k.weight"][kv]), ("attn_v.weight", base[p + "attn_v.weight"][kv]),
             ("attn_output.weight", base[p + "attn_output.weight"][:, heads]), ("attn_norm.weight", base[p + "attn_norm.weight"])]
    for name, expected in pairs:
        if pruned[q + name].shape != expected.shape or not np.array_equal(pruned[q + name], expected):
            print(f"{q}{name} is not layer {l}'s expected slice"); ok = False

# 2. jisu's logits of the pruned file against numpy's forward of it.
ours = np.fromfile("pruned.logits", dtype=np.float32).reshape(len(tokens), -1)
err = rel(ours, forward(pmeta, pruned, tokens))
print(f"kept layers {kept_layers}; pruned logits vs numpy float64: {err:.2e}")
if not err <= 1e-4: ok = False
sys.exit(0 if ok else 1)
PY

# 3. Bad inputs: exactly one error line, exit 1, nothing written.
printf 'ROMEO:\n' > short.txt
expect_error "ffn-keep 0" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --ffn-keep 0 --calib calib.txt
expect_error "heads-keep above 1" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --heads-keep 1.5 --calib calib.txt
expect_error "no calibration" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --ffn-keep 0.5
expect_error "calibration too short" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --ffn-keep 0.5 --calib short.txt
expect_error "every layer dropped" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --drop-layers 3 --calib calib.txt
expect_error "layer out of range" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --drop-layers 1,7
expect_error "layer twice" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --drop-layers 1,1
expect_error "bad layer list" "$JISU" prune --structured -m "$TINY" -o out/x.gguf --drop-layers a,b
expect_error "quantized model" "$JISU" prune --structured -m "$SHARED/fixtures/models/tiny-llama-s1.q8_0.gguf" -o out/x.gguf \
  --ffn-keep 0.5 --calib calib.txt
expect_error "fused tensors" "$JISU" prune --structured -m "$SHARED/fixtures/models/tiny-phi3-s1.f32.gguf" -o out/x.gguf \
  --ffn-keep 0.5 --calib calib.txt

[ $failures -eq 0 ] && echo "structured pruning: all checks passed"
exit $((failures > 0))
