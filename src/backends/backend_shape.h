#pragma once
// What a backend must know of the transformer it runs: dimensions, RoPE, activation. The model
// (src/models) fills it from the file's metadata; ModelConfig extends it with what only the
// model needs (architecture name, layer count, context length), so backends never include
// anything from src/models.
#include <cstdint>

#include "backends/rope.h"

namespace jisu {

// GeluErf is the exact 0.5 x (1 + erf(x / sqrt 2)) that BERT uses; GeluTanh its tanh approximation.
enum class FeedForwardActivation { SiLU, GeluTanh, GeluErf };

struct TransformerShape {
  int32_t n_embd = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_ff = 0;          // per expert for MoE
  int32_t n_vocab = 0;
  int32_t n_expert = 0;      // 0: dense
  int32_t n_expert_used = 0;
  float rms_eps = 1e-5f;      // epsilon of every norm of the model, RMSNorm or LayerNorm
  RopeConfig rope;
  FeedForwardActivation activation = FeedForwardActivation::SiLU;
  bool scale_embeddings = false;  // token embeddings multiplied by sqrt(n_embd) (gemma)
  // false (BERT-class encoders): a token attends to every token of its sequence in the step,
  // later ones included, instead of only to positions up to its own.
  bool causal = true;
  bool has_low_rank_linears = false;  // some linear is a low-rank pair (format/weight_matrix.h)

  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
  bool is_moe() const { return n_expert > 0; }
};

}  // namespace jisu
