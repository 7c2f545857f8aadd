#!/usr/bin/env python3
"""Writes tests/data/dequant/<type>.bin: raw weight blocks taken from the tiny-llama fixture
models (or, for a type no fixture holds, random blocks with a finite fp16 scale) plus the
float32 values the `gguf` Python package (an implementation independent of ours) dequantizes
them to. tests/unit/test_quant_kernels.cpp checks our kernels against them.

File layout (all little-endian):
    char[4]  magic "JQDQ"
    uint32   version (1)
    uint32   ggml type id (as in GGUF / jisu::DType)
    uint32   n_elements     (number of float values)
    uint32   n_bytes        (number of raw block bytes)
    uint8    raw[n_bytes]
    float32  expected[n_elements]

Usage: python3 tests/tools/make_dequant_reference.py [--fixtures DIR] [--out DIR]
Defaults: ../shared/fixtures/models next to the repository, tests/data/dequant.
"""
import argparse
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

REPO = Path(__file__).resolve().parents[2]

# wanted type -> (fixture file suffix, output name)
WANTED = [
    (Q.F32, "f32", "f32"),
    (Q.F16, "f16", "f16"),
    (Q.BF16, "bf16", "bf16"),
    (Q.Q8_0, "q8_0", "q8_0"),
    (Q.Q4_0, "q4_0", "q4_0"),
    (Q.Q4_1, "q4_1", "q4_1"),
    (Q.Q5_0, "q5_0", "q5_0"),
    (Q.Q5_1, "q5_1", "q5_1"),
    (Q.Q2_K, "q2_k", "q2_k"),
    (Q.Q3_K, "q3_k_m", "q3_k"),
    (Q.Q4_K, "q4_k_m", "q4_k"),
    (Q.Q5_K, "q5_k_m", "q5_k"),
    (Q.Q6_K, "q6_k", "q6_k"),
    (Q.IQ4_NL, "iq4_nl", "iq4_nl"),
]
# Types no fixture model holds: random blocks, the fp16 scale at byte 0 set to a finite value.
SYNTHESIZED = [(Q.IQ4_XS, "iq4_xs")]
SYNTHESIZED_BLOCKS = 8
# Any file may hold the wanted type (the q*_k_m files are mixes); these are tried after the
# preferred one.
ALL_SUFFIXES = [w[1] for w in WANTED]
PREFERRED_TENSOR = "blk.0.attn_q.weight"
ROWS = 4


def find_tensor(models: Path, qtype, preferred_suffix: str):
    order = [preferred_suffix] + [s for s in ALL_SUFFIXES if s != preferred_suffix]
    for suffix in order:
        path = models / f"tiny-llama-s1.{suffix}.gguf"
        if not path.exists():
            continue
        reader = gguf.GGUFReader(str(path))
        tensors = sorted(reader.tensors, key=lambda t: (t.name != PREFERRED_TENSOR, t.name))
        for t in tensors:
            if t.tensor_type == qtype and len(t.data.shape) >= 2 and t.data.shape[0] >= ROWS:
                return path, t
    return None, None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=str(REPO.parent / "shared" / "fixtures" / "models"))
    ap.add_argument("--out", default=str(REPO / "tests" / "data" / "dequant"))
    args = ap.parse_args()
    models = Path(args.fixtures)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    for qtype, suffix, name in WANTED:
        path, tensor = find_tensor(models, qtype, suffix)
        if tensor is None:
            print(f"error: no {qtype.name} tensor in {models}", file=sys.stderr)
            return 1
        rows = np.ascontiguousarray(tensor.data[:ROWS])
        raw = rows.tobytes()
        expected = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype)
        expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(-1)
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        assert len(raw) % block_bytes == 0
        assert expected.size == len(raw) // block_bytes * block_elems
        header = b"JQDQ" + struct.pack("<IIII", 1, int(qtype), expected.size, len(raw))
        (out / f"{name}.bin").write_bytes(header + raw + expected.astype("<f4").tobytes())
        print(f"{name}: {path.name} {tensor.name} {expected.size} values, {len(raw)} bytes")

    rng = np.random.default_rng(20261203)
    for qtype, name in SYNTHESIZED:
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        blocks = rng.integers(0, 256, size=(SYNTHESIZED_BLOCKS, block_bytes), dtype=np.uint8)
        scales = (rng.uniform(-1, 1, SYNTHESIZED_BLOCKS) * 2.0 ** rng.integers(-12, 0, SYNTHESIZED_BLOCKS))
        blocks[:, 0:2] = scales.astype(np.float16).view(np.uint8).reshape(SYNTHESIZED_BLOCKS, 2)
        raw = blocks.tobytes()
        expected = np.ascontiguousarray(gguf.quants.dequantize(blocks.reshape(-1), qtype), dtype=np.float32).reshape(-1)
        header = b"JQDQ" + struct.pack("<IIII", 1, int(qtype), expected.size, len(raw))
        (out / f"{name}.bin").write_bytes(header + raw + expected.astype("<f4").tobytes())
        print(f"{name}: {SYNTHESIZED_BLOCKS} random blocks, {expected.size} values, {len(raw)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
