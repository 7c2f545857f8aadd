#!/usr/bin/env bash
# The jisu-only weight types i8_row (per-channel int8) and cb4 (learned 4-bit codebook), end to end:
#  - `jisu quantize` writes them (cb4 with one "<name>.codebook" I8 [16] tensor per matrix and
#    token_embd in IQ4_NL; i8_row with "<name>.row_scale" F32 [rows] and token_embd in Q8_0),
#    `jisu info` says they are jisu-only;
#  - the tiny llama fixture quantized to each gives logits close to the float64 reference of the
#    f32 model. The yardstick is independent of jisu: the distance of llama.cpp's own Q8_0 /
#    IQ4_NL files' exact (float64) logits from the f32 reference, i.e. what the weight rounding
#    of a comparable 8-bit / 4-bit type costs, times 2 (i8_row: one scale per row of 256 instead
#    of per block of 32; measured 2.1e-2 against 1.4e-2) or 1.5 (cb4; measured 0.178 against
#    0.188), plus 3e-2, the fixtures' allowance for the int8 activation rounding of integer paths
#    (../shared/fixtures/README.md); top-1 agreement at most 0.1 below the yardstick's;
#  - bad input: a cb4 file whose codebook is missing, of the wrong shape or type, an i8_row file
#    without its row scales, a cb4 / i8_row embedding, prune of a jisu-only type: one "error:"
#    line, exit 1, no file left.
#   bash tests/e2e/quant_types.sh path/to/jisu path/to/source-dir
set -u
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
MODELS=$SHARED/fixtures/models
TINY=$MODELS/tiny-llama-s1.f32.gguf
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-quant-types.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# 1. Quantize, info.
for type in i8_row cb4; do
  "$JISU" quantize "$TINY" "$type.gguf" "$type" -t 2 2> "$type.log" || fail "quantize $type: $(tail -1 "$type.log")"
  "$JISU" info "$type.gguf" > "$type.info" 2>&1 || fail "info $type"
  grep -q "^  $type " "$type.info" && grep -q "jisu-only" "$type.info" || fail "info does not call $type jisu-only"
done
python3 -c "import sys; sys.exit(0 if b'blk.0.attn_q.weight.codebook' in open('cb4.gguf','rb').read(1 << 16) else 1)" \
  || fail "the cb4 file lacks its codebook tensors"
python3 -c "import sys; sys.exit(0 if b'blk.0.attn_q.weight.row_scale' in open('i8_row.gguf','rb').read(1 << 16) else 1)" \
  || fail "the i8_row file lacks its row scales"

# 2. Logits against the float64 reference of the f32 model.
tokens=$(python3 -c "import json; print(','.join(map(str, json.load(open('${TINY%.gguf}.json'))['tokens'])))")
for type in i8_row cb4; do
  "$JISU" logits -m "$type.gguf" --tokens "$tokens" -o "$type.logits" -t 2 2>/dev/null || fail "logits of $type"
done
python3 - "$MODELS" <<'PY' || fail "logits of the quantized fixture are too far from the float64 reference"
import sys, numpy as np
m = sys.argv[1] + "/tiny-llama-s1."
exact = lambda name: np.fromfile(m + name + ".exact.logits", dtype=np.float32).astype(np.float64)
reference = exact("f32")
rel = lambda a: np.linalg.norm(a - reference) / np.linalg.norm(reference)
top = lambda a: (a.reshape(-1, 512).argmax(1) == reference.reshape(-1, 512).argmax(1)).mean()
ok = True
for name, yardstick, factor in [("i8_row", "q8_0", 2.0), ("cb4", "iq4_nl", 1.5)]:
    got = np.fromfile(name + ".logits", dtype=np.float32).astype(np.float64)
    weight_cost = rel(exact(yardstick))
    bound = factor * weight_cost + 3e-2
    # Top-1 against the f32 reference: no more than 0.1 below the yardstick's own (llama.cpp's
    # q8_0 weights keep 1.000 of the argmaxes of this random-weight model, its iq4_nl 0.604).
    top_bound = top(exact(yardstick)) - 0.1
    print(f"{name}: relative L2 {rel(got):.3e} (bound {bound:.3e}; llama.cpp {yardstick} weights alone {weight_cost:.3e}),"
          f" top-1 {top(got):.3f} (bound {top_bound:.3f})")
    ok &= rel(got) <= bound and top(got) >= top_bound
sys.exit(0 if ok else 1)
PY

# 3. Bad input.
expect_error() {  # expected-message-part, then the command's arguments
  local want=$1; shift
  rm -rf out && mkdir out
  "$JISU" "$@" > /dev/null 2> err.txt
  local rc=$?
  [[ $rc == 1 ]] || fail "$* exited $rc"
  [[ $(grep -c "^error:" err.txt) == 1 ]] || fail "$*: not one error line: $(cat err.txt)"
  grep -qi -- "$want" err.txt || fail "$*: '$want' not in: $(cat err.txt)"
  [[ -z $(ls -A out) ]] || fail "$* left $(ls -A out)"
}
# Hostile files made by patching the cb4 file's header: the codebook tensor renamed (missing),
# its length 16 -> 8, its type I8 -> I16.
python3 - <<'PY' || fail "patching the cb4 file"
import struct
data = open("cb4.gguf", "rb").read()
name = b"blk.1.ffn_up.weight.codebook"
at = data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
n_dims, dim = struct.unpack_from("<IQ", data, at)
assert (n_dims, dim) == (1, 16), (n_dims, dim)
type_at = at + 4 + 8
assert struct.unpack_from("<I", data, type_at)[0] == 24  # GGUF I8
open("missing.gguf", "wb").write(data.replace(name, b"blk.1.ffn_up.weight.codebooX", 1))
open("short.gguf", "wb").write(data[:at + 4] + struct.pack("<Q", 8) + data[at + 12:])
open("wide.gguf", "wb").write(data[:type_at] + struct.pack("<I", 25) + data[type_at + 4:])
rows = open("i8_row.gguf", "rb").read()
name = b"blk.2.ffn_down.weight.row_scale"
assert name in rows
open("noscales.gguf", "wb").write(rows.replace(name, b"blk.2.ffn_down.weight.row_scalX", 1))
PY
expect_error "lacks its codebook" logits -m missing.gguf --tokens 1,2,3 -o out/x.logits -t 2
expect_error "expected i8 of shape \[16\]" logits -m short.gguf --tokens 1,2,3 -o out/x.logits -t 2
expect_error "expected i8 of shape \[16\]" logits -m wide.gguf --tokens 1,2,3 -o out/x.logits -t 2
expect_error "lacks its row scales" logits -m noscales.gguf --tokens 1,2,3 -o out/x.logits -t 2
expect_error "token_embd.weight cannot be cb4" quantize "$TINY" out/x.gguf q8_0 --token-embedding-type cb4 -t 2
expect_error "token_embd.weight cannot be i8_row" quantize "$TINY" out/x.gguf cb4 --token-embedding-type i8_row -t 2
expect_error "jisu-only" prune -m cb4.gguf -o out/x.gguf --sparsity 0.5 -t 2
expect_error "jisu-only" prune -m i8_row.gguf -o out/x.gguf --sparsity 0.5 --dense-output -t 2

[[ $failures == 0 ]] && echo "quant_types: all checks passed"
exit $((failures > 0))
