#include "compress/codebook_learning.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "compress/scale_search.h"

namespace jisu::compress {
namespace {

constexpr size_t kBlock = cpu::kQK;

// Per-level sums of one Lloyd step, and the error of the assignment that produced them.
struct LevelSums {
  std::array<double, kCodebookLevels> wdx{}, wdd{};
  double error = 0;
  void add(const LevelSums& other) {
    for (size_t k = 0; k < kCodebookLevels; ++k) wdx[k] += other.wdx[k], wdd[k] += other.wdd[k];
    error += other.error;
  }
};

// Quantizes every block of `values` with `levels` and sums what the update needs.
LevelSums assign(std::span<const float> values, size_t cols, const float* importance, const Codebook& levels,
                 ThreadPool& pool) {
  const size_t blocks = values.size() / kBlock, blocks_per_row = cols / kBlock;
  const std::vector<float> ones(cols, 1.0f);
  const float* weights = importance ? importance : ones.data();
  constexpr size_t kTasks = 64;
  std::vector<LevelSums> partial(kTasks);
  pool.parallel_for(kTasks, [&](size_t task, size_t) {
    LevelSums& sums = partial[task];
    for (size_t b = task * blocks / kTasks; b < (task + 1) * blocks / kTasks; ++b) {
      const std::span<const float> x = values.subspan(b * kBlock, kBlock);
      const std::span<const float> w(weights + (b % blocks_per_row) * kBlock, kBlock);
      uint8_t indices[kBlock];
      const double d = cpu::fp16_to_fp32(quantize_codebook_block(x, w, levels, indices));
      for (size_t i = 0; i < kBlock; ++i) {
        const double r = x[i] - d * levels[indices[i]];
        sums.error += w[i] * r * r;
        sums.wdx[indices[i]] += w[i] * d * x[i];
        sums.wdd[indices[i]] += w[i] * d * d;
      }
    }
  });
  LevelSums total;
  for (const LevelSums& p : partial) total.add(p);
  return total;
}

// Levels (in block-scale units) -> an ascending, distinct int8 codebook with largest |level| 127.
Codebook to_codebook(std::array<double, kCodebookLevels> levels) {
  std::sort(levels.begin(), levels.end());
  const double largest = std::max(std::fabs(levels.front()), std::fabs(levels.back()));
  Codebook out{};
  for (size_t k = 0; k < kCodebookLevels; ++k)
    out[k] = static_cast<int8_t>(std::clamp<long>(std::lround(levels[k] * 127.0 / largest), -127, 127));
  // Rounding may merge neighbours: push later ones up (then earlier ones down at the top).
  for (size_t k = 1; k < kCodebookLevels; ++k)
    if (out[k] <= out[k - 1]) out[k] = static_cast<int8_t>(std::min(127, out[k - 1] + 1));
  for (size_t k = kCodebookLevels - 1; k > 0; --k)
    if (out[k - 1] >= out[k]) out[k - 1] = static_cast<int8_t>(out[k] - 1);
  return out;
}

}  // namespace

uint16_t quantize_codebook_block(std::span<const float> x, std::span<const float> weights,
                                 std::span<const int8_t> levels, uint8_t* indices) {
  const uint16_t d_bits = cpu::fp32_to_fp16(search_codebook_scale(x, weights, levels, indices));
  // Re-pick the nearest level for the stored scale.
  const float d = cpu::fp16_to_fp32(d_bits);
  if (d == 0) return d_bits;
  for (size_t j = 0; j < x.size(); ++j) {
    float best = INFINITY;
    for (uint8_t c = 0; c < levels.size(); ++c) {
      const float error = std::fabs(x[j] - d * static_cast<float>(levels[c]));
      if (error < best) best = error, indices[j] = c;
    }
  }
  return d_bits;
}

double codebook_error(std::span<const float> values, size_t cols, const float* importance, const Codebook& levels,
                      ThreadPool& pool) {
  return assign(values, cols, importance, levels, pool).error;
}

Codebook learn_codebook(std::span<const float> values, size_t cols, const float* importance, ThreadPool& pool,
                        int iterations) {
  // Two starts: IQ4_NL's levels (made for bell-shaped weights) and evenly spaced ones (flat
  // weights); Lloyd's iterations only find the optimum near their start.
  Codebook iq4_nl{}, even{};
  std::copy(cpu::kValuesIq4nl, cpu::kValuesIq4nl + kCodebookLevels, iq4_nl.begin());
  for (size_t k = 0; k < kCodebookLevels; ++k) even[k] = static_cast<int8_t>(-127 + static_cast<int>(k) * 254 / 15);
  Codebook best = iq4_nl;
  double best_error = INFINITY;
  for (const Codebook& start : {iq4_nl, even}) {
    Codebook current = start;
    for (int iteration = 0; iteration <= iterations; ++iteration) {
      const LevelSums sums = assign(values, cols, importance, current, pool);
      if (sums.error < best_error) best_error = sums.error, best = current;
      if (iteration == iterations || !(sums.error > 0)) break;
      std::array<double, kCodebookLevels> updated{};
      for (size_t k = 0; k < kCodebookLevels; ++k)  // an empty level stays where it is
        updated[k] = sums.wdd[k] > 0 ? sums.wdx[k] / sums.wdd[k] : static_cast<double>(current[k]);
      const Codebook next = to_codebook(updated);
      if (next == current) break;
      current = next;
    }
  }
  return best;
}

}  // namespace jisu::compress
