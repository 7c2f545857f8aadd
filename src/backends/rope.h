#pragma once
// Rotary position embedding angles. For a position, fills (cos, sin) for each rotated pair
// i in [0, dims/2), honouring linear scaling, YaRN and per-dimension frequency factors
// (Llama 3's rope_freqs). Angles are computed in double and rounded once.
#include <cstdint>
#include <vector>

namespace jisu {

enum class RopeStyle {
  Interleaved,  // rotate pairs (x[2i], x[2i+1]): llama, mistral (GGUF permutes Q/K for this)
  NeoX,         // rotate pairs (x[i], x[i + d/2]): qwen2, phi3, gemma
};

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

class RopeTable {
 public:
  RopeTable(const RopeConfig& config, std::vector<float> frequency_factors = {});
  // cos_sin must hold config.dims floats.
  void angles(int32_t position, float* cos_sin) const;
  int32_t dims() const { return config_.dims; }

 private:
  RopeConfig config_;
  std::vector<double> inverse_frequencies_;  // base^(-2i/dims) / factor_i
  std::vector<double> yarn_ramp_;            // YaRN extrapolation mix per pair (0 when unused)
  double magnitude_scale_ = 1.0;
};

}  // namespace jisu
