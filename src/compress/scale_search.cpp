#include "compress/scale_search.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernel_table.h"

namespace jisu::compress {
namespace {

// How many candidate scales either side of the max-abs one, and their spacing in levels: the
// candidate maps the largest |x| to (extreme level + k * kStep), k in [-kSteps, kSteps].
constexpr int kSteps = 10;
constexpr float kStep = 0.1f;
constexpr int kRefinements = 4;
constexpr size_t kCandidatesPerSide = 2 * kSteps + 1;
// Both extremes of an asymmetric range, both signs of the scale.
constexpr size_t kMaxSymmetricCandidates = 4 * kCandidatesPerSide;

// The sums of every candidate at once (backends/cpu/scale_candidates.h: the SIMD paths give
// the scalar reference's sums bit for bit).
void candidate_sums(std::span<const float> x, std::span<const float> w, float offset, int low, int high,
                    const float* inverses, size_t count, double* sl, double* sll, double* slx) {
  cpu::active_kernels().scale_candidate_sums(
      {x.data(), w.data(), x.size(), offset, low, high, inverses, count, sl, sll, slx});
}

using cpu::nearest_level;

// levels[i] = nearest_level((x[i] - offset) * inverse, low, high).
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

// The weighted sums of an affine fit x ~= s * l + m: sw, sx, sxx depend only on the group,
// sl, sll, slx on the levels too.
struct AffineSums {
  double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0, sxx = 0;
};

// The least-squares s and m for those sums (m clamped to <= 0 with minimum_at_most_zero);
// returns the weighted squared error they leave.
double solve_affine(const AffineSums& s, bool minimum_at_most_zero, ScaleAndMinimum& out) {
  const double det = s.sw * s.sll - s.sl * s.sl;
  double scale = 0, minimum = 0;
  if (det > 0) {
    scale = (s.sw * s.slx - s.sl * s.sx) / det;
    minimum = (s.sll * s.sx - s.sl * s.slx) / det;
  } else if (s.sw > 0) {
    minimum = s.sx / s.sw;  // every level equal: only the minimum matters
  }
  if (minimum_at_most_zero && minimum > 0) {
    minimum = 0;
    scale = s.sll > 0 ? s.slx / s.sll : 0.0;
  }
  out = {static_cast<float>(scale), static_cast<float>(minimum)};
  // sum w (s l + m - x)^2 expanded.
  return s.sxx + scale * scale * s.sll + minimum * minimum * s.sw + 2 * scale * minimum * s.sl - 2 * scale * s.slx -
         2 * minimum * s.sx;
}

// sw, sx, sxx of the group (each summed in order).
AffineSums group_sums(std::span<const float> x, std::span<const float> w) {
  AffineSums s;
  for (size_t i = 0; i < x.size(); ++i) {
    const double wi = w[i], xi = x[i];
    s.sw += wi, s.sx += wi * xi, s.sxx += wi * xi * xi;
  }
  return s;
}

// Weighted affine fit x ~= s * l + m for fixed levels; returns the weighted squared error.
double fit_affine(std::span<const float> x, std::span<const float> w, const uint8_t* levels, bool minimum_at_most_zero,
                  ScaleAndMinimum& out) {
  AffineSums s = group_sums(x, w);
  for (size_t i = 0; i < x.size(); ++i) {
    const double wi = w[i], l = levels[i], xi = x[i];
    s.sl += wi * l, s.sll += wi * l * l, s.slx += wi * l * xi;
  }
  return solve_affine(s, minimum_at_most_zero, out);
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
  // The largest |x| goes near either extreme level; a negative inverse maps it to the other.
  // A symmetric range needs one extreme and one sign.
  const bool symmetric = low == -high;
  float inverses[kMaxSymmetricCandidates];
  size_t count = 0;
  for (const int extreme : {high, -low}) {
    if (symmetric && extreme != high) continue;
    for (int k = -kSteps; k <= kSteps; ++k) {
      const float inverse = (static_cast<float>(extreme) + kStep * static_cast<float>(k)) / amax;
      for (const float sign : {1.0f, -1.0f})
        if (!symmetric || sign > 0) inverses[count++] = sign * inverse;
    }
  }
  double wll[kMaxSymmetricCandidates], wxl[kMaxSymmetricCandidates];
  candidate_sums(x, w, 0.0f, low, high, inverses, count, nullptr, wll, wxl);
  // The first candidate of the largest gain (a later one must beat it strictly). The gains
  // first, in a loop of their own that the compiler vectorises.
  double gains[kMaxSymmetricCandidates];
  for (size_t c = 0; c < count; ++c) gains[c] = SymmetricFit{wxl[c], wll[c]}.gain();
  SymmetricFit best;
  double best_gain = best.gain();
  size_t best_candidate = count;
  for (size_t c = 0; c < count; ++c)
    if (gains[c] > best_gain) best_gain = gains[c], best_candidate = c;
  if (best_candidate < count) best = {wxl[best_candidate], wll[best_candidate]};
  if (best_candidate < count)
    round_symmetric(x, inverses[best_candidate], low, high, levels);
  else
    std::fill(levels, levels + n, int8_t{0});
  // The refinements need a buffer as long as x: the stack for blocks, the heap for a whole row
  // (i8_row).
  int8_t block_trial[256];
  std::vector<int8_t> row_trial(n > 256 ? n : 0);
  int8_t* trial = n > 256 ? row_trial.data() : block_trial;
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
  float inverses[kCandidatesPerSide];
  for (int k = -kSteps; k <= kSteps; ++k)
    inverses[k + kSteps] = (static_cast<float>(top) + kStep * static_cast<float>(k)) / (highest - lowest);
  double sl[kCandidatesPerSide], sll[kCandidatesPerSide], slx[kCandidatesPerSide];
  candidate_sums(x, w, lowest, 0, top, inverses, kCandidatesPerSide, sl, sll, slx);
  const AffineSums group = group_sums(x, w);
  ScaleAndMinimum best_fit, fit;
  double best_error = INFINITY;
  size_t best_candidate = kCandidatesPerSide;
  for (size_t c = 0; c < kCandidatesPerSide; ++c) {
    AffineSums s = group;
    s.sl = sl[c], s.sll = sll[c], s.slx = slx[c];
    const double error = solve_affine(s, minimum_at_most_zero, fit);
    if (error < best_error) best_error = error, best_fit = fit, best_candidate = c;
  }
  if (best_candidate < kCandidatesPerSide)
    round_group(x.data(), n, lowest, inverses[best_candidate], 0, top, levels);
  else
    std::fill(levels, levels + n, uint8_t{0});
  uint8_t trial[256];
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
