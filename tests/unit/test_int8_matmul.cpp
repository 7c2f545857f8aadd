// Integer dot-product path: activation quantization and weight x int8 products, SIMD against
// the scalar reference (bit for bit), against float math, and the determinism invariant.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/int8_matmul.h"
#include "int8_test_data.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "unit/int8_test_data.h"

namespace jisu::cpu {
namespace {

const DType kInt8Types[] = {DType::Q4_0, DType::Q8_0, DType::IQ4_NL};

// Row lengths tried: one block and several.
std::vector<size_t> lengths(DType type) {
  return traits(type).block_elements == 256 ? std::vector<size_t>{256, 768} : std::vector<size_t>{32, 256};
}

TEST(Int8Matmul, ScalarQuantizationRoundsWithinHalfAStep) {
  std::mt19937 rng(1);
  const size_t n = 256;
  const std::vector<float> x = random_activations(n, rng);
  const auto q = quantize(x, n, 1, Isa::Scalar);
  for (size_t b = 0; b < n / 32; ++b) {
    int32_t pair_sums[2] = {0, 0};  // elements 4k, 4k + 1 and elements 4k + 2, 4k + 3
    for (size_t j = 0; j < 32; ++j) {
      const float value = x[b * 32 + j];
      EXPECT_LE(std::abs(q[b].qs[j]), 127);
      EXPECT_LE(std::fabs(value - q[b].d * q[b].qs[j]), 0.5f * q[b].d * 1.0001f + 1e-37f) << b << " " << j;
      pair_sums[j % 4 / 2] += q[b].qs[j];
    }
    EXPECT_EQ(q[b].q4_0_offsets[0], -8 * pair_sums[0]) << b;
    EXPECT_EQ(q[b].q4_0_offsets[1], -8 * pair_sums[1]) << b;
  }
  EXPECT_EQ(q[0].d, 0.0f);  // an all-zero block has scale 0 and zero values
  EXPECT_EQ(q[0].q4_0_offsets[0], 0);
  // Ties round to even: 1.5 * (127 / 127) -> the block with max 127 has d == 1.
  EXPECT_EQ(q[3].d, 1.0f);
  EXPECT_EQ(q[3].qs[0], -16);  // -15.5 -> -16
  EXPECT_EQ(q[3].qs[1], -14);  // -14.5 -> -14
}

TEST(Int8Matmul, SimdQuantizationMatchesScalarBitForBit) {
  std::mt19937 rng(2);
  for (Isa isa : simd_isas())
    for (size_t n : {32, 256, 2048}) {
      const std::vector<float> x = random_activations(n, rng);
      const auto a = quantize(x, n, 1, Isa::Scalar), b = quantize(x, n, 1, isa);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActivationBlock)), 0) << isa_name(isa) << " " << n;
    }
}

using Int8Fn = void (*)(const Int8MatmulArgs&);

std::vector<float> run(Int8Fn fn, DType type, const std::vector<uint8_t>& w, size_t rows, size_t n,
                       const std::vector<ActivationBlock>& xq, size_t tokens, size_t row_begin, size_t row_end) {
  std::vector<float> y(tokens * rows, -1.0f);
  const Int8MatmulArgs args{type, w.data(), row_bytes(type, n), n, xq.data(), int8_activation_row_bytes(n),
                            tokens, y.data(), rows, row_begin, row_end};
  fn(args);
  return y;
}

TEST(Int8Matmul, SimdMatchesScalarBitForBitForEveryTileShape) {
  std::mt19937 rng(3);
  for (Isa isa : simd_isas())
  for (DType type : kInt8Types) {
    for (size_t n : lengths(type)) {
      const size_t rows = 11;
      const auto w = random_weights(type, rows, n, rng);
      for (size_t tokens : {1, 2, 3, 4, 5, 7, 9}) {
        const auto xq = quantize(random_activations(tokens * n, rng), n, tokens, isa);
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
        expect_simd_equals_reference(
            [&](Isa path, size_t begin, size_t end) {
              return run(kernel_table(path).matmul_rows_int8, type, w, rows, n, xq, tokens, begin, end);
            },
            isa, tokens, rows, 3, 8);
        if (HasFailure()) return;
      }
    }
  }
}

TEST(Int8Matmul, ResultsDoNotDependOnBatchSize) {
  std::mt19937 rng(4);
  const size_t n = 256, rows = 9, tokens = 7;
  for (DType type : kInt8Types) {
    const auto w = random_weights(type, rows, n, rng);
    const auto xq = quantize(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
    for (Isa isa : supported_isas()) {
      const Int8Fn fn = kernel_table(isa).matmul_rows_int8;
      const auto all = run(fn, type, w, rows, n, xq, tokens, 0, rows);
      SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::string(isa_name(isa)));
      expect_each_token_alone_gives_its_batch_value(xq, tokens, n, rows, all, [&](const std::vector<ActivationBlock>& one) {
        return run(fn, type, w, rows, n, one, 1, 0, rows);
      });
    }
  }
}

// The integer result equals the float dot product of the dequantized weights and the
// dequantized activations up to float rounding.
TEST(Int8Matmul, AgreesWithFloatMathOnDequantizedValues) {
  std::mt19937 rng(5);
  const size_t n = 512, rows = 6;
  for (DType type : kInt8Types) {
    const auto w = random_weights(type, rows, n, rng);
    const std::vector<float> x = random_activations(n, rng);
    const auto xq = quantize(x, n, 1, Isa::Scalar);
    const auto y = run(matmul_rows_int8_scalar, type, w, rows, n, xq, 1, 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      const Exact e = exact_product(type, w, r, n, xq.data());
      EXPECT_NEAR(y[r], e.value, 1e-5 * e.magnitude + 1e-30) << dtype_name(type) << " row " << r;
    }
  }
}

TEST(Int8Matmul, DispatcherChecksArguments) {
  std::vector<uint8_t> w(1024);
  std::vector<ActivationBlock> xq(8);
  std::vector<float> y(4), x(48);
  EXPECT_TRUE(takes_int8_activations(DType::Q4_0));
  EXPECT_TRUE(takes_int8_activations(DType::Q8_0));
  EXPECT_FALSE(takes_int8_activations(DType::Q6_K));  // the super-block path's
  EXPECT_FALSE(takes_int8_activations(DType::F16));
  Int8MatmulArgs args{DType::F16, w.data(), 64, 32, xq.data(), 40, 1, y.data(), 1, 0, 1};
  EXPECT_THROW(matmul_rows_int8(args), Error);
  args.type = DType::Q4_0;
  args.w_row_bytes = 10;  // shorter than a block
  EXPECT_THROW(matmul_rows_int8(args), Error);
  args.w_row_bytes = 18;
  args.n = 48;  // not whole blocks
  EXPECT_THROW(matmul_rows_int8(args), Error);
  args.type = DType::Q6_K;  // a K-quant: the super-block path's, not this one's
  args.w_row_bytes = 210;
  args.n = 256;
  EXPECT_THROW(matmul_rows_int8(args), Error);
  EXPECT_THROW(quantize_activations(x.data(), 48, xq.data()), Error);
}

}  // namespace
}  // namespace jisu::cpu
