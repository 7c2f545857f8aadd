#pragma once
// Rotary position embedding angles. For a position, fills (cos, sin) for each rotated pair
// i in [0, dims/2), honouring linear scaling, YaRN and per-dimension frequency factors
// (Llama 3's rope_freqs). Angles are computed in double and rounded once.
#include <vector>

#include "models/model_config.h"

namespace jisu {

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
