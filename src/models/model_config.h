#pragma once
// Hyperparameters of a loaded model, read from GGUF metadata (`<arch>.*` keys) and validated.
#include <cstdint>
#include <string>

#include "models/architecture.h"

namespace jisu {
namespace gguf { class GgufFile; }

enum class RopeScaling { None, Linear, Yarn };

struct RopeConfig {
  RopeStyle style = RopeStyle::Interleaved;
  int32_t dims = 0;              // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  RopeScaling scaling = RopeScaling::None;
  float scaling_factor = 1.0f;   // context extension factor (positions divided by it when linear)
  int32_t original_context = 0;  // YaRN: training context before extension
  float yarn_attn_factor = 1.0f;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
};

struct ModelConfig {
  ArchitectureTraits arch;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_ff = 0;          // per expert for MoE
  int32_t n_vocab = 0;
  int32_t context_length = 0;
  int32_t n_expert = 0;      // 0: dense
  int32_t n_expert_used = 0;
  float rms_eps = 1e-5f;
  RopeConfig rope;

  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
  bool is_moe() const { return n_expert > 0; }
};

// Reads and validates; throws jisu::Error naming the key for a missing or impossible value.
ModelConfig read_model_config(const gguf::GgufFile& file);

}  // namespace jisu
