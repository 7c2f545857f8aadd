// Attention over a paged cache and the row ops, against straightforward float64 references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/attention.h"
#include "backends/cpu/ops.h"
#include "models/rope.h"

namespace jisu::cpu {
namespace {

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

TEST(Attention, PagedHeadMatchesTwoPassReference) {
  std::mt19937 rng(7);
  const int32_t head_dim = 64, n_kv_heads = 2, kv_dim = head_dim * n_kv_heads, block_size = 4, n_blocks = 16;
  const std::vector<float> keys = random_vector(size_t(n_blocks * block_size * kv_dim), rng);
  const std::vector<float> values = random_vector(keys.size(), rng);
  // A scattered block table: the sequence's positions live in non-contiguous blocks.
  const std::vector<int32_t> table = {9, 2, 14, 5, 0, 11, 7, 3};
  const KvLayerView view{keys.data(), values.data(), table.data(), block_size, kv_dim};
  for (int32_t n_positions : {1, 3, 4, 5, 17, 32}) {
    for (int32_t kv_head = 0; kv_head < n_kv_heads; ++kv_head) {
      const std::vector<float> query = random_vector(size_t(head_dim), rng, 2.0f);
      const float scale = 1.0f / 8.0f;
      std::vector<double> scores(static_cast<size_t>(n_positions));
      double max_score = -1e300;
      for (int32_t p = 0; p < n_positions; ++p) {
        const size_t row = (size_t(table[size_t(p / block_size)]) * block_size + size_t(p % block_size)) * kv_dim +
                           size_t(kv_head * head_dim);
        double score = 0;
        for (int32_t d = 0; d < head_dim; ++d) score += double(query[size_t(d)]) * keys[row + size_t(d)];
        scores[size_t(p)] = score * scale;
        max_score = std::max(max_score, scores[size_t(p)]);
      }
      std::vector<double> expected(static_cast<size_t>(head_dim), 0.0);
      double total = 0;
      for (int32_t p = 0; p < n_positions; ++p) {
        const double weight = std::exp(scores[size_t(p)] - max_score);
        total += weight;
        const size_t row = (size_t(table[size_t(p / block_size)]) * block_size + size_t(p % block_size)) * kv_dim +
                           size_t(kv_head * head_dim);
        for (int32_t d = 0; d < head_dim; ++d) expected[size_t(d)] += weight * values[row + size_t(d)];
      }
      std::vector<float> out(static_cast<size_t>(head_dim));
      attention_head(query.data(), view, kv_head, head_dim, n_positions, scale, out.data());
      for (int32_t d = 0; d < head_dim; ++d)
        EXPECT_NEAR(out[size_t(d)], expected[size_t(d)] / total, 1e-5) << "positions " << n_positions << " dim " << d;
    }
  }
}

TEST(Ops, RmsNormMatchesDefinition) {
  std::mt19937 rng(1);
  const auto x = random_vector(256, rng), w = random_vector(256, rng);
  std::vector<float> out(256);
  rms_norm(x.data(), w.data(), 1e-5f, out.data(), 256);
  double sum = 0;
  for (float v : x) sum += double(v) * v;
  const double scale = 1.0 / std::sqrt(sum / 256 + 1e-5);
  for (size_t i = 0; i < 256; ++i) EXPECT_NEAR(out[i], x[i] * scale * w[i], 1e-5);
}

TEST(Ops, RopeStylesRotateTheRightPairsAndPreserveNorms) {
  RopeConfig config;
  config.dims = 8;
  config.freq_base = 10000.0f;
  const RopeTable table(config);
  std::vector<float> cos_sin(8);
  table.angles(3, cos_sin.data());
  // Pair 0 rotates by 3 radians (frequency 1).
  EXPECT_NEAR(cos_sin[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(cos_sin[1], std::sin(3.0), 1e-6);
  std::vector<float> interleaved = {1, 0, 0, 0, 0, 0, 0, 0}, neox = interleaved;
  rope_interleaved(interleaved.data(), cos_sin.data(), 8);
  rope_neox(neox.data(), cos_sin.data(), 8);
  EXPECT_NEAR(interleaved[1], std::sin(3.0), 1e-6);  // partner of 0 is 1
  EXPECT_NEAR(neox[4], std::sin(3.0), 1e-6);         // partner of 0 is d/2
  // Linear scaling by 2 halves the angle.
  config.scaling = RopeScaling::Linear;
  config.scaling_factor = 2.0f;
  RopeTable(config).angles(3, cos_sin.data());
  EXPECT_NEAR(cos_sin[0], std::cos(1.5), 1e-6);
}

TEST(Ops, ActivationsAndSoftmax) {
  std::vector<float> gate = {-2.0f, 0.0f, 1.0f}, up = {1.0f, 2.0f, 3.0f};
  std::vector<float> silu = gate;
  silu_multiply(silu.data(), up.data(), 3);
  EXPECT_NEAR(silu[0], -2.0 / (1.0 + std::exp(2.0)), 1e-6);
  EXPECT_NEAR(silu[2], 3.0 / (1.0 + std::exp(-1.0)), 1e-6);
  std::vector<float> gelu = gate;
  gelu_tanh_multiply(gelu.data(), up.data(), 3);
  EXPECT_NEAR(gelu[2], 3.0 * 0.8411919906082768, 1e-5);  // gelu_tanh(1)
  std::vector<float> probabilities = {1.0f, 2.0f, 3.0f};
  softmax(probabilities.data(), 3);
  const double denominator = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(probabilities[2], std::exp(3.0) / denominator, 1e-6);
}

}  // namespace
}  // namespace jisu::cpu
