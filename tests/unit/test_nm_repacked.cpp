// The 2:4 repacked copy (backends/cpu/nm_repacked.h): its scalar reference against the contract
// computed from the file rows, every SIMD kernel against the scalar reference (bit for bit), and
// the matrices it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/nm_repacked.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"
#include "core/error.h"
#include "unit/int8_test_data.h"
#include "unit/sparse_test_data.h"

namespace jisu::cpu {
namespace {

// The contract of nm_repacked.h, read from the file rows (masks, scales, biased values).
std::vector<float> contract_from_rows(const SparseMatrix& m, const std::vector<ActivationBlock>& xq, size_t tokens) {
  const size_t n = m.n, bytes = row_bytes(m.type, n);
  const SparseRowLayout layout = sparse_row_layout(n);
  std::vector<float> y(tokens * m.rows);
  for (size_t r = 0; r < m.rows; ++r) {
    const uint8_t* row = m.bytes.data() + r * bytes;
    for (size_t t = 0; t < tokens; ++t) {
      const ActivationBlock* x = xq.data() + t * n / 32;
      float acc = 0.0f;
      const uint8_t* values = row + layout.values_offset();
      for (size_t a = 0; a < n / 32; ++a) {
        const uint64_t mask = load_u64(row + 8 * (a / 2));
        const float d = fp16_to_fp32(load_u16(row + layout.scales_offset() + 2 * (a / 2)));
        int32_t isum = 0;
        for (size_t j = 0; j < 32; ++j)
          if ((mask >> (32 * (a % 2) + j)) & 1) isum += sparse_value(*values++) * x[a].qs[j];
        acc = std::fma(static_cast<float>(isum), d * x[a].d, acc);
      }
      y[t * m.rows + r] = acc;
    }
  }
  return y;
}

std::vector<float> run(const NmRepackedWeights& w, size_t rows, size_t n, const std::vector<ActivationBlock>& xq,
                       size_t tokens, size_t row_begin, size_t row_end, Isa isa) {
  std::vector<float> y(tokens * rows, -1.0f);
  const NmRepackedArgs args{kJisuNmQ8, w.data(), w.group_bytes(), n, xq.data(), n / 32 * sizeof(ActivationBlock), tokens,
                            y.data(), rows, row_begin, row_end};
  if (isa == Isa::Scalar)
    matmul_nm_repacked_scalar(args);
  else
    matmul_nm_repacked_on(isa, args);
  return y;
}

TEST(NmRepacked, TheScalarReferenceFollowsTheContractFromTheFileRows) {
  std::mt19937 rng(11);
  for (size_t n : {64, 320, 2048}) {
    const size_t rows = 16, tokens = 3;
    const SparseMatrix m = make_sparse(kJisuNmQ8, rows, n, rng);
    const auto repacked = NmRepackedWeights::from_rows(m.bytes.data(), row_bytes(m.type, n), rows, n);
    ASSERT_TRUE(repacked);
    const auto xq = quantize(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
    const std::vector<float> expected = contract_from_rows(m, xq, tokens);
    const std::vector<float> got = run(*repacked, rows, n, xq, tokens, 0, rows, Isa::Scalar);
    ASSERT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0) << "n=" << n;
  }
}

TEST(NmRepacked, EverySimdKernelMatchesTheScalarReferenceBitForBit) {
  std::mt19937 rng(12);
  size_t checked = 0;
  for (size_t n : {64, 320, 2048, 8256}) {  // 8256: past the decode kernel's 128 prepared blocks
    const size_t rows = 24, tokens = 7;
    const SparseMatrix m = make_sparse(kJisuNmQ8, rows, n, rng);
    const auto repacked = NmRepackedWeights::from_rows(m.bytes.data(), row_bytes(m.type, n), rows, n);
    ASSERT_TRUE(repacked);
    const auto xq = quantize(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
    const std::vector<float> expected = run(*repacked, rows, n, xq, tokens, 0, rows, Isa::Scalar);
    for (Isa isa : simd_isas()) {
      if (!nm_repacked_kernel_runs_on(isa)) continue;
      ++checked;
      for (size_t t = 1; t <= tokens; ++t) {  // every tile of tokens, decode included
        const std::vector<float> got = run(*repacked, rows, n, xq, t, 0, rows, isa);
        ASSERT_EQ(std::memcmp(got.data(), expected.data(), t * rows * sizeof(float)), 0)
            << isa_name(isa) << " n=" << n << " tokens=" << t;
      }
      // A slice of groups writes its rows only, with the same values.
      const std::vector<float> slice = run(*repacked, rows, n, xq, 1, 8, 16, isa);
      for (size_t r = 0; r < rows; ++r) ASSERT_EQ(slice[r], r >= 8 && r < 16 ? expected[r] : -1.0f) << isa_name(isa);
    }
  }
  if (checked == 0) GTEST_SKIP() << "no AVX-512 VBMI path on this CPU";
}

TEST(NmRepacked, OnlyWholeGroupsOfTwoOfFourAreRepacked) {
  std::mt19937 rng(13);
  const size_t n = 128;
  SparseMatrix m = make_sparse(kJisuNmQ8, 16, n, rng);
  const size_t bytes = row_bytes(m.type, n);
  EXPECT_TRUE(NmRepackedWeights::from_rows(m.bytes.data(), bytes, 16, n));
  EXPECT_FALSE(NmRepackedWeights::from_rows(m.bytes.data(), bytes, 12, n));  // not whole groups of 8
  // Row 5's second mask as 4:8 (positions 0-3 of each 8 kept): 32 of 64, but not 2 of every 4.
  uint64_t four_of_eight = 0;
  for (int j = 0; j < 64; ++j)
    if (j % 8 < 4) four_of_eight |= uint64_t{1} << j;
  std::memcpy(m.bytes.data() + 5 * bytes + 8, &four_of_eight, 8);
  EXPECT_FALSE(NmRepackedWeights::from_rows(m.bytes.data(), bytes, 16, n));
}

TEST(NmRepacked, TheDispatcherRefusesPartialGroups) {
  std::mt19937 rng(14);
  const size_t n = 64;
  const SparseMatrix m = make_sparse(kJisuNmQ8, 16, n, rng);
  const auto repacked = NmRepackedWeights::from_rows(m.bytes.data(), row_bytes(m.type, n), 16, n);
  ASSERT_TRUE(repacked);
  const auto xq = quantize(random_activations(n, rng), n, 1, Isa::Scalar);
  std::vector<float> y(16);
  for (Isa isa : simd_isas()) {
    if (!nm_repacked_kernel_runs_on(isa)) continue;
    EXPECT_THROW(matmul_nm_repacked_on(isa, {kJisuNmQ8, repacked->data(), repacked->group_bytes(), n, xq.data(), 80, 1, y.data(), 16, 4, 16}), Error);
    EXPECT_THROW(matmul_nm_repacked_on(isa, {kJisuNmQ8, repacked->data(), repacked->group_bytes() / 2, n, xq.data(), 80, 1, y.data(), 16, 0, 16}), Error);
  }
  EXPECT_THROW(matmul_nm_repacked_on(Isa::Avx2, {kJisuNmQ8, repacked->data(), repacked->group_bytes(), n, xq.data(), 80, 1, y.data(), 16, 0, 16}), Error);
}

}  // namespace
}  // namespace jisu::cpu
