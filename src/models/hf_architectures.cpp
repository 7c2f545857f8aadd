#include "models/hf_architectures.h"

namespace jisu {
namespace {

std::vector<HfTensorName> with(std::vector<HfTensorName> base, const std::vector<HfTensorName>& extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

// Shared by the llama family: embeddings, final norm, head, per-layer norms and attention.
const std::vector<HfTensorName> kCommon = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.#.input_layernorm.weight", "blk.#.attn_norm.weight"},
    {"model.layers.#.post_attention_layernorm.weight", "blk.#.ffn_norm.weight"},
    {"model.layers.#.self_attn.o_proj.weight", "blk.#.attn_output.weight"},
};
const std::vector<HfTensorName> kSeparateQkv = {
    {"model.layers.#.self_attn.q_proj.weight", "blk.#.attn_q.weight"},
    {"model.layers.#.self_attn.k_proj.weight", "blk.#.attn_k.weight"},
    {"model.layers.#.self_attn.v_proj.weight", "blk.#.attn_v.weight"},
    {"model.layers.#.self_attn.q_proj.bias", "blk.#.attn_q.bias"},
    {"model.layers.#.self_attn.k_proj.bias", "blk.#.attn_k.bias"},
    {"model.layers.#.self_attn.v_proj.bias", "blk.#.attn_v.bias"},
};
const std::vector<HfTensorName> kGatedFeedForward = {
    {"model.layers.#.mlp.gate_proj.weight", "blk.#.ffn_gate.weight"},
    {"model.layers.#.mlp.up_proj.weight", "blk.#.ffn_up.weight"},
    {"model.layers.#.mlp.down_proj.weight", "blk.#.ffn_down.weight"},
};
// Mixtral: a router and per-expert matrices that GGUF stacks into one tensor per kind.
const std::vector<HfTensorName> kMixtureOfExperts = {
    {"model.layers.#.block_sparse_moe.gate.weight", "blk.#.ffn_gate_inp.weight"},
    {"model.layers.#.block_sparse_moe.experts.*.w1.weight", "blk.#.ffn_gate_exps.weight"},
    {"model.layers.#.block_sparse_moe.experts.*.w2.weight", "blk.#.ffn_down_exps.weight"},
    {"model.layers.#.block_sparse_moe.experts.*.w3.weight", "blk.#.ffn_up_exps.weight"},
};
const std::vector<HfTensorName> kQkNorm = {
    {"model.layers.#.self_attn.q_norm.weight", "blk.#.attn_q_norm.weight"},
    {"model.layers.#.self_attn.k_norm.weight", "blk.#.attn_k_norm.weight"},
};
// Phi-3: fused [q; k; v] and fused [gate; up].
const std::vector<HfTensorName> kPhi3 = {
    {"model.layers.#.self_attn.qkv_proj.weight", "blk.#.attn_qkv.weight"},
    {"model.layers.#.mlp.gate_up_proj.weight", "blk.#.ffn_up.weight"},
    {"model.layers.#.mlp.down_proj.weight", "blk.#.ffn_down.weight"},
};

const std::vector<HfArchitecture>& table() {
  static const std::vector<HfArchitecture> rows = {
      {"llama", "llama", true, false, with(with(kCommon, kSeparateQkv), kGatedFeedForward)},
      // llama.cpp converts Mistral and Mixtral checkpoints to the llama architecture.
      {"mistral", "llama", true, false, with(with(kCommon, kSeparateQkv), kGatedFeedForward)},
      {"mixtral", "llama", true, false, with(with(kCommon, kSeparateQkv), kMixtureOfExperts)},
      {"qwen2", "qwen2", false, false, with(with(kCommon, kSeparateQkv), kGatedFeedForward)},
      {"qwen3", "qwen3", false, false, with(with(with(kCommon, kSeparateQkv), kGatedFeedForward), kQkNorm)},
      {"phi3", "phi3", false, false, with(kCommon, kPhi3)},
      {"gemma", "gemma", false, true, with(with(kCommon, kSeparateQkv), kGatedFeedForward)},
  };
  return rows;
}

}  // namespace

std::optional<HfArchitecture> find_hf_architecture(std::string_view model_type) {
  for (const auto& row : table())
    if (row.model_type == model_type) return row;
  return std::nullopt;
}

std::vector<std::string_view> supported_hf_model_types() {
  std::vector<std::string_view> names;
  for (const auto& row : table()) names.push_back(row.model_type);
  return names;
}

}  // namespace jisu
