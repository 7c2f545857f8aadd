#!/usr/bin/env python3
"""Hugging Face model folders against independent references.

Folders are built from the fixture GGUF models by tests/tools/make_hf_folders.py (the `gguf`
package and numpy, not jisu), in every architecture the fixtures cover, F32/F16/BF16, sharded
and not. Then:
  - `jisu logits -m DIR` against the fixture's float64 reference logits (relative L2 <= 1e-5)
    and against `jisu logits -m FIXTURE.gguf` (<= 1e-5);
  - `jisu convert DIR OUT.gguf` re-read by the `gguf` package's reader: llama.cpp's metadata
    keys with the fixture's values and tensors bit-identical to the fixture's (the fixtures were
    written by the llama.cpp ecosystem, Q/K permutation included); --type f16 equals numpy's
    rounding; --type q8_0 dequantized by the gguf package within Q8_0's bound; the converted
    files' logits against the references;
  - broken folders: each gives a one-line error naming its problem, exit 1, and `jisu convert`
    leaves no file behind.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

JISU = os.path.abspath(sys.argv[1])
SOURCE = os.path.abspath(sys.argv[2])
SHARED = os.path.abspath(os.environ.get("JISU_SHARED_DIR", os.path.join(SOURCE, "..", "shared")))
MODELS = os.path.join(SHARED, "fixtures", "models")
failures = []


def fail(message):
    print("FAIL:", message, file=sys.stderr)
    failures.append(message)


def relative_error(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64)))


def logits(model, stem, tmp, label):
    tokens = json.load(open(os.path.join(MODELS, stem + ".json")))["tokens"]
    out = os.path.join(tmp, label + ".logits")
    run = subprocess.run([JISU, "logits", "-m", model, "--tokens", ",".join(map(str, tokens)), "-o", out, "-t", "2"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"{label}: jisu logits failed: {run.stderr.strip()}")
        return None
    return np.fromfile(out, dtype=np.float32)


def exact(stem):
    return np.fromfile(os.path.join(MODELS, stem + ".exact.logits"), dtype=np.float32)


def check_logits(model, stem, tmp, label, bound):
    got = logits(model, stem, tmp, label)
    if got is None:
        return
    error = relative_error(got, exact(stem))
    print(f"{label}: logits vs float64 reference {error:.3g} (bound {bound:g})")
    if not error <= bound:
        fail(f"{label}: logits relative error {error:.3g} > {bound:g}")
    return got


def fields(reader):
    out = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = field.contents()
        out[key] = list(value) if isinstance(value, list) else value
    return out


def tensor_bytes(reader):
    return {t.name: (t.tensor_type.name, [int(d) for d in t.shape], np.asarray(t.data).tobytes()) for t in reader.tensors}


def check_converted_equals_fixture(converted, stem, label):
    """Metadata keys and tensors of a converted F32/F16/BF16 file against the fixture GGUF."""
    got, want = GGUFReader(converted), GGUFReader(os.path.join(MODELS, stem + ".gguf"))
    got_fields, want_fields = fields(got), fields(want)
    arch = want_fields["general.architecture"]
    keys = ["general.architecture", f"{arch}.context_length", f"{arch}.embedding_length", f"{arch}.block_count",
            f"{arch}.feed_forward_length", f"{arch}.attention.head_count", f"{arch}.attention.head_count_kv",
            f"{arch}.rope.freq_base", f"{arch}.attention.layer_norm_rms_epsilon", f"{arch}.expert_count",
            f"{arch}.expert_used_count", "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token"]
    for key in keys:
        if got_fields.get(key) != want_fields.get(key):
            fail(f"{label}: metadata {key} = {str(got_fields.get(key))[:80]}, the fixture has {str(want_fields.get(key))[:80]}")
    if "tokenizer.chat_template" not in got_fields:
        fail(f"{label}: no tokenizer.chat_template")
    if got_fields.get("general.file_type") != want_fields.get("general.file_type", 0):
        fail(f"{label}: general.file_type {got_fields.get('general.file_type')}")
    got_tensors, want_tensors = tensor_bytes(got), tensor_bytes(want)
    if set(got_tensors) != set(want_tensors):
        fail(f"{label}: tensors {sorted(set(got_tensors) ^ set(want_tensors))} differ between the files")
    same = sum(got_tensors[n] == want_tensors[n] for n in got_tensors.keys() & want_tensors.keys())
    print(f"{label}: {same}/{len(want_tensors)} tensors bit-identical to {stem}.gguf")
    if same != len(want_tensors):
        fail(f"{label}: only {same} of {len(want_tensors)} tensors equal the fixture's")


def run_convert(folder, out, *extra):
    return subprocess.run([JISU, "convert", folder, out, "-t", "2", *extra], capture_output=True, text=True)


def main():
    tmp = tempfile.mkdtemp(prefix="jisu-hf-folders.")
    try:
        folders = {  # name: (fixture stem, generator options)
            "llama": ("tiny-llama-s1.f32", ""), "llama-sharded": ("tiny-llama-s1.f32", ":shards=3"),
            "qwen2": ("tiny-qwen2-s1.f32", ""), "phi3": ("tiny-phi3-s1.f32", ""),
            "gemma": ("tiny-gemma-s1.f32", ""), "moe": ("tiny-moe-s1.f32", ":shards=2"),
            "llama-f16": ("tiny-llama-s1.f16", ":dtype=f16"), "llama-bf16": ("tiny-llama-s1.bf16", ":dtype=bf16:shards=2"),
        }
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests", "tools", "make_hf_folders.py"), MODELS, tmp] +
                       [f"{name}={stem}{options}" for name, (stem, options) in folders.items()], check=True)

        # 1. -m DIR: every architecture and precision.
        for name, (stem, _) in folders.items():
            folder = os.path.join(tmp, name)
            from_folder = check_logits(folder, stem, tmp, f"-m {name}", 1e-5)
            from_gguf = logits(os.path.join(MODELS, stem + ".gguf"), stem, tmp, f"{name}-gguf")
            if from_folder is not None and from_gguf is not None:
                error = relative_error(from_folder, from_gguf)
                if not error <= 1e-5:
                    fail(f"-m {name}: logits differ from the GGUF's by {error:.3g}")

        # 2. jisu convert, re-read by the gguf package.
        for name in ("llama", "llama-sharded", "qwen2", "phi3", "gemma", "moe", "llama-bf16"):
            stem = folders[name][0]
            out = os.path.join(tmp, name + ".gguf")
            run = run_convert(os.path.join(tmp, name), out)
            if run.returncode != 0:
                fail(f"convert {name}: {run.stderr.strip()}")
                continue
            check_converted_equals_fixture(out, stem, f"convert {name}")
            check_logits(out, stem, tmp, f"convert {name} -> logits", 1e-5)

        fixture = {t.name: t for t in GGUFReader(os.path.join(MODELS, "tiny-llama-s1.f32.gguf")).tensors}
        out = os.path.join(tmp, "llama-as-f16.gguf")
        if run_convert(os.path.join(tmp, "llama"), out, "--type", "f16").returncode != 0:
            fail("convert --type f16 failed")
        else:
            for t in GGUFReader(out).tensors:
                want = np.asarray(fixture[t.name].data)
                if len(t.shape) >= 2 and not np.array_equal(np.asarray(t.data), want.astype(np.float16)):
                    fail(f"convert --type f16: {t.name} is not the f32 weights rounded to f16")
                if len(t.shape) == 1 and t.tensor_type.name != "F32":
                    fail(f"convert --type f16: 1-D {t.name} is {t.tensor_type.name}, llama.cpp writes F32")
            check_logits(out, "tiny-llama-s1.f16", tmp, "convert --type f16 -> logits", 5e-3)

        out = os.path.join(tmp, "llama-as-q8_0.gguf")
        if run_convert(os.path.join(tmp, "llama"), out, "--type", "q8_0").returncode != 0:
            fail("convert --type q8_0 failed")
        else:
            worst = 0.0
            for t in GGUFReader(out).tensors:
                want = np.asarray(fixture[t.name].data, dtype=np.float32)
                got = dequantize(t.data, t.tensor_type).reshape(want.shape)
                if len(t.shape) >= 2:
                    if t.tensor_type.name != "Q8_0":
                        fail(f"convert --type q8_0: {t.name} is {t.tensor_type.name}")
                    worst = max(worst, relative_error(got, want))
            # The bound of tests/e2e/quality_tools.sh: half a Q8_0 step on Gaussian-like weights, with margin.
            print(f"convert --type q8_0: worst per-tensor relative weight error {worst:.3g} (bound 0.01)")
            if not worst <= 0.01:
                fail(f"convert --type q8_0: weight error {worst:.3g}")
            check_logits(out, "tiny-llama-s1.f32", tmp, "convert --type q8_0 -> logits", 3e-2)

        check_tokenization(tmp)
        check_bad_folders(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("hf_folders: all checks passed")


def check_tokenization(tmp):
    """The demo model's complete SentencePiece vocabulary as a folder: its tokenizer.json (merges
    derived from the scores, as Hugging Face's converter does) must tokenize text exactly as the
    GGUF does with the real SentencePiece scores, through `-m DIR` (tokenizer.json turned into GGUF
    metadata) and through tokenizer.json read directly."""
    demo = os.path.join(SHARED, "models", "demo-shakespeare")
    subprocess.run([sys.executable, os.path.join(SOURCE, "tests", "tools", "make_hf_folders.py"), demo, tmp,
                    "demo=model.f32"], check=True)
    text = os.path.join(tmp, "text.txt")
    with open(os.path.join(SHARED, "corpora", "tinyshakespeare.txt"), "rb") as f:
        f.seek(-30000, os.SEEK_END)
        open(text, "wb").write(f.read())
    ids = {}
    for label, model in (("gguf", os.path.join(demo, "model.f32.gguf")), ("folder", os.path.join(tmp, "demo")),
                         ("tokenizer.json", os.path.join(tmp, "demo", "tokenizer.json"))):
        run = subprocess.run([JISU, "tokenize", "-m", model, "-f", text], capture_output=True, text=True)
        ids[label] = run.stdout.split() if run.returncode == 0 else run.stderr
    print(f"tokenization of 30 kB: {len(ids['gguf'])} tokens from the GGUF; folder equal: {ids['folder'] == ids['gguf']}, "
          f"tokenizer.json equal: {ids['tokenizer.json'] == ids['gguf']}")
    if not (len(ids["gguf"]) > 1000 and ids["folder"] == ids["gguf"] and ids["tokenizer.json"] == ids["gguf"]):
        fail("tokenization of the demo model's folder differs from its GGUF's")


def safetensors(header, data=b"", pad=True):
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + data


def check_bad_folders(tmp):
    good = os.path.join(tmp, "llama")
    weights = open(os.path.join(good, "model.safetensors"), "rb").read()
    header_len = int.from_bytes(weights[:8], "little")
    header = json.loads(weights[8:8 + header_len])
    first = next(k for k in header if k != "__metadata__")
    begin, end = header[first]["data_offsets"]

    def edited_header(edit):
        h = json.loads(json.dumps(header))
        edit(h)
        return safetensors(h, weights[8 + header_len:])

    def rename_tensor(h, old, new):
        h[new] = h.pop(old)

    cases = {  # name: (what to change, words the error must contain)
        "no-config": ({"config.json": None}, "without config.json"),
        "config-not-json": ({"config.json": b"{\"hidden_size\": 256,"}, "not valid JSON"),
        "config-deep": ({"config.json": b"[" * 100000}, "nested deeper"),
        "config-unknown-arch": ({"config.json": lambda c: dict(c, model_type="mamba")}, "model_type 'mamba' is not supported"),
        "config-bad-value": ({"config.json": lambda c: dict(c, hidden_size="256")}, "'hidden_size'"),
        "no-weights": ({"model.safetensors": None}, "no *.safetensors"),
        "no-tokenizer": ({"tokenizer.json": None}, "no tokenizer.json"),
        "truncated": ({"model.safetensors": weights[:len(weights) // 2]}, "outside the data section"),
        "header-past-end": ({"model.safetensors": (10 ** 9).to_bytes(8, "little") + weights[8:]}, "past the end of the file"),
        "header-not-json": ({"model.safetensors": safetensors({}).replace(b"{}", b"{[")}, "not valid JSON"),
        "unknown-dtype": ({"model.safetensors": edited_header(lambda h: h[first].update(dtype="F7"))}, "unknown dtype 'F7'"),
        "integer-dtype": ({"model.safetensors": edited_header(lambda h: h[first].update(dtype="I32"))}, "dtype I32"),
        "size-mismatch": ({"model.safetensors": edited_header(lambda h: h[first].update(shape=[3, 5]))}, "needs 60 bytes"),
        "overlap": ({"model.safetensors": edited_header(
            lambda h: [h[k].update(data_offsets=[begin, end]) for k in list(h)[2:3]] and None)}, "overlap"),
        "misaligned": ({"model.safetensors": edited_header(
            lambda h: h[first].update(data_offsets=[begin + 2, end + 2]))}, "not aligned"),
        "out-of-bounds": ({"model.safetensors": edited_header(
            lambda h: h[first].update(data_offsets=[begin + 2 ** 40, end + 2 ** 40]))}, "outside the data section"),
        "unknown-tensor": ({"model.safetensors": edited_header(
            lambda h: rename_tensor(h, "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.odd_proj.weight"))},
            "has no GGUF name"),
        "missing-tensor": ({"model.safetensors": edited_header(lambda h: h.pop("model.layers.1.self_attn.q_proj.weight"))},
                           "lacks tensor 'blk.1.attn_q.weight'"),
        "index-missing-shard": ({"model.safetensors.index.json": json.dumps(
            {"weight_map": {first: "model-00009-of-00009.safetensors"}}).encode()}, "cannot open"),
        "index-escapes-folder": ({"model.safetensors.index.json": json.dumps(
            {"weight_map": {first: "../llama/model.safetensors"}}).encode()}, "not a file name in the folder"),
        "tokenizer-not-json": ({"tokenizer.json": b"{\"model\": "}, "invalid JSON"),
    }
    for name, (changes, expected) in cases.items():
        folder = os.path.join(tmp, "bad-" + name)
        shutil.copytree(good, folder)
        for file, content in changes.items():
            path = os.path.join(folder, file)
            if content is None:
                os.remove(path)
            elif callable(content):
                json.dump(content(json.load(open(path))), open(path, "w"))
            else:
                open(path, "wb").write(content)
        run = subprocess.run([JISU, "logits", "-m", folder, "--tokens", "1,2,3", "-o", os.path.join(folder, "l")],
                             capture_output=True, text=True)
        lines = run.stderr.strip().splitlines()
        if run.returncode != 1 or len(lines) != 1 or expected not in run.stderr:
            fail(f"bad folder {name}: exit {run.returncode}, stderr {run.stderr.strip()[:300]!r}, expected {expected!r}")
        out_dir = os.path.join(tmp, "out-" + name)
        os.makedirs(out_dir)
        run = run_convert(folder, os.path.join(out_dir, "out.gguf"))
        if run.returncode != 1 or expected not in run.stderr or os.listdir(out_dir):
            fail(f"convert bad folder {name}: exit {run.returncode}, left {os.listdir(out_dir)}, stderr {run.stderr.strip()[:300]!r}")
    print(f"{len(cases)} broken folders: one-line errors, nothing written")


if __name__ == "__main__":
    main()
