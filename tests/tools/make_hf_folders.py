#!/usr/bin/env python3
"""Builds small Hugging Face model folders from the fixture GGUF models, independently of jisu:
the GGUF is read with the `gguf` package, tensors get their Hugging Face names and layouts
(Q/K rows un-permuted back to rotate-half order for llama-style RoPE, Gemma's norms stored as
w - 1, Mixtral's stacked experts split), and safetensors are written by hand (8-byte length,
JSON header, data). config.json, tokenizer.json (the vocabulary as Hugging Face's SentencePiece
converter writes it: BPE with byte fallback and merges ordered by piece score) and
tokenizer_config.json complete each folder.

  make_hf_folders.py FIXTURE_MODELS_DIR OUT_DIR NAME=GGUF_STEM[:shards=N][:dtype=bf16|f16|f32] ...

Each folder OUT_DIR/NAME mirrors FIXTURE_MODELS_DIR/GGUF_STEM.gguf. dtype converts 2-D weights
(1-D tensors keep the GGUF's F32, as the fixture files store them); shards > 1 writes
model-0000i-of-0000N.safetensors files and model.safetensors.index.json.
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFReader

CHAT_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
                 "message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}"
                 "{% endfor %}")

LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_qkv.weight": "self_attn.qkv_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight", "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "ffn_gate_inp.weight": "block_sparse_moe.gate.weight",
}
EXPERT_NAMES = {"ffn_gate_exps.weight": "w1", "ffn_down_exps.weight": "w2", "ffn_up_exps.weight": "w3"}
GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    value = f.contents()
    return value


def tensor_array(t):
    """The tensor as a numpy array in Hugging Face (row-major, outermost first) shape."""
    shape = tuple(int(d) for d in reversed(t.shape))
    name = t.tensor_type.name
    if name == "F32":
        return np.asarray(t.data, dtype=np.float32).reshape(shape)
    if name == "F16":
        return np.asarray(t.data, dtype=np.float16).reshape(shape)
    if name == "BF16":  # raw bytes; kept as uint16 bit patterns tagged BF16
        return BF16(np.asarray(t.data).view(np.uint16).reshape(shape))
    raise SystemExit(f"{t.name}: type {name} cannot be written to safetensors here")


class BF16:
    def __init__(self, bits):
        self.bits = bits
        self.shape = bits.shape

    def reshape(self, *shape):
        return BF16(self.bits.reshape(*shape))


def to_float32(a):
    if isinstance(a, BF16):
        return (a.bits.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def convert(a, dtype):
    if dtype == "f32":
        return to_float32(a)
    if dtype == "f16":
        return to_float32(a).astype(np.float16)
    # bf16 by round-to-nearest-even, as torch does
    bits = to_float32(a).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return BF16(rounded.astype(np.uint16))


def unpermute(a, heads):
    """GGUF pair order -> Hugging Face rotate-half order (inverse of llama.cpp's permute)."""
    rows = a.shape[0]
    inner = a.bits if isinstance(a, BF16) else a
    out = inner.reshape(heads, rows // heads // 2, 2, *inner.shape[1:]).swapaxes(1, 2).reshape(inner.shape)
    return BF16(out) if isinstance(a, BF16) else out


def safetensors_bytes(tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        if isinstance(a, BF16):
            dtype, raw = "BF16", np.ascontiguousarray(a.bits).tobytes()
        else:
            dtype = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[a.dtype]
            raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def spm_tokenizer_json(tokens, scores, types):
    vocab = {tok: i for i, tok in enumerate(tokens)}
    merges = []
    for i, piece in enumerate(tokens):
        if types[i] != 1:
            continue
        local = []
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                local.append((vocab[left], vocab[right], scores[i]))
        local.sort(key=lambda m: (m[0], m[1]))
        merges.extend(local)
    merges.sort(key=lambda m: -m[2])  # stable, as Hugging Face's converter sorts
    added = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in range(len(tokens)) if types[i] in (2, 3)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                           {"type": "Replace", "pattern": {"String": " "},
                                                            "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[tokens[l], tokens[r]] for l, r, _ in merges]},
    }


def hf_config(reader, arch):
    g = lambda key, default=None: field(reader, f"{arch}.{key}", default)
    n_expert = g("expert_count", 0)
    model_type = {"llama": "mixtral" if n_expert else "llama"}.get(arch, arch)
    config = {
        "architectures": [{"llama": "LlamaForCausalLM", "mixtral": "MixtralForCausalLM", "qwen2": "Qwen2ForCausalLM",
                           "phi3": "Phi3ForCausalLM", "gemma": "GemmaForCausalLM"}[model_type]],
        "model_type": model_type,
        "hidden_size": g("embedding_length"), "intermediate_size": g("feed_forward_length"),
        "num_hidden_layers": g("block_count"), "num_attention_heads": g("attention.head_count"),
        "num_key_value_heads": g("attention.head_count_kv", g("attention.head_count")),
        "max_position_embeddings": g("context_length"), "rms_norm_eps": float(g("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(g("rope.freq_base", 10000.0)), "vocab_size": len(field(reader, "tokenizer.ggml.tokens")),
        "tie_word_embeddings": not any(t.name == "output.weight" for t in reader.tensors),
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "gelu_pytorch_tanh" if arch == "gemma" else "silu",
    }
    if g("attention.key_length") is not None:
        config["head_dim"] = g("attention.key_length")
    elif arch == "gemma":
        config["head_dim"] = g("embedding_length") // g("attention.head_count")
    if n_expert:
        config["num_local_experts"] = n_expert
        config["num_experts_per_tok"] = g("expert_used_count")
    return config


def hf_tensors(reader, config, dtype):
    arch = field(reader, "general.architecture")
    permute = arch == "llama"
    out = []
    for t in reader.tensors:
        a = tensor_array(t)
        if t.name in GLOBAL_NAMES:
            name = GLOBAL_NAMES[t.name]
        else:
            _, layer, rest = t.name.split(".", 2)
            prefix = f"model.layers.{layer}."
            if rest in EXPERT_NAMES:
                for e in range(a.shape[0]):
                    expert = BF16(a.bits[e]) if isinstance(a, BF16) else a[e]
                    out.append((f"{prefix}block_sparse_moe.experts.{e}.{EXPERT_NAMES[rest]}.weight",
                                convert(expert, dtype) if len(a.shape) > 1 else expert))
                continue
            name = prefix + LAYER_NAMES[rest]
            if arch == "phi3" and rest == "ffn_up.weight":
                name = prefix + "mlp.gate_up_proj.weight"
            if permute and rest.startswith("attn_q."):
                a = unpermute(a, config["num_attention_heads"])
            if permute and rest.startswith("attn_k."):
                a = unpermute(a, config["num_key_value_heads"])
        if arch == "gemma" and t.name.endswith("norm.weight"):
            a = to_float32(a) - np.float32(1)
        out.append((name, convert(a, dtype) if len(a.shape) > 1 else a))
    return out


def build(models_dir, out_dir, spec):
    name, rest = spec.split("=", 1)
    stem, *options = rest.split(":")
    options = dict(o.split("=", 1) for o in options)
    reader = GGUFReader(os.path.join(models_dir, stem + ".gguf"))
    arch = field(reader, "general.architecture")
    config = hf_config(reader, arch)
    dtype = options.get("dtype", "f32")
    config["torch_dtype"] = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype]
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tokens, scores, types = (list(field(reader, f"tokenizer.ggml.{k}")) for k in ("tokens", "scores", "token_type"))
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(spm_tokenizer_json(tokens, scores, types), f, ensure_ascii=False)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "chat_template": CHAT_TEMPLATE}, f)
    tensors = hf_tensors(reader, config, dtype)
    shards = int(options.get("shards", 1))
    if shards == 1:
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes(tensors))
        return
    weight_map = {}
    per_shard = -(-len(tensors) // shards)
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = tensors[i * per_shard:(i + 1) * per_shard]
        with open(os.path.join(folder, file), "wb") as f:
            f.write(safetensors_bytes(part))
        weight_map.update({n: file for n, _ in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    for spec in sys.argv[3:]:
        build(sys.argv[1], sys.argv[2], spec)
