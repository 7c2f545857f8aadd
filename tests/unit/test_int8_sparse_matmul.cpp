// The jisu-only sparse weight types (backends/cpu/sparse_blocks.h): the row encoder and the
// selection of kept weights (compress/sparse_rows.h), the dense decoding, and the sparse int8
// kernels of every ISA against the scalar reference (bit for bit) and against exact double
// products.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"
#include "compress/sparse_rows.h"
#include "core/error.h"
#include "unit/int8_test_data.h"
#include "unit/sparse_test_data.h"

namespace jisu::cpu {
namespace {

const DType kTypes[] = {sparse_q8_type(19), sparse_q8_type(1), sparse_q8_type(32), sparse_q8_type(64), kJisuNmQ8};

TEST(Int8SparseRows, KeepLargestPrunesTheSmallestScoresLowerIndexFirstOnTies) {
  const std::vector<float> scores = {3, 1, 2, 1, 5, 0, 1, 4};
  std::vector<uint8_t> keep(8);
  compress::keep_largest(scores, 5, keep);
  EXPECT_EQ(keep, (std::vector<uint8_t>{1, 0, 1, 0, 1, 0, 1, 1}));  // of the three 1s, index 6 stays
  compress::keep_largest_per_group(scores, 2, 4, keep);
  EXPECT_EQ(keep, (std::vector<uint8_t>{1, 0, 1, 0, 1, 0, 0, 1}));
  compress::keep_largest(scores, 8, keep);
  EXPECT_EQ(keep, std::vector<uint8_t>(8, 1));
}

TEST(Int8SparseRows, DecodingGivesTheKeptWeightsWithinHalfAScaleStepAndZerosElsewhere) {
  std::mt19937 rng(1);
  for (DType type : kTypes) {
    const size_t n = 256;
    const SparseMatrix m = make_sparse(type, 3, n, rng);
    std::vector<float> row(n);
    for (size_t r = 0; r < m.rows; ++r) {
      dequantize_sparse_row(type, m.bytes.data() + r * row_bytes(type, n), row.data(), n);
      const size_t block = 64;
      for (size_t b = 0; b < n / block; ++b) {
        float largest = 0;
        for (size_t j = b * block; j < (b + 1) * block; ++j)
          if (m.keep[r * n + j]) largest = std::max(largest, std::fabs(m.dense[r * n + j]));
        const float step = largest / 127.0f * 1.001f;  // f16 rounding of the scale
        for (size_t j = b * block; j < (b + 1) * block; ++j) {
          const float w = m.dense[r * n + j];
          if (!m.keep[r * n + j])
            EXPECT_EQ(row[j], 0.0f) << dtype_name(type) << " " << r << " " << j;
          else
            EXPECT_LE(std::fabs(row[j] - w), 0.5f * step + 1e-3f * std::fabs(w) + 1e-30f) << dtype_name(type) << " " << j;
        }
      }
    }
    EXPECT_NO_THROW(check_sparse_rows(type, m.bytes.data(), m.rows, row_bytes(type, n), n, "w"));
  }
}

TEST(Int8SparseRows, DamagedMasksAreRefused) {
  std::mt19937 rng(2);
  for (DType type : {sparse_q8_type(19), kJisuNmQ8}) {
    SparseMatrix m = make_sparse(type, 4, 128, rng);
    // Row 2's first mask: one bit more (N:M: 17 of 32), or every bit (unstructured: 64 kept).
    if (type == kJisuNmQ8)
      m.bytes[row_bytes(type, 128) * 2] ^= 1;
    else
      std::memset(m.bytes.data() + row_bytes(type, 128) * 2, 0xFF, 8);
    EXPECT_THROW(check_sparse_rows(type, m.bytes.data(), m.rows, row_bytes(type, 128), 128, "w"), Error) << dtype_name(type);
  }
  std::vector<float> w(96, 1.0f);
  std::vector<uint8_t> keep(96, 1), out(row_bytes(sparse_q8_type(19), 64));
  EXPECT_THROW(compress::encode_sparse_row(sparse_q8_type(19), w.data(), keep.data(), 64, out.data()), Error);
  // N:M rows are blocks of 64 (layout version 3): 96 weights cannot be written, 2:4 or not.
  for (size_t j = 0; j < 96; ++j) keep[j] = j % 4 < 2;
  out.resize(200);
  EXPECT_THROW(compress::encode_sparse_row(kJisuNmQ8, w.data(), keep.data(), 96, out.data()), Error);
}

TEST(Int8SparseRows, TheLayoutIsMasksThenScalesThenValuesBiasedBy128) {
  // Two blocks of 64: block 0 keeps positions 0, 5, 63 (values 127, -127, 64 of scale 1/127),
  // block 1 keeps positions 1 and 2 (all zero: scale 0, values 0).
  const DType type = sparse_q8_type(2);  // 2 per 64 on average: 4 in the row
  std::vector<float> w(128, 0.0f);
  std::vector<uint8_t> keep(128, 0);
  keep[0] = keep[5] = keep[63] = keep[64 + 1] = 1;
  w[0] = 1.0f, w[5] = -1.0f, w[63] = 64.0f / 127.0f, w[7] = 0.5f;  // w[7] is pruned
  std::vector<uint8_t> out(row_bytes(type, 128));
  ASSERT_EQ(out.size(), 2 * 10 + 4u);
  compress::encode_sparse_row(type, w.data(), keep.data(), 128, out.data());
  EXPECT_EQ(load_u64(out.data()), (uint64_t{1} << 0) | (uint64_t{1} << 5) | (uint64_t{1} << 63));
  EXPECT_EQ(load_u64(out.data() + 8), uint64_t{1} << 1);
  EXPECT_EQ(fp16_to_fp32(load_u16(out.data() + 16)), fp16_to_fp32(fp32_to_fp16(1.0f / 127.0f)));
  EXPECT_EQ(load_u16(out.data() + 18), 0);
  const std::vector<uint8_t> values(out.begin() + 20, out.end());
  EXPECT_EQ(values, (std::vector<uint8_t>{127 + 128, 128 - 127, 64 + 128, 128}));
}

// y for tokens x rows by the kernels of `isa`.
std::vector<float> run(Isa isa, const SparseMatrix& m, const std::vector<ActivationBlock>& xq, size_t tokens,
                       size_t row_begin, size_t row_end) {
  std::vector<float> y(tokens * m.rows, -1.0f);
  kernel_table(isa).matmul_rows_sparse_int8({m.type, m.bytes.data(), row_bytes(m.type, m.n), m.n, xq.data(),
                                              m.n / 32 * sizeof(ActivationBlock), tokens, y.data(), m.rows, row_begin,
                                              row_end});
  return y;
}

TEST(Int8SparseMatmul, ScalarMatchesExactProductsOfTheDecodedWeights) {
  std::mt19937 rng(3);
  for (DType type : kTypes) {
    const size_t n = 512, rows = 5, tokens = 2;
    const SparseMatrix m = make_sparse(type, rows, n, rng);
    const std::vector<float> x = random_activations(tokens * n, rng);
    const auto xq = quantize(x, n, tokens, Isa::Scalar);
    const std::vector<float> y = run(Isa::Scalar, m, xq, tokens, 0, rows);
    std::vector<float> w(n);
    for (size_t r = 0; r < rows; ++r) {
      dequantize_sparse_row(type, m.bytes.data() + r * row_bytes(type, n), w.data(), n);
      for (size_t t = 0; t < tokens; ++t) {
        double exact = 0, magnitude = 0;
        for (size_t k = 0; k < n; ++k) {
          const ActivationBlock& b = xq[t * n / 32 + k / 32];
          const double product = double(w[k]) * double(b.d) * b.qs[k % 32];
          exact += product;
          magnitude += std::fabs(product);
        }
        EXPECT_NEAR(y[t * rows + r], exact, 1e-5 * magnitude + 1e-30) << dtype_name(type) << " " << r << " " << t;
      }
    }
  }
}

TEST(Int8SparseMatmul, EverySimdPathMatchesTheScalarReferenceBitForBit) {
  std::mt19937 rng(4);
  for (DType type : kTypes)
    // 1088: 17 blocks, past one chunk of 16 scales; skewed: first blocks keeping more than 32.
    for (const auto& [n, skewed] : {std::pair<size_t, bool>{64, false}, {320, false}, {1088, false}, {2048, false}, {2048, true}}) {
      const size_t rows = 9, tokens = 7;
      const SparseMatrix m = make_sparse(type, rows, n, rng, skewed);
      if (skewed && type == sparse_q8_type(19)) {
        ASSERT_GT(std::popcount(load_u64(m.bytes.data())), 32);
      }
      const std::vector<float> x = random_activations(tokens * n, rng);
      const auto xq = quantize(x, n, tokens, Isa::Scalar);
      const std::vector<float> expected = run(Isa::Scalar, m, xq, tokens, 0, rows);
      for (Isa isa : simd_isas()) {
        if (!sparse_kernel_runs_on(isa)) continue;  // an AVX-512 CPU without VBMI2: the avx2 kernel serves
        const std::vector<float> got = run(isa, m, xq, tokens, 0, rows);
        ASSERT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
            << isa_name(isa) << " " << dtype_name(type) << " n=" << n << (skewed ? " skewed" : "");
        // A row slice and a single token give the same values (the determinism invariant).
        const std::vector<float> slice = run(isa, m, xq, 1, 3, 8);
        for (size_t r = 3; r < 8; ++r) ASSERT_EQ(slice[r], expected[r]) << isa_name(isa) << " " << dtype_name(type);
      }
    }
}

TEST(Int8SparseMatmul, TheDispatcherRefusesDenseTypesAndPartialBlocks) {
  std::vector<uint8_t> w(1024);
  std::vector<ActivationBlock> xq(4);
  std::vector<float> y(4);
  EXPECT_THROW(matmul_rows_sparse_int8({DType::Q8_0, w.data(), 34, 32, xq.data(), 40, 1, y.data(), 1, 0, 1}), Error);
  EXPECT_THROW(matmul_rows_sparse_int8({sparse_q8_type(19), w.data(), 29, 32, xq.data(), 40, 1, y.data(), 1, 0, 1}), Error);
}

}  // namespace
}  // namespace jisu::cpu
