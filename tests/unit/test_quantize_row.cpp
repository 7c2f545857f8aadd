// Quantizers round-trip through the (independently verified) dequantizers within the error
// each format's step size allows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/quant_kernels.h"
#include "compress/quantize_row.h"

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
                                            {DType::Q6_K, 0.05}};
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

}  // namespace
}  // namespace jisu::compress
