#include "compress/scale_search.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace jisu::compress {
namespace {

// How many candidate scales either side of the max-abs one, and their spacing in levels: the
// candidate maps the largest |x| to (extreme level + k * kStep), k in [-kSteps, kSteps].
constexpr int kSteps = 10;
constexpr float kStep = 0.1f;
constexpr int kRefinements = 4;

// std::lround(value) (halves away from zero) without a library call per element: the
// truncation t is exact in float and value - t is exact (|value - t| < 1, same sign, and t
// within a factor 2 of value when |value| >= 1), so comparing the remainder with +-0.5 rounds
// exactly as lround does, for |value| < 2^30.
constexpr float kFastRoundLimit = 0x1p30f;
inline int round_half_away_in_range(float value) {
  int truncated = static_cast<int>(value);
  const float remainder = value - static_cast<float>(truncated);
  truncated += static_cast<int>(remainder >= 0.5f) - static_cast<int>(remainder <= -0.5f);
  return truncated;
}

int nearest_level(float value, int low, int high) {
  if (!(std::fabs(value) < kFastRoundLimit)) [[unlikely]]
    return std::clamp(static_cast<int>(std::lround(value)), low, high);
  return std::clamp(round_half_away_in_range(value), low, high);
}

// levels[i] = nearest_level((x[i] - offset) * inverse, low, high). (A branch-free version the
// compiler vectorises for SSE2 measured slower: 0.60 s against 0.51 s CPU for the demo's Q4_K_M,
// and so did a hand loop instead of std::equal's memcmp below.)
template <typename Level>
void round_group(const float* x, size_t n, float offset, float inverse, int low, int high, Level* levels) {
  for (size_t i = 0; i < n; ++i) levels[i] = static_cast<Level>(nearest_level((x[i] - offset) * inverse, low, high));
}

// For levels L: the optimal scale is sum(w x L) / sum(w L^2) and the error it leaves is
// sum(w x^2) - sum(w x L)^2 / sum(w L^2); maximising the ratio minimises the error.
struct SymmetricFit {
  double wxl = 0, wll = 0;
  double gain() const { return wll > 0 ? wxl * wxl / wll : 0.0; }
  float scale() const { return wll > 0 ? static_cast<float>(wxl / wll) : 0.0f; }
};

void round_symmetric(std::span<const float> x, float inverse, int low, int high, int8_t* levels) {
  round_group(x.data(), x.size(), 0.0f, inverse, low, high, levels);
}

SymmetricFit fit_symmetric_levels(std::span<const float> x, std::span<const float> w, const int8_t* levels) {
  SymmetricFit fit;
  for (size_t i = 0; i < x.size(); ++i) {
    const int l = levels[i];
    fit.wxl += static_cast<double>(w[i]) * x[i] * l;
    fit.wll += static_cast<double>(w[i]) * l * l;
  }
  return fit;
}

SymmetricFit fit_symmetric(std::span<const float> x, std::span<const float> w, float inverse, int low, int high,
                           int8_t* levels) {
  round_symmetric(x, inverse, low, high, levels);
  return fit_symmetric_levels(x, w, levels);
}

// Weighted affine fit x ~= s * l + m for fixed levels; returns the weighted squared error.
double fit_affine(std::span<const float> x, std::span<const float> w, const uint8_t* levels, bool minimum_at_most_zero,
                  ScaleAndMinimum& out) {
  double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double wi = w[i], l = levels[i], xi = x[i];
    sw += wi, sl += wi * l, sll += wi * l * l, sx += wi * xi, slx += wi * l * xi, sxx += wi * xi * xi;
  }
  const double det = sw * sll - sl * sl;
  double scale = 0, minimum = 0;
  if (det > 0) {
    scale = (sw * slx - sl * sx) / det;
    minimum = (sll * sx - sl * slx) / det;
  } else if (sw > 0) {
    minimum = sx / sw;  // every level equal: only the minimum matters
  }
  if (minimum_at_most_zero && minimum > 0) {
    minimum = 0;
    scale = sll > 0 ? slx / sll : 0.0;
  }
  out = {static_cast<float>(scale), static_cast<float>(minimum)};
  // sum w (s l + m - x)^2 expanded.
  return sxx + scale * scale * sll + minimum * minimum * sw + 2 * scale * minimum * sl - 2 * scale * slx -
         2 * minimum * sx;
}

void round_affine(std::span<const float> x, const ScaleAndMinimum& fit, int top, uint8_t* levels) {
  const float inverse = fit.scale != 0 ? 1.0f / fit.scale : 0.0f;
  round_group(x.data(), x.size(), fit.minimum, inverse, 0, top, levels);
}

uint8_t nearest_code(float value, std::span<const int8_t> codebook) {
  // The codebook is sorted ascending: binary search, then pick the closer neighbour.
  const auto it = std::lower_bound(codebook.begin(), codebook.end(), value,
                                    [](int8_t level, float v) { return static_cast<float>(level) < v; });
  if (it == codebook.begin()) return 0;
  if (it == codebook.end()) return static_cast<uint8_t>(codebook.size() - 1);
  const auto index = static_cast<size_t>(it - codebook.begin());
  return static_cast<uint8_t>(value - static_cast<float>(codebook[index - 1]) < static_cast<float>(codebook[index]) - value
                                  ? index - 1
                                  : index);
}

}  // namespace

void round_levels(std::span<const float> x, float scale, float minimum, int low, int high, int8_t* levels) {
  const float inverse = scale != 0 ? 1.0f / scale : 0.0f;
  round_group(x.data(), x.size(), minimum, inverse, low, high, levels);
}

float search_symmetric_scale(std::span<const float> x, std::span<const float> w, int low, int high, int8_t* levels) {
  const size_t n = x.size();
  float amax = 0;
  for (const float v : x) amax = std::max(amax, std::fabs(v));
  if (amax == 0) {
    std::fill(levels, levels + n, int8_t{0});
    return 0;
  }
  // Blocks use the stack; a whole row (i8_row) a heap buffer. Per sign of the scale, the
  // levels of the previous candidate: neighbouring candidates often round to the same levels,
  // whose fit is then the same and cannot beat the best, so it is not recomputed.
  int8_t block_trial[3][256];
  std::vector<int8_t> row_trial(n > 256 ? 3 * n : 0);
  int8_t* trial = n > 256 ? row_trial.data() : block_trial[0];
  int8_t* previous[2] = {n > 256 ? row_trial.data() + n : block_trial[1], n > 256 ? row_trial.data() + 2 * n : block_trial[2]};
  bool has_previous[2] = {false, false};
  SymmetricFit best;
  std::fill(levels, levels + n, int8_t{0});
  // The largest |x| goes near either extreme level; a negative inverse maps it to the other.
  // A symmetric range needs one extreme and one sign.
  const bool symmetric = low == -high;
  for (const int extreme : {high, -low}) {
    if (symmetric && extreme != high) continue;
    for (int k = -kSteps; k <= kSteps; ++k) {
      const float inverse = (static_cast<float>(extreme) + kStep * static_cast<float>(k)) / amax;
      for (const float sign : {1.0f, -1.0f}) {
        if (symmetric && sign < 0) continue;
        const int side = sign < 0;
        round_symmetric(x, sign * inverse, low, high, trial);
        if (has_previous[side] && std::equal(trial, trial + n, previous[side])) continue;
        const SymmetricFit fit = fit_symmetric_levels(x, w, trial);
        if (fit.gain() > best.gain()) best = fit, std::copy(trial, trial + n, levels);
        std::swap(trial, previous[side]);
        has_previous[side] = true;
      }
    }
  }
  for (int r = 0; r < kRefinements && best.wll > 0; ++r) {
    const SymmetricFit fit = fit_symmetric(x, w, 1.0f / best.scale(), low, high, trial);
    if (fit.gain() <= best.gain() * (1 + 1e-12)) break;
    best = fit;
    std::copy(trial, trial + n, levels);
  }
  return best.scale();
}

ScaleAndMinimum search_affine_scale(std::span<const float> x, std::span<const float> w, int top,
                                    bool minimum_at_most_zero, uint8_t* levels) {
  const size_t n = x.size();
  float lowest = *std::min_element(x.begin(), x.end());
  const float highest = *std::max_element(x.begin(), x.end());
  if (minimum_at_most_zero) lowest = std::min(lowest, 0.0f);
  if (highest == lowest) {
    std::fill(levels, levels + n, uint8_t{0});
    return {0, lowest};
  }
  uint8_t trial[256], previous_trial[256];
  ScaleAndMinimum best_fit, fit;
  double best_error = INFINITY;
  for (int k = -kSteps; k <= kSteps; ++k) {
    const float inverse = (static_cast<float>(top) + kStep * static_cast<float>(k)) / (highest - lowest);
    round_group(x.data(), n, lowest, inverse, 0, top, trial);
    // The same levels as the previous candidate give the same fit: it cannot beat the best.
    if (k > -kSteps && std::equal(trial, trial + n, previous_trial)) continue;
    std::copy(trial, trial + n, previous_trial);
    const double error = fit_affine(x, w, trial, minimum_at_most_zero, fit);
    if (error < best_error) best_error = error, best_fit = fit, std::copy(trial, trial + n, levels);
  }
  for (int r = 0; r < kRefinements; ++r) {
    round_affine(x, best_fit, top, trial);
    const double error = fit_affine(x, w, trial, minimum_at_most_zero, fit);
    if (!(error < best_error * (1 - 1e-12))) break;
    best_error = error, best_fit = fit;
    std::copy(trial, trial + n, levels);
  }
  return best_fit;
}

float search_codebook_scale(std::span<const float> x, std::span<const float> w, std::span<const int8_t> codebook,
                            uint8_t* indices) {
  const size_t n = x.size();
  float amax = 0, signed_max = 0;
  for (const float v : x)
    if (std::fabs(v) > amax) amax = std::fabs(v), signed_max = v;
  if (amax == 0) {
    std::fill(indices, indices + n, nearest_code(0, codebook));
    return 0;
  }
  uint8_t trial[256];
  double best_gain = -1;
  float best_scale = 0;
  auto try_scale = [&](float scale) {
    if (scale == 0) return false;
    double wxv = 0, wvv = 0;
    const float inverse = 1.0f / scale;
    for (size_t i = 0; i < n; ++i) {
      trial[i] = nearest_code(x[i] * inverse, codebook);
      const double v = codebook[trial[i]];
      wxv += static_cast<double>(w[i]) * x[i] * v;
      wvv += static_cast<double>(w[i]) * v * v;
    }
    const double gain = wvv > 0 ? wxv * wxv / wvv : 0.0;
    if (gain <= best_gain * (1 + 1e-12)) return false;
    best_gain = gain;
    best_scale = wvv > 0 ? static_cast<float>(wxv / wvv) : 0.0f;
    std::copy(trial, trial + n, indices);
    return true;
  };
  // The largest |x| near either end of the codebook (within kSteps codebook units), then
  // refinements.
  for (const int8_t end : {codebook.front(), codebook.back()})
    for (int k = -kSteps; k <= kSteps; ++k) try_scale(signed_max / static_cast<float>(end + k));
  for (int r = 0; r < kRefinements; ++r)
    if (!try_scale(best_scale)) break;
  return best_scale;
}

}  // namespace jisu::compress
