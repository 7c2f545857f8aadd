"""A random-weight BERT GGUF (llama.cpp's `bert` tensor names and metadata) with the bge
vocabulary, and an independent float64 numpy forward of it with pooling.

    python3 tests/tools/bert_fixture.py OUT.gguf [--vocab ggml-vocab-bert-bge.gguf] [--pooling mean|cls]
        [--shape tiny|bge-small]

The reference reads the weights back with the gguf package's reader, not through jisu.
"""
import argparse
import math

import gguf
import numpy as np

# The test fixture's dims, and bge-small-en-v1.5's (for a throughput measurement of a real shape).
SHAPES = {
    # gain: std of W x over std of x for the random matrices. The tiny fixture's 2 makes its
    # attention peaked (a sharp test); bge-small's 1 keeps 12 random layers from turning chaotic
    # (where quantization noise alone would decorrelate the outputs).
    "tiny": dict(n_embd=64, n_head=4, n_layer=2, n_ff=128, n_ctx=64, n_types=2, eps=1e-12, gain=2.0),
    "bge-small": dict(n_embd=384, n_head=12, n_layer=12, n_ff=1536, n_ctx=512, n_types=2, eps=1e-12, gain=1.0),
}
POOLING = {"none": 0, "mean": 1, "cls": 2, "last": 3}


def write_fixture(path, vocab_path, pooling="mean", seed=7, shape="tiny"):
    vocab = gguf.GGUFReader(vocab_path)
    tokens = [bytes(vocab.fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in vocab.fields["tokenizer.ggml.tokens"].data]
    token_types = [int(vocab.fields["tokenizer.ggml.token_type"].parts[i][0])
                   for i in vocab.fields["tokenizer.ggml.token_type"].data]

    def scalar(key):
        field = vocab.fields[key]
        return int(field.parts[field.data[0]][0])

    dims = SHAPES[shape]
    d, h, layers, ff, ctx = dims["n_embd"], dims["n_head"], dims["n_layer"], dims["n_ff"], dims["n_ctx"]
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, "bert")
    writer.add_name("bert-random-bge-vocab")
    writer.add_block_count(layers)
    writer.add_context_length(ctx)
    writer.add_embedding_length(d)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(h)
    writer.add_layer_norm_eps(dims["eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(POOLING[pooling]))
    writer.add_file_type(0)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_type_count(dims["n_types"])
    for key in ("unknown_token_id", "seperator_token_id", "padding_token_id", "cls_token_id", "mask_token_id"):
        # add_uint32 rather than add_cls_token_id and friends: not every gguf release has them all.
        writer.add_uint32("tokenizer.ggml." + key, scalar("tokenizer.ggml." + key))

    def tensor(name, *shape, scale=0.1, offset=0.0):
        # numpy (rows, cols) is GGUF shape [cols, rows], as llama.cpp's converter writes it.
        writer.add_tensor(name, (offset + scale * rng.standard_normal(shape)).astype(np.float32))

    tensor("token_embd.weight", len(tokens), d, scale=0.5)
    tensor("token_types.weight", dims["n_types"], d, scale=0.5)
    tensor("position_embd.weight", ctx, d, scale=0.5)
    tensor("token_embd_norm.weight", d, scale=0.1, offset=1.0)
    tensor("token_embd_norm.bias", d)
    for i in range(layers):
        p = f"blk.{i}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(p + name + ".weight", d, d, scale=dims["gain"] / math.sqrt(d))
            tensor(p + name + ".bias", d)
        tensor(p + "attn_output_norm.weight", d, scale=0.1, offset=1.0)
        tensor(p + "attn_output_norm.bias", d)
        tensor(p + "ffn_up.weight", ff, d, scale=dims["gain"] / math.sqrt(d))
        tensor(p + "ffn_up.bias", ff)
        tensor(p + "ffn_down.weight", d, ff, scale=dims["gain"] / math.sqrt(ff))
        tensor(p + "ffn_down.bias", d)
        tensor(p + "layer_output_norm.weight", d, scale=0.1, offset=1.0)
        tensor(p + "layer_output_norm.bias", d)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


class Reference:
    """BERT forward in float64 from the file's tensors (read by gguf's reader)."""

    def __init__(self, path):
        reader = gguf.GGUFReader(path)
        self.w = {t.name: np.array(t.data, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)])
                  for t in reader.tensors}
        field = reader.fields["bert.attention.layer_norm_epsilon"]
        self.eps = float(field.parts[field.data[0]][0])
        field = reader.fields["bert.attention.head_count"]
        self.n_head = int(field.parts[field.data[0]][0])
        field = reader.fields["bert.block_count"]
        self.n_layer = int(field.parts[field.data[0]][0])
        field = reader.fields["bert.pooling_type"]
        self.pooling = {v: k for k, v in POOLING.items()}[int(field.parts[field.data[0]][0])]

    def layer_norm(self, x, name):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def hidden_states(self, ids):
        w, n = self.w, len(ids)
        x = w["token_embd.weight"][ids] + w["position_embd.weight"][:n] + w["token_types.weight"][0]
        x = self.layer_norm(x, "token_embd_norm")
        erf = np.vectorize(math.erf)
        for i in range(self.n_layer):
            p = f"blk.{i}."
            q, k, v = (self.linear(x, p + name) for name in ("attn_q", "attn_k", "attn_v"))
            head_dim = q.shape[1] // self.n_head
            out = np.zeros_like(q)
            for head in range(self.n_head):
                s = slice(head * head_dim, (head + 1) * head_dim)
                scores = q[:, s] @ k[:, s].T / math.sqrt(head_dim)  # every token sees every token
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                out[:, s] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, s]
            x = self.layer_norm(x + self.linear(out, p + "attn_output"), p + "attn_output_norm")
            up = self.linear(x, p + "ffn_up")
            up = 0.5 * up * (1.0 + erf(up / math.sqrt(2.0)))
            x = self.layer_norm(x + self.linear(up, p + "ffn_down"), p + "layer_output_norm")
        return x

    def embed(self, ids, pooling=None, normalize=True):
        x = self.hidden_states(ids)
        pooling = pooling or self.pooling
        vectors = {"mean": x.mean(axis=0), "cls": x[0], "last": x[-1], "none": x}[pooling]
        if normalize:
            vectors = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
        return vectors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--vocab", default="../shared/fixtures/tokenizers/ggml-vocab-bert-bge.gguf")
    parser.add_argument("--pooling", default="mean", choices=sorted(POOLING))
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    args = parser.parse_args()
    write_fixture(args.out, args.vocab, args.pooling, shape=args.shape)
