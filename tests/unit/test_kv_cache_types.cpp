// KV cache types (f32, f16, q8_0, q4_0): the row quantizer against error bounds derived from
// its definition, attention over stored rows on every ISA against the scalar reference and
// against a float64 two-pass attention over the same decoded rows, the loss from quantizing
// against the f32 cache within stated tolerances, and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "attention_reference.h"
#include "stored_kv_layer.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/kv_quantize.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "kv/kv_cache.h"

namespace jisu::cpu {
namespace {

constexpr DType kCacheTypes[] = {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0};

std::vector<float> round_trip(DType type, const std::vector<float>& x) {
  std::vector<uint8_t> row(row_bytes(type, x.size()));
  quantize_kv_row(type, x.data(), row.data(), x.size());
  std::vector<float> back(x.size());
  dequantize_row_scalar(type, row.data(), back.data(), x.size());
  return back;
}

TEST(KvCacheRows, RoundTripWithinTheTypesBounds) {
  std::mt19937 rng(3);
  // Outliers in some blocks, a zero block, tiny values: what K/V rows hold.
  std::vector<float> x = normal_values(32 * 64, rng, 2.0f);
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);
  for (size_t i = 96; i < 128; ++i) x[i] *= 1e-4f;
  for (DType type : kCacheTypes) {
    const std::vector<float> back = round_trip(type, x);
    for (size_t block = 0; block < x.size() / 32; ++block) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[block * 32 + j]));
      // q8_0: half a step of amax/127, plus the fp16 rounding of the scale (2^-11 relative,
      // times at most 127 steps); q4_0: the largest magnitude is level -8 exactly, the other
      // sign reaches only 7 steps, so up to one step (amax/8) at that end; f16: 2^-11 relative.
      for (size_t j = 0; j < 32; ++j) {
        const float value = x[block * 32 + j], error = std::fabs(back[block * 32 + j] - value);
        float bound = 0;
        switch (type) {
          case DType::F32: bound = 0; break;
          case DType::F16: bound = std::fabs(value) * 0x1p-11f + 1e-7f; break;
          case DType::Q8_0: bound = amax * (0.5f / 127.0f + 0x1p-11f) + 1e-7f; break;
          default: bound = amax * (1.0f / 8.0f + 0x1p-9f) + 1e-7f; break;
        }
        ASSERT_LE(error, bound) << dtype_name(type) << " element " << block * 32 + j;
      }
    }
    if (type == DType::Q4_0) {
      // The whole level grid is used, not only its ends: rounding to the nearest of evenly spaced
      // levels errs by a quarter step on average (a broken grid or truncation: half a step or more).
      double error_sum = 0, step_sum = 0;
      for (size_t block = 0; block < x.size() / 32; ++block) {
        float amax = 0;
        for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[block * 32 + j]));
        for (size_t j = 0; j < 32; ++j) error_sum += std::fabs(back[block * 32 + j] - x[block * 32 + j]);
        step_sum += 32.0 * amax / 8.0;
      }
      EXPECT_LT(error_sum / step_sum, 0.3);
      EXPECT_GT(error_sum / step_sum, 0.15);
    }
  }
}

TEST(KvCacheAttention, EveryIsaMatchesScalarAndFloat64OnTheStoredRows) {
  std::mt19937 rng(11);
  for (DType key_type : kCacheTypes)
    for (DType value_type : kCacheTypes)
      for (int32_t head_dim : {32, 64, 128}) {
        const int32_t n_kv_heads = 2, group = 4, block_size = 16;
        const StoredLayer layer(key_type, value_type, head_dim, n_kv_heads, block_size, rng);
        const float scale = 1.0f / std::sqrt(float(head_dim));
        for (int32_t n_positions : {1, 15, 17, 100, 256}) {
          const int32_t kv_head = n_positions % n_kv_heads;
          const std::vector<float> queries = normal_values(size_t(group * head_dim), rng, 1.5f);
          std::vector<float> expected(queries.size());
          kernel_table(Isa::Scalar)
              .attention_group_rows(queries.data(), group, layer.rows, kv_head, head_dim, n_positions, scale, expected.data());
          for (int32_t g = 0; g < group; ++g) {
            const std::vector<double> exact = reference_attention(queries.data() + g * head_dim, layer.decoded, kv_head,
                                                                  head_dim, n_positions, scale);
            for (int32_t d = 0; d < head_dim; ++d)
              ASSERT_NEAR(expected[size_t(g * head_dim + d)], exact[size_t(d)], 2e-5)
                  << "scalar " << dtype_name(key_type) << "/" << dtype_name(value_type);
          }
          for (Isa isa : supported_isas()) {
            std::vector<float> out(queries.size());
            kernel_table(isa).attention_group_rows(queries.data(), group, layer.rows, kv_head, head_dim, n_positions,
                                                   scale, out.data());
            for (size_t i = 0; i < out.size(); ++i)
              ASSERT_NEAR(out[i], expected[i], 2e-5) << isa_name(isa) << " " << dtype_name(key_type) << "/"
                                                     << dtype_name(value_type) << " head_dim " << head_dim
                                                     << " positions " << n_positions << " element " << i;
          }
        }
      }
}

// What quantizing the cache costs one attention output, against float64 attention over the
// original f32 rows (unit-variance keys and values, scores of unit scale): the stated
// tolerances of docs/quantization.md.
TEST(KvCacheAttention, QuantizedCacheStaysWithinItsToleranceOfTheF32Cache) {
  std::mt19937 rng(5);
  const int32_t head_dim = 64, group = 4, n_positions = 200;
  const struct {
    DType type;
    double tolerance;  // max |out - out_f32| over all elements
  } cases[] = {{DType::F16, 2e-3}, {DType::Q8_0, 2e-2}, {DType::Q4_0, 0.25}};
  for (const auto& c : cases) {
    const StoredLayer layer(c.type, c.type, head_dim, 1, 16, rng);
    const std::vector<float> queries = normal_values(size_t(group * head_dim), rng, 1.0f);
    std::vector<float> out(queries.size());
    attention_group_rows(queries.data(), group, layer.rows, 0, head_dim, n_positions, 0.125f, out.data());
    double worst = 0;
    for (int32_t g = 0; g < group; ++g) {
      const std::vector<double> exact =
          reference_attention(queries.data() + g * head_dim, layer.original, 0, head_dim, n_positions, 0.125f);
      for (int32_t d = 0; d < head_dim; ++d) worst = std::max(worst, std::fabs(out[size_t(g * head_dim + d)] - exact[size_t(d)]));
    }
    EXPECT_LT(worst, c.tolerance) << dtype_name(c.type);
    EXPECT_GT(worst, 0.0) << dtype_name(c.type) << " changed nothing: the rows were not quantized";
  }
}

TEST(KvCacheTypes, NamesAndRefusals) {
  EXPECT_EQ(parse_kv_cache_type("f32"), DType::F32);
  EXPECT_EQ(parse_kv_cache_type("F16"), DType::F16);
  EXPECT_EQ(parse_kv_cache_type("q8_0"), DType::Q8_0);
  EXPECT_EQ(parse_kv_cache_type("Q4_0"), DType::Q4_0);
  for (const char* bad : {"q4_1", "q4_k", "bf16", "int8", "", "f32 "})
    EXPECT_THROW(parse_kv_cache_type(bad), Error) << bad;
  EXPECT_EQ(kv_cache_type_or_default("", false), DType::F16);
  EXPECT_EQ(kv_cache_type_or_default("", true), DType::F32);
  EXPECT_EQ(kv_cache_type_or_default("q8_0", true), DType::Q8_0);  // cuda then refuses it at plan_kv
  EXPECT_NO_THROW(check_kv_cache_types(DType::Q8_0, DType::Q4_0, 64));
  EXPECT_NO_THROW(check_kv_cache_types(DType::F16, DType::F32, 40));
  EXPECT_THROW(check_kv_cache_types(DType::Q8_0, DType::F32, 48), Error);  // heads must be whole blocks
  EXPECT_THROW(check_kv_cache_types(DType::F16, DType::Q4_0, 80), Error);
  KvCacheOptions options;
  options.key_type = DType::Q5_0;
  EXPECT_THROW(KvCache(64, options), Error);
  EXPECT_EQ(kv_position_bytes(DType::Q8_0, DType::Q4_0, 64), 68u + 36u);
  std::vector<float> queries(4 * 512), out(4 * 512);
  const int32_t table[1] = {0};
  std::vector<uint8_t> rows(row_bytes(DType::Q8_0, 512));
  const KvLayerRows view{rows.data(), rows.data(), table, 16, 512, DType::Q8_0, DType::Q8_0};
  EXPECT_THROW(attention_group_rows(queries.data(), 1, view, 0, 512, 1, 1.0f, out.data()), Error);  // head too wide
}

}  // namespace
}  // namespace jisu::cpu
