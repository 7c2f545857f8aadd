// Super-block integer path of the K-quants: activation quantization, AVX2 against the scalar
// reference (bit for bit), the determinism invariant, and agreement with float math on the
// dequantized values (which is what ties the reference to the weight format's definition).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "int8_test_data.h"

namespace jisu::cpu {
namespace {

const DType kSuperBlockTypes[] = {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

using MatmulFn = void (*)(const Int8MatmulArgs&);

std::vector<float> run(MatmulFn fn, DType type, const std::vector<uint8_t>& w, size_t rows, size_t n,
                       const std::vector<ActivationSuperBlock>& xq, size_t tokens, size_t row_begin, size_t row_end) {
  std::vector<float> y(tokens * rows, -1.0f);
  const Int8MatmulArgs args{type, w.data(), row_bytes(type, n), n, reinterpret_cast<const ActivationBlock*>(xq.data()),
                            int8_super_block_row_bytes(n), tokens, y.data(), rows, row_begin, row_end};
  fn(args);
  return y;
}

TEST(Int8SuperBlockMatmul, QuantizationRoundsWithinHalfAStepAndSumsEachSixteen) {
  std::mt19937 rng(1);
  const size_t n = 768;
  std::vector<float> x = random_activations(n, rng);
  for (size_t j = 512; j < 768; ++j) x[j] = 0.0f;  // an all-zero super-block
  const auto q = quantize_super_blocks(x, n, 1, Isa::Scalar);
  for (size_t b = 0; b < 3; ++b) {
    for (size_t k = 0; k < 16; ++k) {
      int32_t sum = 0;
      for (size_t j = 16 * k; j < 16 * k + 16; ++j) {
        const float value = x[b * 256 + j];
        EXPECT_LE(std::abs(q[b].qs[j]), 127);
        EXPECT_LE(std::fabs(value - q[b].d * q[b].qs[j]), 0.5f * q[b].d * 1.0001f + 1e-37f) << b << " " << j;
        sum += q[b].qs[j];
      }
      EXPECT_EQ(sum, q[b].sums[k]);
    }
  }
  EXPECT_EQ(q[2].d, 0.0f);
  for (size_t k = 0; k < 16; ++k) EXPECT_EQ(q[2].sums[k], 0);
}

TEST(Int8SuperBlockMatmul, SimdQuantizationMatchesScalarBitForBit) {
  std::mt19937 rng(2);
  for (Isa isa : simd_isas())
    for (size_t n : {256, 2048, 5632}) {
      const std::vector<float> x = random_activations(n, rng);
      const auto a = quantize_super_blocks(x, n, 1, Isa::Scalar), b = quantize_super_blocks(x, n, 1, isa);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActivationSuperBlock)), 0) << isa_name(isa) << " " << n;
    }
}

TEST(Int8SuperBlockMatmul, SimdMatchesScalarBitForBitForEveryTileShape) {
  std::mt19937 rng(3);
  for (Isa isa : simd_isas())
  for (DType type : kSuperBlockTypes) {
    for (size_t n : {256, 768}) {
      const size_t rows = 11;
      const auto w = random_weights(type, rows, n, rng);
      for (size_t tokens : {1, 2, 3, 4, 5, 7, 9}) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
        const auto xq = quantize_super_blocks(random_activations(tokens * n, rng), n, tokens, isa);
        expect_simd_equals_reference(
            [&](Isa path, size_t begin, size_t end) {
              return run(kernel_table(path).matmul_rows_int8_super_blocks, type, w, rows, n, xq, tokens, begin, end);
            },
            isa, tokens, rows, 3, 8);
      }
    }
  }
}

TEST(Int8SuperBlockMatmul, ResultsDoNotDependOnBatchSize) {
  std::mt19937 rng(4);
  const size_t n = 512, rows = 9, tokens = 7;
  for (DType type : kSuperBlockTypes) {
    const auto w = random_weights(type, rows, n, rng);
    const auto xq = quantize_super_blocks(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
    for (Isa isa : supported_isas()) {
      const MatmulFn fn = kernel_table(isa).matmul_rows_int8_super_blocks;
      const auto all = run(fn, type, w, rows, n, xq, tokens, 0, rows);
      SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::string(isa_name(isa)));
      expect_each_token_alone_gives_its_batch_value(xq, tokens, n, rows, all, [&](const std::vector<ActivationSuperBlock>& one) {
        return run(fn, type, w, rows, n, one, 1, 0, rows);
      });
    }
  }
}

// The integer result equals the float dot product of the dequantized weights and the
// dequantized activations up to float rounding.
TEST(Int8SuperBlockMatmul, AgreesWithFloatMathOnDequantizedValues) {
  std::mt19937 rng(5);
  const size_t n = 1024, rows = 6;
  for (DType type : kSuperBlockTypes) {
    const auto w = random_weights(type, rows, n, rng);
    const std::vector<float> x = random_activations(n, rng);
    const auto xq = quantize_super_blocks(x, n, 1, Isa::Scalar);
    const auto y = run(matmul_rows_int8_super_blocks_scalar, type, w, rows, n, xq, 1, 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      const Exact e = exact_product(type, w, r, n, xq.data());
      EXPECT_NEAR(y[r], e.value, 1e-5 * e.magnitude + 1e-30) << dtype_name(type) << " row " << r;
    }
  }
}

TEST(Int8SuperBlockMatmul, DispatcherChecksArguments) {
  std::vector<uint8_t> w(1024);
  std::vector<ActivationSuperBlock> xq(2);
  std::vector<float> y(4), x(300);
  EXPECT_TRUE(takes_int8_super_blocks(DType::Q4_K));
  EXPECT_TRUE(takes_int8_super_blocks(DType::Q2_K));
  EXPECT_TRUE(takes_int8_super_blocks(DType::Q3_K));
  EXPECT_TRUE(takes_int8_super_blocks(DType::Q5_K));
  EXPECT_TRUE(takes_int8_super_blocks(DType::Q6_K));
  EXPECT_FALSE(takes_int8_super_blocks(DType::Q4_0));
  Int8MatmulArgs args{DType::Q4_0, w.data(), 18, 32, reinterpret_cast<const ActivationBlock*>(xq.data()), 292, 1,
                      y.data(), 1, 0, 1};
  EXPECT_THROW(matmul_rows_int8_super_blocks(args), Error);
  args.type = DType::Q4_K;
  args.n = 256;
  args.w_row_bytes = 100;  // shorter than a super-block
  EXPECT_THROW(matmul_rows_int8_super_blocks(args), Error);
  args.w_row_bytes = 144;
  args.n = 288;  // not whole super-blocks
  EXPECT_THROW(matmul_rows_int8_super_blocks(args), Error);
  args.n = 256;
  args.row_begin = 1;
  args.row_end = 0;
  EXPECT_THROW(matmul_rows_int8_super_blocks(args), Error);
  EXPECT_THROW(quantize_activations_super_blocks(x.data(), 300, xq.data()), Error);
}

}  // namespace
}  // namespace jisu::cpu
