// Quantizers round-trip through the (independently verified) dequantizers within the error
// each format's step size allows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/quant_blocks.h"
#include "compress/quantization_mix.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::compress {
namespace {

TEST(QuantizeRow, RoundTripErrorIsWithinTheFormatsStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t n = 1024;
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  // Expected worst relative RMS error per type (half a step of the coarsest grid, with margin).
  const std::pair<DType, double> cases[] = {{DType::F32, 0.0},   {DType::F16, 1e-3},  {DType::BF16, 5e-3},
                                            {DType::Q8_0, 0.01}, {DType::Q4_0, 0.15}, {DType::Q4_1, 0.15},
                                            {DType::Q5_0, 0.08}, {DType::Q5_1, 0.08}, {DType::Q4_K, 0.15},
                                            {DType::Q6_K, 0.05}, {DType::Q5_K, 0.08}, {DType::Q3_K, 0.3},
                                            {DType::Q2_K, 0.5},  {DType::IQ4_NL, 0.15}, {DType::IQ4_XS, 0.15}};
  for (const auto& [type, limit] : cases) {
    ASSERT_TRUE(quantize_supported(type));
    std::vector<uint8_t> packed(row_bytes(type, n));
    quantize_row(type, x.data(), packed.data(), n);
    std::vector<float> restored(n);
    cpu::dequantize_row_scalar(type, packed.data(), restored.data(), n);
    double error = 0, norm = 0;
    for (size_t i = 0; i < n; ++i) {
      error += (restored[i] - x[i]) * double(restored[i] - x[i]);
      norm += double(x[i]) * x[i];
    }
    const double relative = std::sqrt(error / norm);
    EXPECT_LE(relative, limit) << dtype_name(type);
    if (limit > 0) {
      EXPECT_GT(relative, limit / 100) << dtype_name(type) << ": suspiciously exact";
    }
  }
}

std::vector<float> gaussian_row(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  return x;
}

// sum_i w_i (x_i - dequantized_i)^2 after a round trip through the scalar dequantizer.
double weighted_error(DType type, const std::vector<float>& x, const float* importance, const std::vector<float>& w) {
  std::vector<uint8_t> packed(row_bytes(type, x.size()));
  quantize_row(type, x.data(), packed.data(), x.size(), importance);
  std::vector<float> restored(x.size());
  cpu::dequantize_row_scalar(type, packed.data(), restored.data(), x.size());
  double error = 0;
  for (size_t i = 0; i < x.size(); ++i) error += w[i] * (restored[i] - x[i]) * double(restored[i] - x[i]);
  return error;
}

// The search includes the plain round-to-nearest scale of Q4_0 (signed max-abs -> -8) among
// its candidates, so it is never worse; computed here by hand as the reference.
TEST(QuantizeRow, SearchedQ4_0IsNoWorseThanRoundToNearest) {
  const std::vector<float> x = gaussian_row(4096, 11);
  double round_to_nearest = 0;
  for (size_t b = 0; b < x.size(); b += 32) {
    float signed_max = 0;
    for (size_t i = b; i < b + 32; ++i)
      if (std::fabs(x[i]) > std::fabs(signed_max)) signed_max = x[i];
    const float d = cpu::fp16_to_fp32(cpu::fp32_to_fp16(signed_max / -8.0f));
    for (size_t i = b; i < b + 32; ++i) {
      const float level = std::clamp(std::round(x[i] / d), -8.0f, 7.0f);
      round_to_nearest += (x[i] - d * level) * double(x[i] - d * level);
    }
  }
  const double searched = weighted_error(DType::Q4_0, x, nullptr, std::vector<float>(x.size(), 1.0f));
  EXPECT_LT(searched, round_to_nearest * 0.97);  // a few % better on Gaussian weights
}

// With an importance vector the columns it marks important come out more exact than without.
TEST(QuantizeRow, ImportanceLowersTheErrorWhereItIsHigh) {
  const std::vector<float> x = gaussian_row(2048, 5);
  std::vector<float> importance(x.size(), 1.0f);
  for (size_t i = 0; i < x.size(); i += 4) importance[i] = 50.0f;  // every 4th column matters most
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                     DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS}) {
    const double with = weighted_error(type, x, importance.data(), importance);
    const double without = weighted_error(type, x, nullptr, importance);
    EXPECT_LT(with, without * 0.9) << dtype_name(type);
  }
}

// The search weights as docs/quantization.md states them: 1 without an importance vector; the
// importance alone for most types; importance * sqrt(mean x^2 + x_i^2) for Q2_K, Q3_K, Q5_0.
TEST(QuantizeRow, SearchWeightsFollowTheDocumentedFormula) {
  const std::vector<float> x = gaussian_row(768, 3);
  std::vector<float> importance(x.size());
  for (size_t i = 0; i < x.size(); ++i) importance[i] = 0.1f + static_cast<float>(i % 7);
  double mean_square = 0;
  for (const float v : x) mean_square += double(v) * v;
  mean_square /= double(x.size());
  std::vector<float> weights(x.size());
  for (DType type : {DType::Q2_K, DType::Q3_K, DType::Q5_0}) {
    search_weights(type, x.data(), x.size(), importance.data(), weights.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const double expected = importance[i] * std::sqrt(mean_square + double(x[i]) * x[i]);
      ASSERT_NEAR(weights[i], expected, 1e-6 * expected) << dtype_name(type) << " column " << i;
    }
  }
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                     DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS}) {
    search_weights(type, x.data(), x.size(), importance.data(), weights.data());
    EXPECT_EQ(weights, importance) << dtype_name(type);
    search_weights(type, x.data(), x.size(), nullptr, weights.data());
    EXPECT_EQ(weights, std::vector<float>(x.size(), 1.0f)) << dtype_name(type);
  }
  search_weights(DType::Q2_K, x.data(), x.size(), nullptr, weights.data());
  EXPECT_EQ(weights, std::vector<float>(x.size(), 1.0f));
}

TEST(QuantizationMix, RowsATypeCannotHoldAreAnError) {
  const QuantizationMix mix(*file_type_from_name("Q4_K_M"), {}, 4);
  EXPECT_EQ(mix.type_for("blk.0.ffn_gate.weight", 288), DType::Q5_0);  // K-quant fallback
  EXPECT_EQ(mix.type_for("blk.3.ffn_down.weight", 256), DType::Q6_K);
  EXPECT_THROW(mix.type_for("blk.0.ffn_gate.weight", 100), Error);
  EXPECT_FALSE(file_type_from_name("Q4_Z"));
}

// CB4's mix gives attn_v Q5_K in the first 3 layers (Q4_K_S: 4; the one fewer pays for the
// codebooks) and ffn_down what Q4_K_S gives it; the embedding stays IQ4_NL.
TEST(QuantizationMix, Cb4SpendsBitsAsQ4_K_SDoesButOneAttnVFewer) {
  const QuantizationMix cb4(*file_type_from_name("CB4"), {}, 22), q4_k_s(*file_type_from_name("Q4_K_S"), {}, 22);
  for (const char* name : {"blk.0.attn_v.weight", "blk.2.attn_v.weight", "blk.4.attn_v.weight", "blk.0.ffn_down.weight",
                           "blk.1.ffn_down.weight", "blk.2.ffn_down.weight", "blk.9.attn_q.weight", "output.weight"}) {
    const DType k_type = q4_k_s.type_for(name, 2048);
    EXPECT_EQ(cb4.type_for(name, 2048), k_type == DType::Q4_K ? kJisuCb4 : k_type) << name;
  }
  EXPECT_EQ(q4_k_s.type_for("blk.3.attn_v.weight", 2048), DType::Q5_K);
  EXPECT_EQ(cb4.type_for("blk.3.attn_v.weight", 2048), kJisuCb4);
  EXPECT_EQ(cb4.type_for("token_embd.weight", 2048), DType::IQ4_NL);
  MixOptions pure;
  pure.pure = true;
  const QuantizationMix cb4_pure(*file_type_from_name("CB4"), pure, 22);
  EXPECT_EQ(cb4_pure.type_for("blk.0.attn_v.weight", 2048), kJisuCb4);
  EXPECT_EQ(cb4_pure.type_for("output.weight", 2048), kJisuCb4);
}

}  // namespace
}  // namespace jisu::compress
