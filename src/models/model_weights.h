#pragma once
// Views of a model's weights inside the mapped GGUF file, checked against the config.
// Matrices keep their file type (kernels read quantized blocks in place); only small 1-D
// tensors (norm weights, biases) are converted to float once at load.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "models/model_config.h"

namespace jisu {
namespace gguf { class GgufFile; }
namespace cpu { class RepackedWeights; }

// rows x cols, row-major: GGUF shape [cols, rows] (shape[0] is contiguous). y = W x maps a
// cols-vector to a rows-vector.
struct WeightMatrix {
  std::string name;
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Copy in groups of 8 interleaved rows for the integer kernels (int8_repacked_weights.h), or
  // null; shared by copies and slices of this matrix, whose rows start at group repacked_group.
  std::shared_ptr<const cpu::RepackedWeights> repacked;
  size_t repacked_group = 0;

  bool present() const { return data != nullptr; }
  const void* row(int64_t index) const { return static_cast<const char*>(data) + index * row_bytes; }
  // Rows [first, first + count) as a matrix of their own (e.g. one expert of a stacked tensor).
  WeightMatrix slice_rows(int64_t first, int64_t count) const;
  size_t bytes() const { return static_cast<size_t>(rows) * row_bytes; }
};

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
  // Mixture of experts: router and per-expert matrices (slices of the stacked tensors).
  WeightMatrix ffn_router;
  std::vector<WeightMatrix> expert_gate, expert_up, expert_down;
};

struct ModelWeights {
  WeightMatrix token_embedding;  // n_vocab rows of n_embd
  std::vector<float> output_norm;
  WeightMatrix output;           // n_vocab x n_embd (token_embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<float> rope_frequency_factors;  // Llama 3 rope_freqs; empty when absent
  size_t total_bytes = 0;        // bytes of all matrices read per full forward of one token
  size_t repacked_bytes = 0;     // bytes of the repacked copies made at load
  double repack_ms = 0;          // time spent making them
};

// Throws jisu::Error naming the tensor when one is missing, mis-shaped or of an unsupported type.
ModelWeights load_model_weights(const gguf::GgufFile& file, ModelConfig& config);

}  // namespace jisu
