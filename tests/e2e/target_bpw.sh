#!/usr/bin/env bash
# `jisu quantize --target-bpw` and `--keep` (compress/mixed_precision.h), checked by readers
# that are not jisu's and against a second route through the engine:
#  1. --target-bpw on the fixture model, re-read by the `gguf` Python package: every tensor
#     dequantizes within its type's error bound, the bits per weight are within the budget, the
#     --keep tensor's bytes equal the input's;
#  2. the sensitivity printed for one tensor equals `jisu perplexity --kl-divergence` of a file
#     in which only that tensor is quantized (same calibration chunk);
#  3. --keep with a fixed type leaves the matching tensors' bytes identical to the input;
#  4. bad inputs: one "error:" line, exit 1, no file written.
#   bash tests/e2e/target_bpw.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
TINY=$SHARED/fixtures/models/tiny-llama-s1.f32.gguf
source "$(cd "$2" && pwd)/tests/e2e/expect_error.bash" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-target-bpw.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
head -c 20000 "$SHARED/corpora/tinyshakespeare.txt" > calib.txt

# 1. A mix at 4.5 bits per weight from three candidates, one tensor kept.
"$JISU" quantize "$TINY" mix.gguf --target-bpw 4.5 --calib calib.txt --calib-chunks 1 --calib-ctx 64 \
  --candidates q3_k,q4_k,q8_0 --keep 'blk\.0\.attn_k' -t 2 2> mix.log || fail "quantize --target-bpw: $(tail -1 mix.log)"
grep -q '^mix: ' mix.log || fail "no 'mix:' summary line"
python3 - "$TINY" <<'PY' || fail "the --target-bpw file, re-read by the gguf package"
import sys, numpy as np, gguf, gguf.quants
base = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
reader = gguf.GGUFReader("mix.gguf")
bounds = {"Q3_K": 0.2, "Q4_K": 0.1, "Q8_0": 0.01, "F32": 0.0}
ok, bits, weights, types = True, 0, 0, set()
for t in reader.tensors:
    if len(t.shape) < 2 or "norm" in t.name:
        continue
    ref = np.array(base[t.name].data, dtype=np.float64)
    bits += 8 * t.n_bytes
    weights += ref.size
    types.add(t.tensor_type.name)
    if t.name == "blk.0.attn_k.weight":
        if t.tensor_type.name != "F32" or bytes(t.data.tobytes()) != bytes(base[t.name].data.tobytes()):
            print("the --keep tensor changed"); ok = False
        continue
    if t.tensor_type.name not in ("Q3_K", "Q4_K", "Q8_0"):
        print(f"{t.name}: {t.tensor_type.name} is not a candidate"); ok = False; continue
    restored = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(ref.shape)
    err = np.sqrt(((restored - ref) ** 2).sum() / (ref ** 2).sum())
    if not err <= bounds[t.tensor_type.name]:
        print(f"{t.name} ({t.tensor_type.name}): relative error {err:.4g}"); ok = False
fields = {k: v.contents() for k, v in reader.fields.items()}
if bits / weights > 4.5: print(f"{bits / weights:.4f} bits per weight, budget 4.5"); ok = False
if bits / weights < 4.0: print(f"{bits / weights:.4f} bits per weight: the budget is not used"); ok = False
if len(types) < 3: print("expected a mix, got", types); ok = False
if fields.get("general.quantization_version") != 2 or "general.file_type" not in fields: print("keys", fields.get("general.file_type")); ok = False
sys.exit(0 if ok else 1)
PY

# 2. blk.1.ffn_down's printed sensitivity for q3_K against perplexity's KL divergence of a file
#    with only that tensor quantized, on the same first chunk of 64 tokens.
measured=$(awk '/ blk\.1\.ffn_down\.weight +KLD:/ {for (i = 1; i <= NF; ++i) if ($i == "q3_K") print $(i + 1)}' mix.log)
"$JISU" quantize "$TINY" one.gguf F32 --tensor-type 'blk\.1\.ffn_down=q3_k' -t 2 2>/dev/null || fail "quantize one tensor"
"$JISU" perplexity -m "$TINY" -f calib.txt -c 64 --chunks 1 --kl-divergence-base base.kld -t 2 >/dev/null 2>&1 || fail "kl base"
reference=$("$JISU" perplexity -m one.gguf -f calib.txt -c 64 --chunks 1 --kl-divergence-base base.kld --kl-divergence -t 2 2>/dev/null |
  awk '/Mean    KLD/ {print $3}')
python3 -c "import sys; m, r = float('${measured:-nan}'), float('${reference:-nan}'); sys.exit(0 if r > 1e-5 and abs(m - r) <= 0.02 * r + 2e-6 else 1)" ||
  fail "blk.1.ffn_down q3_K: --target-bpw measured KLD ${measured:-none}, perplexity --kl-divergence ${reference:-none}"

# 3. --keep with a fixed type.
"$JISU" quantize "$TINY" keep.gguf q4_k_m --keep 'attn_v|^output\.' -t 2 2>/dev/null || fail "quantize --keep"
python3 - "$TINY" <<'PY' || fail "--keep with a fixed type"
import sys, re, gguf
base = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
ok, kept = True, 0
for t in gguf.GGUFReader("keep.gguf").tensors:
    if len(t.shape) < 2: continue
    same = t.tensor_type == base[t.name].tensor_type and t.data.tobytes() == base[t.name].data.tobytes()
    if re.search(r"attn_v|^output\.", t.name):
        kept += 1
        if not same: print(t.name, "changed"); ok = False
    elif same: print(t.name, "was not quantized"); ok = False
sys.exit(0 if ok and kept >= 3 else 1)
PY

# 4. Bad inputs.
printf 'ROMEO: too short.\n' > short.txt
C=(--calib calib.txt --calib-chunks 1 --calib-ctx 64)
expect_error "budget below the smallest candidate" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 2 "${C[@]}"
expect_error "budget above the input" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 40 "${C[@]}"
expect_error "no --calib" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5
expect_error "calibration text too short" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5 --calib short.txt
expect_error "missing calibration text" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5 --calib nothing.txt
expect_error "bad --keep regex, fixed type" "$JISU" quantize "$TINY" out/x.gguf q4_k_m --keep '('
expect_error "bad --keep regex, --target-bpw" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5 "${C[@]}" --keep '[a'
expect_error "--keep beyond the budget" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 3 "${C[@]}" --keep 'ffn|output'
expect_error "TYPE and --target-bpw" "$JISU" quantize "$TINY" out/x.gguf q4_0 --target-bpw 4.5 "${C[@]}"
expect_error "neither TYPE nor --target-bpw" "$JISU" quantize "$TINY" out/x.gguf
expect_error "unknown candidate" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5 "${C[@]}" --candidates q4_k,q9_z
expect_error "--tensor-type with --target-bpw" "$JISU" quantize "$TINY" out/x.gguf --target-bpw 4.5 "${C[@]}" --tensor-type 'ffn=q8_0'
expect_error "--calib without --target-bpw" "$JISU" quantize "$TINY" out/x.gguf q4_0 --calib calib.txt

[ $failures -eq 0 ] && echo "target bpw: all checks passed"
exit $((failures > 0))
