#!/usr/bin/env python3
"""Relative squared error of each weight matrix of quantized GGUF files against their source:
sum((x_hat - x)^2) / sum(x^2) per tensor, x_hat dequantized by the `gguf` package (every llama.cpp
type) or, for jisu's cb4, from its layout here (IQ4_NL's 18-byte blocks, the indices into the
tensor's "<name>.codebook" levels). No importance weighting.
    python3 scripts/quantization_error.py SOURCE.gguf QUANTIZED.gguf [QUANTIZED.gguf ...]
One row per matrix (x 1e-3), then each file's range over the layer matrices ("blk.*")."""
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

CB4 = 0x4A534304
CODEBOOK_SUFFIX = ".codebook"
VALUE_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF scalar types


class Header:
    """The tensor table of a GGUF file (the gguf package's reader refuses jisu-only types)."""

    def __init__(self, data):
        self.data, self.pos = data, 0
        _, _, n_tensors, n_kv = self.read("IIQQ")
        alignment = 32
        for _ in range(n_kv):
            key = self.string()
            (value_type,) = self.read("I")
            start = self.pos
            self.skip(value_type)
            if key == b"general.alignment":
                alignment = struct.unpack_from("<I", data, start)[0]
        self.tensors = []  # (name, shape outermost first, type, offset)
        for _ in range(n_tensors):
            name = self.string().decode()
            (n_dims,) = self.read("I")
            dims = self.read("Q" * n_dims)
            tensor_type, offset = self.read("IQ")
            self.tensors.append((name, list(reversed(dims)), tensor_type, offset))
        self.data_start = (self.pos + alignment - 1) // alignment * alignment

    def read(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def string(self):
        (n,) = self.read("Q")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def skip(self, value_type):
        if value_type == 8:
            self.string()
        elif value_type == 9:
            element_type, n = self.read("IQ")
            for _ in range(n):
                self.skip(element_type)
        else:
            self.pos += VALUE_SIZES[value_type]


def dequantize_cb4(raw, levels, shape):
    blocks = raw.reshape(-1, 18)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32).reshape(-1, 1)
    nibbles = blocks[:, 2:]
    indices = np.concatenate([nibbles & 15, nibbles >> 4], axis=1)  # low nibbles: elements 0..15
    return (levels[indices] * scales).reshape(shape)


def load(path):
    data = open(path, "rb").read()
    header = Header(data)

    def raw(offset, n_bytes):
        start = header.data_start + offset
        return np.frombuffer(data, dtype=np.uint8, count=n_bytes, offset=start)

    codebooks = {name[: -len(CODEBOOK_SUFFIX)]: raw(offset, 16).view(np.int8).astype(np.float32)
                 for name, _, _, offset in header.tensors if name.endswith(CODEBOOK_SUFFIX)}
    matrices = {}
    for name, shape, tensor_type, offset in header.tensors:
        if len(shape) != 2 or name.endswith(CODEBOOK_SUFFIX):
            continue
        elements = shape[0] * shape[1]
        if tensor_type == CB4:
            matrices[name] = dequantize_cb4(raw(offset, elements // 32 * 18), codebooks[name], shape)
        else:
            qtype = GGMLQuantizationType(tensor_type)
            block, block_bytes = GGML_QUANT_SIZES[qtype]
            n_bytes = elements // block * block_bytes
            matrices[name] = dequantize(raw(offset, n_bytes).reshape(shape[0], -1), qtype).reshape(shape)
    return matrices


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    source = load(sys.argv[1])
    files = sys.argv[2:]
    quantized = [load(path) for path in files]
    print("tensor".ljust(28) + "".join(path.split("/")[-1][:14].rjust(15) for path in files))
    layer_errors = [[] for _ in files]
    for name, x in source.items():
        errors = [float(((q[name] - x) ** 2).sum() / (x ** 2).sum()) for q in quantized]
        print(name.ljust(28) + "".join(f"{e * 1e3:15.4f}" for e in errors))
        if name.startswith("blk."):
            for collected, e in zip(layer_errors, errors):
                collected.append(e)
    print("layer matrices (min-max)".ljust(28) +
          "".join(f"{min(e) * 1e3:7.3f}-{max(e) * 1e3:.3f}".rjust(15) for e in layer_errors))


if __name__ == "__main__":
    main()
