// Grouped decode attention over a paged f32 cache and the row ops, against straightforward
// float64 references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "attention_reference.h"
#include "stored_kv_layer.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/ops.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "backends/rope.h"

namespace jisu::cpu {
namespace {

// The grouped decode kernel (attention_group_rows, what the decode step runs) on an f32 cache,
// scalar and every ISA: every group size, chunk boundaries (16), head sizes that are whole
// vectors and ones that are not, a block size (5) that does not divide a chunk, and large
// scores (sharp softmax). Other cache types: test_kv_cache_types.cpp.
TEST(Attention, GroupedHeadsMatchTwoPassReferenceOnEveryIsa) {
  std::mt19937 rng(11);
  for (int32_t head_dim : {64, 8, 12, 128}) {
    const int32_t n_kv_heads = 2;
    const StoredLayer layer(DType::F32, DType::F32, head_dim, n_kv_heads, 5, rng);
    for (int32_t group : {1, 2, 3, 6, 8}) {
      for (int32_t n_positions : {1, 7, 8, 9, 15, 16, 17, 33, 80}) {
        for (float query_scale : {0.5f, 2.0f, 12.0f}) {
          const int32_t kv_head = n_positions % n_kv_heads;
          const std::vector<float> queries = normal_values(size_t(group * head_dim), rng, query_scale);
          const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
          for (Isa isa : supported_isas()) {
            std::vector<float> out(queries.size(), -1.0f);
            kernel_table(isa).attention_group_rows(queries.data(), group, layer.rows, kv_head, head_dim, n_positions,
                                                   scale, out.data());
            for (int32_t g = 0; g < group; ++g) {
              const std::vector<double> expected = reference_attention(queries.data() + g * head_dim, layer.decoded,
                                                                       kv_head, head_dim, n_positions, scale);
              for (int32_t d = 0; d < head_dim; ++d)
                ASSERT_NEAR(out[size_t(g * head_dim + d)], expected[size_t(d)], 2e-5)
                    << isa_name(isa) << " head_dim " << head_dim << " group " << group << " positions " << n_positions
                    << " query scale " << query_scale << " head " << g << " dim " << d;
            }
          }
        }
      }
    }
  }
}

TEST(Attention, GroupOrHeadLargerThanSupportedIsAnError) {
  std::mt19937 rng(3);
  const StoredLayer layer(DType::F32, DType::F32, 8, 1, 4, rng);
  std::vector<float> queries(size_t(8 * (kAttentionMaxGroup + 1))), out(queries.size());
  EXPECT_THROW(attention_group_rows(queries.data(), kAttentionMaxGroup + 1, layer.rows, 0, 8, 4, 1.0f, out.data()), Error);
  EXPECT_THROW(attention_group_rows(queries.data(), 1, layer.rows, 0, kAttentionMaxHeadDim + 8, 4, 1.0f, out.data()), Error);
}

TEST(Ops, RmsNormMatchesDefinition) {
  std::mt19937 rng(1);
  const auto x = normal_values(256, rng), w = normal_values(256, rng);
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

// Both variants of the activations against float64 definitions, over ordinary values, large
// magnitudes of both signs (saturation) and lengths with a tail shorter than a vector. gelu's
// tolerance is wider: float rounding of z = O(g^3) moves exp(-2z) by |2z| ulp far in the tail.
TEST(Ops, ActivationsMatchFloat64OnEveryIsa) {
  const bool has_avx2 = static_cast<int>(detected_isa()) >= static_cast<int>(Isa::Avx2);
  std::mt19937 rng(5);
  auto silu = [](double g) { return g / (1.0 + std::exp(-g)); };
  auto gelu = [](double g) {  // 1 + tanh(z) written as 2 / (1 + exp(-2z)), exact in the far negative tail
    const double z = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    return 0.5 * g * 2.0 / (1.0 + std::exp(-2.0 * z));
  };
  for (size_t n : {size_t(5), size_t(64), size_t(203)}) {
    std::vector<float> gate = normal_values(n, rng, 3.0f);
    const std::vector<float> up = normal_values(n, rng);
    gate[0] = 95.0f;
    gate[1] = -95.0f;
    gate[2] = 0.0f;
    if (n > 8) gate[8] = -30.0f, gate[9] = 30.0f, gate[10] = 1e-20f;
    using Op = void (*)(float*, const float*, size_t);
    struct Case {
      Op op;
      double (*definition)(double);
      double relative;
      const char* name;
    };
    std::vector<Case> cases = {{silu_multiply_scalar, +silu, 1e-6, "silu scalar"}, {gelu_tanh_multiply_scalar, +gelu, 1e-5, "gelu scalar"}};
    if (has_avx2) {
      cases.push_back({silu_multiply_avx2, +silu, 2e-6, "silu avx2"});
      cases.push_back({gelu_tanh_multiply_avx2, +gelu, 1e-5, "gelu avx2"});
    }
    for (const Case& c : cases) {
      std::vector<float> got = gate;
      c.op(got.data(), up.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const double expected = c.definition(gate[i]) * up[i];
        ASSERT_NEAR(got[i], expected, c.relative * std::fabs(expected) + 1e-30) << c.name << " n " << n << " gate " << gate[i];
      }
    }
  }
}

}  // namespace
}  // namespace jisu::cpu
