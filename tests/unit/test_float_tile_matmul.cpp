// The split-bf16 tile matmul (float_tile_matmul.h): the scalar reference of the split against
// the float64 product of the weights and activations as given (bound: the split's 2^-17 per
// product), and every path with tiles (Avx512Amx) against the scalar reference (bound: float32
// accumulation) and the float64 product, for tile-shape remainders: tokens not a multiple of 16,
// rows not a multiple of 16 (or 32, one row tile), row ranges inside the matrix, row lengths not a
// multiple of 32.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/float_tile_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu {
namespace {

struct Shape {
  size_t rows, n, tokens, row_begin, row_end;
};
const Shape kShapes[] = {
    {16, 32, 16, 0, 16},    // one tile of each
    {48, 96, 32, 0, 48},    // a row pair and a single row tile, two token tiles
    {37, 70, 21, 0, 37},    // every remainder: rows, row length, tokens
    {80, 200, 35, 16, 71},  // a row range inside the matrix
    {64, 2048, 17, 0, 64},  // a model-sized row
};

struct Problem {
  DType type;
  Shape shape;
  std::vector<uint16_t> w;  // rows x n, f16 or bf16 bits
  std::vector<float> x;     // tokens x n
  size_t x_stride;
};

Problem make_problem(DType type, const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p{type, s, std::vector<uint16_t>(s.rows * s.n), {}, s.n + 3};
  for (auto& v : p.w) v = type == DType::F16 ? fp32_to_fp16(0.05f * normal(rng)) : fp32_to_bf16(0.05f * normal(rng));
  p.x.assign(s.tokens * p.x_stride, 1e30f);  // the padding between rows is never read
  for (size_t t = 0; t < s.tokens; ++t)
    for (size_t k = 0; k < s.n; ++k) p.x[t * p.x_stride + k] = normal(rng) * (t % 3 == 0 ? 100.0f : 1.0f);
  return p;
}

float weight(const Problem& p, size_t r, size_t k) {
  const uint16_t h = p.w[r * p.shape.n + k];
  return p.type == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

std::vector<uint16_t> split(SplitActivationsFn fn, const Problem& p) {
  const size_t tile = split_tile_elements(p.shape.n);
  std::vector<uint16_t> out(split_activation_elements(p.shape.tokens, p.shape.n), 0xffff);
  for (size_t t0 = 0; t0 < p.shape.tokens; t0 += kFloatTileTokens)
    fn(p.x.data() + t0 * p.x_stride, p.x_stride, std::min(kFloatTileTokens, p.shape.tokens - t0), p.shape.n,
       out.data() + t0 / kFloatTileTokens * tile);
  return out;
}

std::vector<float> run(SplitMatmulFn fn, const Problem& p, const std::vector<uint16_t>& split_x) {
  const Shape& s = p.shape;
  std::vector<float> y(s.tokens * s.rows, -1.0f);
  fn({p.type, p.w.data(), 2 * s.n, s.n, nullptr, 0, s.tokens, y.data(), s.rows, s.row_begin, s.row_end}, split_x.data());
  return y;
}

// |y - W x| <= bound * sum_k |W_rk x_tk| for the rows in range; y = -1 elsewhere.
void expect_close_to_product(const Problem& p, const std::vector<float>& y, double bound, const char* what) {
  const Shape& s = p.shape;
  for (size_t t = 0; t < s.tokens; ++t) {
    for (size_t r = 0; r < s.rows; ++r) {
      const float got = y[t * s.rows + r];
      if (r < s.row_begin || r >= s.row_end) {
        ASSERT_EQ(got, -1.0f) << what << ": wrote outside its rows, row " << r << " token " << t;
        continue;
      }
      double exact = 0, magnitude = 0;
      for (size_t k = 0; k < s.n; ++k) {
        const double term = double(weight(p, r, k)) * p.x[t * p.x_stride + k];
        exact += term;
        magnitude += std::fabs(term);
      }
      ASSERT_LE(std::fabs(got - exact), bound * magnitude)
          << what << ": row " << r << " token " << t << " n " << s.n << " got " << got << " exact " << exact;
    }
  }
}

// The split drops Wl xl (<= 2^-18 |W x|) and keeps x to 2^-18: 2^-16 leaves room for float32
// rounding of the sums.
constexpr double kSplitBound = 1.0 / 65536;
// Tiles against the float64 sum of the same split: float32 accumulation of up to 2048 terms.
constexpr double kAccumulationBound = 1e-6;

TEST(FloatTileMatmul, ScalarSplitIsCloseToTheExactProduct) {
  for (DType type : {DType::F16, DType::BF16}) {
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(type, s, 7);
      expect_close_to_product(p, run(matmul_rows_split_bf16_scalar, p, split(split_activations_bf16_scalar, p)),
                              kSplitBound, "scalar");
    }
  }
}

TEST(FloatTileMatmul, SplitDropsOnlyTheSmallTerms) {
  // bf16 alone (no split) is ~2^-9 per product: far outside the bound, so the bound tests something.
  const Problem p = make_problem(DType::F16, kShapes[2], 3);
  std::vector<float> y(p.shape.tokens * p.shape.rows, -1.0f);
  double worst = 0;
  for (size_t t = 0; t < p.shape.tokens; ++t)
    for (size_t r = 0; r < p.shape.rows; ++r) {
      double plain = 0, exact = 0, magnitude = 0;
      for (size_t k = 0; k < p.shape.n; ++k) {
        const float w = weight(p, r, k), x = p.x[t * p.x_stride + k];
        plain += double(bf16_to_fp32(fp32_to_bf16(w))) * bf16_to_fp32(fp32_to_bf16(x));
        exact += double(w) * x;
        magnitude += std::fabs(double(w) * x);
      }
      worst = std::max(worst, std::fabs(plain - exact) / magnitude);
    }
  EXPECT_GT(worst, 8 * kSplitBound);
}

TEST(FloatTileMatmul, TilesMatchTheScalarReference) {
  size_t paths = 0;
  for (Isa isa : supported_isas()) {
    const KernelTable& table = kernel_table(isa);
    if (table.matmul_rows_split_bf16 == nullptr) continue;
    ++paths;
    SCOPED_TRACE(isa_name(isa));
    for (DType type : {DType::F16, DType::BF16}) {
      for (const Shape& s : kShapes) {
        SCOPED_TRACE(testing::Message() << dtype_name(type) << " rows " << s.rows << " n " << s.n << " tokens " << s.tokens);
        const Problem p = make_problem(type, s, 11);
        const std::vector<uint16_t> split_x = split(table.split_activations_bf16, p);
        ASSERT_EQ(split_x, split(split_activations_bf16_scalar, p));
        const std::vector<float> y = run(table.matmul_rows_split_bf16, p, split_x);
        const std::vector<float> want = run(matmul_rows_split_bf16_scalar, p, split_x);
        for (size_t i = 0; i < y.size(); ++i) {
          double magnitude = 0;
          const size_t t = i / s.rows, r = i % s.rows;
          for (size_t k = 0; k < s.n; ++k) magnitude += std::fabs(double(weight(p, r, k)) * p.x[t * p.x_stride + k]);
          ASSERT_LE(std::fabs(double(y[i]) - want[i]), kAccumulationBound * magnitude) << "row " << r << " token " << t;
        }
        expect_close_to_product(p, y, kSplitBound, "tiles");
      }
    }
  }
  if (paths == 0) GTEST_SKIP() << "no path with AMX-BF16 tiles on this CPU";
}

TEST(FloatTileMatmul, OnlyTheTilePathTakesPrompts) {
  for (Isa isa : supported_isas()) {
    const KernelTable& table = kernel_table(isa);
    EXPECT_EQ(table.matmul_rows_split_bf16 != nullptr, isa == Isa::Avx512Amx) << isa_name(isa);
    EXPECT_EQ(table.split_activations_bf16 != nullptr, table.matmul_rows_split_bf16 != nullptr) << isa_name(isa);
  }
  const bool tiles = kernel_table(active_isa()).matmul_rows_split_bf16 != nullptr;
  EXPECT_EQ(takes_float_tiles(DType::F16, 16), tiles);
  EXPECT_EQ(takes_float_tiles(DType::BF16, 128), tiles);
  EXPECT_FALSE(takes_float_tiles(DType::F16, 15));  // decode and small batches keep matmul_rows
  EXPECT_FALSE(takes_float_tiles(DType::F32, 128));
  EXPECT_FALSE(takes_float_tiles(DType::Q8_0, 128));
}

}  // namespace
}  // namespace jisu::cpu
