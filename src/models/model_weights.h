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

struct LayerWeights {
  std::vector<float> attn_norm;
  WeightMatrix wq, wk, wv;       // separate projections, or
  WeightMatrix wqkv;             // fused [q; k; v] rows (phi3)
  std::vector<float> bq, bk, bv; // empty when the model has no QKV bias
  std::vector<float> q_norm, k_norm;  // per-head RMSNorm weights (qwen3); empty otherwise
  WeightMatrix wo;

  std::vector<float> ffn_norm;
  WeightMatrix ffn_gate, ffn_up;  // separate, or
  WeightMatrix ffn_gate_up;       // fused [gate; up] rows (phi3)
  WeightMatrix ffn_down;
  // Mixture of experts: router and the stacked per-expert matrices (n_expert equal slices).
  WeightMatrix ffn_router;
  WeightMatrix experts_gate, experts_up, experts_down;
};

struct ModelWeights {
  WeightMatrix token_embedding;  // n_vocab rows of n_embd
  std::vector<float> output_norm;
  WeightMatrix output;           // n_vocab x n_embd (token_embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<float> rope_frequency_factors;  // Llama 3 rope_freqs; empty when absent
  size_t total_bytes = 0;        // bytes of all matrices read per full forward of one token
};

// Throws jisu::Error naming the tensor when one is missing, mis-shaped or of an unsupported type.
ModelWeights load_model_weights(const gguf::GgufFile& file, ModelConfig& config);

}  // namespace jisu
