#include "backends/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace jisu {
namespace {
// The rotary dimension at which a wavelength completes `rotations` turns over the original
// context (YaRN's correction range).
double yarn_correction_dim(int32_t dims, int32_t original_context, double rotations, double base) {
  return dims * std::log(original_context / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}
}  // namespace

RopeTable::RopeTable(const RopeConfig& config, std::vector<float> frequency_factors) : config_(config) {
  const int32_t pairs = config.dims / 2;
  if (!frequency_factors.empty() && static_cast<int32_t>(frequency_factors.size()) != pairs)
    throw Error("rope_freqs has " + std::to_string(frequency_factors.size()) + " values, expected " + std::to_string(pairs));
  inverse_frequencies_.resize(static_cast<size_t>(pairs));
  yarn_ramp_.assign(static_cast<size_t>(pairs), 0.0);
  for (int32_t i = 0; i < pairs; ++i) {
    double inverse = std::pow(double(config.freq_base), -2.0 * i / config.dims);
    if (!frequency_factors.empty()) inverse /= frequency_factors[static_cast<size_t>(i)];
    inverse_frequencies_[static_cast<size_t>(i)] = inverse;
  }
  if (config.scaling == RopeScaling::Yarn) {
    const double low = std::max(0.0, std::floor(yarn_correction_dim(config.dims, config.original_context,
                                                                    config.yarn_beta_fast, config.freq_base)));
    const double high = std::min(double(config.dims - 1), std::ceil(yarn_correction_dim(
                                                              config.dims, config.original_context,
                                                              config.yarn_beta_slow, config.freq_base)));
    for (int32_t i = 0; i < pairs; ++i) {
      const double y = (i - low) / std::max(0.001, high - low);
      yarn_ramp_[static_cast<size_t>(i)] = 1.0 - std::min(1.0, std::max(0.0, y));
    }
    magnitude_scale_ = config.yarn_attn_factor * (1.0 + 0.1 * std::log(config.scaling_factor));
  }
}

void RopeTable::angles(int32_t position, float* cos_sin) const {
  const double frequency_scale =
      config_.scaling == RopeScaling::None ? 1.0 : 1.0 / static_cast<double>(config_.scaling_factor);
  for (size_t i = 0; i < inverse_frequencies_.size(); ++i) {
    const double extrapolated = position * inverse_frequencies_[i];
    double theta = extrapolated * frequency_scale;
    if (config_.scaling == RopeScaling::Yarn) {
      const double mix = yarn_ramp_[i];
      theta = theta * (1.0 - mix) + extrapolated * mix;
    }
    cos_sin[2 * i] = static_cast<float>(std::cos(theta) * magnitude_scale_);
    cos_sin[2 * i + 1] = static_cast<float>(std::sin(theta) * magnitude_scale_);
  }
}

}  // namespace jisu
