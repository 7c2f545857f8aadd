// The jisu-only dense weight types (core/sparse_dtype.h): i8_row (one float scale per row, int8
// values) and cb4 (a learned 16-level codebook per tensor, IQ4_NL's block layout).
//  - quantize -> dequantize error bounds, with the dequantization written out here from the
//    documented layout (independent of quant_scalar.cpp);
//  - the codebook learner: a valid codebook, never worse than IQ4_NL's fixed levels on the data
//    it learned from, and much better on data IQ4_NL's levels do not suit;
//  - every SIMD integer kernel equals the scalar reference bit for bit, and the reference
//    equals float math on the dequantized values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/companion_rows.h"
#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "compress/codebook_learning.h"
#include "compress/quantize_row.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "core/thread_pool.h"
#include "unit/int8_test_data.h"

namespace jisu {
namespace {

std::vector<float> normal_values(size_t count, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(count);
  for (auto& f : v) f = normal(rng);
  return v;
}

// The layouts, read byte by byte as docs/quantization.md describes them.
std::vector<float> decode_i8_row(const uint8_t* row, float scale, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = scale * static_cast<float>(static_cast<int8_t>(row[i]));
  return out;
}
std::vector<float> decode_cb4(const uint8_t* row, const int8_t* levels, size_t n) {
  std::vector<float> out(n);
  for (size_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + 18 * b;
    const float d = cpu::fp16_to_fp32(static_cast<uint16_t>(block[0] | (block[1] << 8)));
    for (size_t j = 0; j < 16; ++j) {
      out[32 * b + j] = d * static_cast<float>(levels[block[2 + j] & 15]);
      out[32 * b + j + 16] = d * static_cast<float>(levels[block[2 + j] >> 4]);
    }
  }
  return out;
}

double relative_rms(const std::vector<float>& a, const std::vector<float>& b) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) error += (a[i] - double(b[i])) * (a[i] - double(b[i])), norm += double(b[i]) * b[i];
  return std::sqrt(error / norm);
}

TEST(JisuQuantTypes, LayoutsAndNames) {
  EXPECT_EQ(row_bytes(kJisuI8Row, 256), 256u);  // the row scales are a companion tensor
  EXPECT_EQ(row_bytes(kJisuCb4, 256), 8u * 18u);  // 4.5 bits per weight, as IQ4_NL
  EXPECT_EQ(dtype_from_name("I8_ROW"), kJisuI8Row);
  EXPECT_EQ(dtype_from_name("cb4"), kJisuCb4);
  EXPECT_TRUE(is_jisu_only(kJisuI8Row));
  EXPECT_TRUE(is_jisu_only(kJisuCb4));
  EXPECT_TRUE(cpu::takes_int8_activations(kJisuI8Row));
  EXPECT_TRUE(cpu::takes_int8_activations(kJisuCb4));
}

TEST(JisuQuantTypes, I8RowRoundTripWithinHalfAStep) {
  std::mt19937 rng(1);
  const size_t n = 768;
  std::vector<float> x = normal_values(n, rng);
  x[5] = 4.5f;  // an outlier sets the row's range
  std::vector<uint8_t> packed(row_bytes(kJisuI8Row, n));
  float scale = -1;
  compress::quantize_row(kJisuI8Row, x.data(), packed.data(), n, nullptr, nullptr, &scale);
  const std::vector<float> restored = decode_i8_row(packed.data(), scale, n);
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  // The searched scale stays near max|x| / 127 and every value within half a step (the largest
  // may clip by at most the search's range of +-10 % of a level).
  EXPECT_GT(scale, amax / 128.5f);
  EXPECT_LT(scale, amax / 125.5f);
  // The search maps max|x| to at most 128 levels, so the outlier clips by at most max|x| / 128.
  for (size_t i = 0; i < n; ++i) EXPECT_LE(std::fabs(restored[i] - x[i]), (i == 5 ? 1.01f : 0.5001f) * scale) << i;
  std::vector<float> reference(n);
  cpu::dequantize_i8_row(packed.data(), scale, reference.data(), n);
  EXPECT_EQ(reference, restored);
  // Without its scale the row cannot be decoded or written.
  EXPECT_THROW(cpu::dequantize_row(kJisuI8Row, packed.data(), reference.data(), n), Error);
  EXPECT_THROW(compress::quantize_row(kJisuI8Row, x.data(), packed.data(), n), Error);
  // An all-zero row: scale 0, values 0.
  std::vector<float> zeros(n, 0.0f);
  compress::quantize_row(kJisuI8Row, zeros.data(), packed.data(), n, nullptr, nullptr, &scale);
  EXPECT_EQ(decode_i8_row(packed.data(), scale, n), zeros);
}

TEST(JisuQuantTypes, LearnedCodebookIsValidAndNeverWorseThanIq4Nl) {
  ThreadPool pool(2);
  std::mt19937 rng(2);
  const size_t cols = 256, rows = 64;
  // Gaussian weights (IQ4_NL's levels were made for these) and uniform ones (which they do not suit).
  std::vector<float> gaussian = normal_values(rows * cols, rng, 0.02f), uniform(rows * cols);
  std::uniform_real_distribution<float> flat(-0.05f, 0.05f);
  for (auto& v : uniform) v = flat(rng);
  compress::Codebook iq4_nl{};
  std::copy(cpu::kValuesIq4nl, cpu::kValuesIq4nl + 16, iq4_nl.begin());
  for (const auto* values : {&gaussian, &uniform}) {
    const compress::Codebook learned = compress::learn_codebook(*values, cols, nullptr, pool);
    for (size_t k = 0; k < 16; ++k) {
      EXPECT_GE(learned[k], -127);
      if (k) {
        EXPECT_LT(learned[k - 1], learned[k]) << "levels must ascend and differ";
      }
    }
    EXPECT_EQ(std::max(-learned.front(), int(learned.back())), 127);
    const double learned_error = compress::codebook_error(*values, cols, nullptr, learned, pool);
    const double fixed_error = compress::codebook_error(*values, cols, nullptr, iq4_nl, pool);
    EXPECT_LE(learned_error, fixed_error);
    if (values == &uniform) {
      EXPECT_LT(learned_error, 0.85 * fixed_error) << "uniform data wants evenly spaced levels";  // measured 0.815
    }
  }
}

// Learning keeps the best codebook of every Lloyd iteration, so more iterations never give a
// higher weighted error (whether that lowers KL divergence is measured in docs/quantization.md).
TEST(JisuQuantTypes, MoreLloydIterationsNeverIncreaseTheError) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  const size_t cols = 256, rows = 32;
  std::vector<float> values = normal_values(rows * cols, rng, 0.02f);
  std::uniform_real_distribution<float> flat(-0.05f, 0.05f);
  for (size_t i = 0; i < values.size(); i += 3) values[i] = flat(rng);  // a mixture, far from both starts
  double previous = INFINITY;
  for (const int iterations : {0, 4, 16, 64}) {
    const compress::Codebook levels = compress::learn_codebook(values, cols, nullptr, pool, iterations);
    const double error = compress::codebook_error(values, cols, nullptr, levels, pool);
    EXPECT_LE(error, previous) << iterations << " iterations";
    previous = error;
  }
}

TEST(JisuQuantTypes, Cb4RoundTripAndImportanceWeighting) {
  ThreadPool pool(2);
  std::mt19937 rng(3);
  const size_t cols = 256, rows = 32;
  const std::vector<float> x = normal_values(rows * cols, rng, 0.02f);
  const compress::Codebook levels = compress::learn_codebook(x, cols, nullptr, pool);
  std::vector<float> restored_all;
  for (size_t r = 0; r < rows; ++r) {
    std::vector<uint8_t> packed(row_bytes(kJisuCb4, cols));
    compress::quantize_row(kJisuCb4, x.data() + r * cols, packed.data(), cols, nullptr, levels.data());
    const std::vector<float> restored = decode_cb4(packed.data(), levels.data(), cols);
    std::vector<float> reference(cols);
    cpu::dequantize_cb4_row(packed.data(), levels.data(), reference.data(), cols);
    EXPECT_EQ(reference, restored);
    restored_all.insert(restored_all.end(), restored.begin(), restored.end());
  }
  // 4 bits on Gaussian weights: IQ4_NL's bound in test_quantize_row.cpp.
  EXPECT_LT(relative_rms(restored_all, x), 0.15);
  // Importance: columns weighted 100x come back more exactly than the same values unweighted.
  std::vector<float> importance(cols, 1.0f);
  for (size_t c = 0; c < cols; c += 2) importance[c] = 100.0f;
  double heavy_weighted = 0, heavy_plain = 0;
  for (size_t r = 0; r < rows; ++r) {
    std::vector<uint8_t> weighted(row_bytes(kJisuCb4, cols)), plain(row_bytes(kJisuCb4, cols));
    compress::quantize_row(kJisuCb4, x.data() + r * cols, weighted.data(), cols, importance.data(), levels.data());
    compress::quantize_row(kJisuCb4, x.data() + r * cols, plain.data(), cols, nullptr, levels.data());
    const auto a = decode_cb4(weighted.data(), levels.data(), cols), b = decode_cb4(plain.data(), levels.data(), cols);
    for (size_t c = 0; c < cols; c += 2) {
      const double xa = x[r * cols + c];
      heavy_weighted += (a[c] - xa) * (a[c] - xa), heavy_plain += (b[c] - xa) * (b[c] - xa);
    }
  }
  EXPECT_LT(heavy_weighted, heavy_plain);
  // cb4 needs its codebook; a plain dequantize says so.
  std::vector<uint8_t> packed(row_bytes(kJisuCb4, cols));
  std::vector<float> out(cols);
  EXPECT_THROW(compress::quantize_row(kJisuCb4, x.data(), packed.data(), cols), Error);
  EXPECT_THROW(cpu::dequantize_row(kJisuCb4, packed.data(), out.data(), cols), Error);
}

// Random rows of each type: i8_row values in [-127, 127]; cb4 blocks with finite fp16 scales
// and random nibbles (into a random ascending codebook, random_codebook).
std::vector<uint8_t> random_rows(DType type, size_t rows, size_t n, std::mt19937& rng) {
  if (type == kJisuCb4) return cpu::random_weights(type, rows, n, rng);
  std::vector<uint8_t> data(rows * row_bytes(type, n));
  std::uniform_int_distribution<int> value(-127, 127);
  for (auto& b : data) b = static_cast<uint8_t>(static_cast<int8_t>(value(rng)));
  return data;
}

// Finite row scales, one of them 0.
std::vector<float> random_row_scales(size_t rows, std::mt19937& rng) {
  std::uniform_real_distribution<float> scale(-0.1f, 0.1f);
  std::vector<float> scales(rows);
  for (auto& s : scales) s = scale(rng);
  scales[rows > 2 ? 2 : 0] = 0.0f;
  return scales;
}

compress::Codebook random_codebook(std::mt19937& rng) {
  std::uniform_int_distribution<int> level(-127, 127);
  compress::Codebook c{};
  do {
    for (auto& l : c) l = static_cast<int8_t>(level(rng));
    std::sort(c.begin(), c.end());
  } while (std::adjacent_find(c.begin(), c.end()) != c.end());
  return c;
}

std::vector<float> run_int8(void (*fn)(const cpu::Int8MatmulArgs&), DType type, const std::vector<uint8_t>& w,
                            const int8_t* codebook, const float* row_scales, size_t rows, size_t n, const std::vector<cpu::ActivationBlock>& xq,
                            size_t tokens, size_t row_begin, size_t row_end) {
  std::vector<float> y(tokens * rows, -1.0f);
  cpu::Int8MatmulArgs args{type, w.data(), row_bytes(type, n), n, xq.data(), cpu::int8_activation_row_bytes(n),
                           tokens, y.data(), rows, row_begin, row_end, codebook, row_scales};
  fn(args);
  return y;
}

TEST(JisuQuantTypes, SimdKernelsMatchScalarBitForBit) {
  std::mt19937 rng(4);
  for (Isa isa : cpu::simd_isas())
    for (DType type : {kJisuI8Row, kJisuCb4})
      for (size_t n : {32, 256, 768}) {
        const size_t rows = 11;
        const auto w = random_rows(type, rows, n, rng);
        const compress::Codebook codebook = random_codebook(rng);
        const std::vector<float> scales = random_row_scales(rows, rng);
        for (size_t tokens : {1, 2, 3, 5, 9}) {
          const auto xq = cpu::quantize(cpu::random_activations(tokens * n, rng), n, tokens, isa);
          SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
          cpu::expect_simd_equals_reference(
              [&](Isa path, size_t begin, size_t end) {
                return run_int8(cpu::kernel_table(path).matmul_rows_int8, type, w, codebook.data(), scales.data(), rows,
                                n, xq, tokens, begin, end);
              },
              isa, tokens, rows, 3, 8);
          if (HasFailure()) return;
        }
      }
}

// The reference's integer sums, block scales and row scale mean what the dequantized values do.
TEST(JisuQuantTypes, ScalarKernelAgreesWithFloatMath) {
  std::mt19937 rng(5);
  const size_t n = 512, rows = 6;
  for (DType type : {kJisuI8Row, kJisuCb4}) {
    const auto w = random_rows(type, rows, n, rng);
    const compress::Codebook codebook = random_codebook(rng);
    const std::vector<float> scales = random_row_scales(rows, rng);
    const std::vector<float> x = cpu::random_activations(n, rng);
    const auto xq = cpu::quantize(x, n, 1, Isa::Scalar);
    const auto y =
        run_int8(cpu::matmul_rows_int8_scalar, type, w, codebook.data(), scales.data(), rows, n, xq, 1, 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t* row = w.data() + r * row_bytes(type, n);
      const std::vector<float> values =
          type == kJisuCb4 ? decode_cb4(row, codebook.data(), n) : decode_i8_row(row, scales[r], n);
      double exact = 0, magnitude = 0;
      for (size_t k = 0; k < n; ++k) {
        const double product = double(values[k]) * xq[k / 32].d * xq[k / 32].qs[k % 32];
        exact += product, magnitude += std::fabs(product);
      }
      EXPECT_NEAR(y[r], exact, 1e-5 * magnitude + 1e-30) << dtype_name(type) << " row " << r;
    }
  }
  // The dispatcher refuses a cb4 product without its codebook, an i8_row one without its scales.
  const auto xq = cpu::quantize(cpu::random_activations(32, rng), 32, 1, Isa::Scalar);
  const float scale = 1.0f;
  const int8_t levels[16] = {};
  EXPECT_THROW(run_int8(cpu::matmul_rows_int8, kJisuCb4, random_rows(kJisuCb4, 1, 32, rng), nullptr, &scale, 1, 32, xq,
                        1, 0, 1),
               Error);
  EXPECT_THROW(run_int8(cpu::matmul_rows_int8, kJisuI8Row, random_rows(kJisuI8Row, 1, 32, rng), levels, nullptr, 1, 32,
                        xq, 1, 0, 1),
               Error);
}

}  // namespace
}  // namespace jisu
