#pragma once
// Views of a model's weights inside the mapped GGUF file, checked against the config.
// Matrices keep their file type; each backend prepares what it needs of them at load
// (backends/backend.h). Only small 1-D tensors (norm weights, biases) are converted to float
// once at load.
#include <cstdint>
#include <string>
#include <vector>

#include "format/weight_matrix.h"
#include "models/model_config.h"

namespace jisu {
namespace gguf { class GgufFile; }

// Norm weights sit before their sublayer (pre-norm: attn_norm, ffn_norm) or after its residual
// add (post-norm, BERT: attn_output_norm, layer_output_norm), as the architecture says; the
// *_bias vectors are LayerNorm's and empty for RMSNorm.
struct LayerWeights {
  std::vector<float> attn_norm, attn_norm_bias;
  WeightMatrix wq, wk, wv;       // separate projections, or
  WeightMatrix wqkv;             // fused [q; k; v] rows (phi3)
  std::vector<float> bq, bk, bv; // empty when the model has no QKV bias
  std::vector<float> q_norm, k_norm;  // per-head RMSNorm weights (qwen3); empty otherwise
  WeightMatrix wo;
  std::vector<float> bo;          // attn_output.bias; empty when absent

  std::vector<float> ffn_norm, ffn_norm_bias;
  WeightMatrix ffn_gate, ffn_up;  // separate, or ffn_up alone (ungated: act(up x), BERT), or
  WeightMatrix ffn_gate_up;       // fused [gate; up] rows (phi3)
  WeightMatrix ffn_down;
  std::vector<float> ffn_up_bias, ffn_down_bias;  // empty when absent
  // Mixture of experts: router and the stacked per-expert matrices (n_expert equal slices).
  WeightMatrix ffn_router;
  WeightMatrix experts_gate, experts_up, experts_down;
};

struct ModelWeights {
  WeightMatrix token_embedding;  // n_vocab rows of n_embd
  // Learned positions: [context_length][n_embd], position_embd rows plus token_types row 0 (every
  // input is one segment). Empty for rotary positions.
  std::vector<float> position_table;
  std::vector<float> embedding_norm, embedding_norm_bias;  // token_embd_norm (BERT); empty when absent
  std::vector<float> output_norm;  // empty, like output, for an encoder
  WeightMatrix output;           // n_vocab x n_embd (token_embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<float> rope_frequency_factors;  // Llama 3 rope_freqs; empty when absent
  size_t total_bytes = 0;        // bytes of all matrices read per full forward of one token
};

// Throws jisu::Error naming the tensor when one is missing, mis-shaped or of an unsupported type.
ModelWeights load_model_weights(const gguf::GgufFile& file, ModelConfig& config);

}  // namespace jisu
