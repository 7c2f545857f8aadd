// Weight-type kernels: SIMD paths against the scalar reference, the determinism invariant of
// matmul_rows, and dequantization against values produced by the `gguf` Python package
// (tests/tools/make_dequant_reference.py wrote tests/data/dequant/*.bin).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "test_support.h"

namespace jisu::cpu {
namespace {

const DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                           DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                           DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

using DequantFn = void (*)(DType, const void*, float*, size_t);
using MatmulFn = void (*)(const MatmulArgs&);

// Every path this CPU can run (each compiled instantiation of quant_kernels_isa.cpp is reached
// through at least one of them).
std::vector<Isa> available_isas() { return supported_isas(); }

std::vector<Isa> simd_isas() {
  std::vector<Isa> isas = available_isas();
  isas.erase(isas.begin());
  return isas;
}

DequantFn dequant_fn(Isa isa) { return kernel_table(isa).dequantize_row; }
MatmulFn matmul_fn(Isa isa) { return kernel_table(isa).matmul_rows; }

// Puts the active ISA back to what it was (the detected one unless JISU_ISA says otherwise).
class IsaRestorer {
 public:
  IsaRestorer() : saved_(active_isa()) {}
  ~IsaRestorer() { set_active_isa(saved_); }

 private:
  Isa saved_;
};

std::string label(DType type, Isa isa) {
  return std::string(dtype_name(type)) + "/" + std::string(isa_name(isa));
}

// ---------------------------------------------------------------------------------------------
// Random valid weights: random bytes everywhere, then every fp16 scale / min field overwritten
// with a finite half (including subnormal halves and zero now and then).

void put_half(uint8_t* p, uint16_t h) { std::memcpy(p, &h, sizeof h); }

uint16_t random_scale(std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-16, 0);
  std::uniform_int_distribution<int> pick(0, 63);
  if (pick(rng) == 0) return 0;
  return fp32_to_fp16(std::ldexp(unit(rng), exponent(rng)));
}

// Offsets of the fp16 fields (scale first) inside one block.
std::vector<size_t> half_fields(DType type) {
  switch (type) {
    case DType::Q4_0: return {offsetof(BlockQ4_0, d)};
    case DType::Q4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case DType::Q5_0: return {offsetof(BlockQ5_0, d)};
    case DType::Q5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case DType::Q8_0: return {offsetof(BlockQ8_0, d)};
    case DType::Q2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case DType::Q3_K: return {offsetof(BlockQ3_K, d)};
    case DType::Q4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case DType::Q5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case DType::Q6_K: return {offsetof(BlockQ6_K, d)};
    case DType::IQ4_NL: return {offsetof(BlockIQ4_NL, d)};
    case DType::IQ4_XS: return {offsetof(BlockIQ4_XS, d)};
    default: return {};
  }
}

std::vector<uint8_t> random_rows(DType type, size_t rows, size_t n, std::mt19937& rng) {
  const DTypeTraits& t = traits(type);
  const size_t bytes = rows * row_bytes(type, n);
  std::vector<uint8_t> data(bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  switch (type) {
    case DType::F32:
      for (size_t i = 0; i < bytes / 4; ++i) {
        const float f = value(rng);
        std::memcpy(data.data() + 4 * i, &f, 4);
      }
      break;
    case DType::F16:
      for (size_t i = 0; i < bytes / 2; ++i) put_half(data.data() + 2 * i, fp32_to_fp16(value(rng)));
      break;
    case DType::BF16:
      for (size_t i = 0; i < bytes / 2; ++i) put_half(data.data() + 2 * i, fp32_to_bf16(value(rng)));
      break;
    default:
      for (size_t b = 0; b < bytes / t.block_bytes; ++b)
        for (size_t offset : half_fields(type)) put_half(data.data() + b * t.block_bytes + offset, random_scale(rng));
      break;
  }
  return data;
}

std::vector<float> random_floats(size_t count, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& f : v) f = normal(rng);
  return v;
}

// Row lengths used for each type: several blocks; plain types also get lengths that end in a
// partial 32-element group.
std::vector<size_t> row_lengths(DType type) {
  const DTypeTraits& t = traits(type);
  if (!t.is_quantized) return {1, 31, 77, 160};
  if (t.block_elements == kQK_K) return {256, 768};
  return {32, 160};
}

// ---------------------------------------------------------------------------------------------

TEST(QuantKernels, SupportedTypes) {
  for (DType type : kAllTypes) EXPECT_TRUE(weight_type_supported(type)) << dtype_name(type);
  for (DType type : {DType::Q8_1, DType::Q8_K, DType::I8, DType::I32, DType::F64})
    EXPECT_FALSE(weight_type_supported(type)) << dtype_name(type);
}

TEST(QuantKernels, DispatcherRejectsUnsupportedTypesAndPartialBlocks) {
  std::vector<uint8_t> w(1024);
  std::vector<float> out(256), x(256), y(4);
  EXPECT_THROW(dequantize_row(DType::Q8_K, w.data(), out.data(), 256), Error);
  EXPECT_THROW(dequantize_row(DType::I32, w.data(), out.data(), 4), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_0, w.data(), out.data(), 48), Error);
  MatmulArgs args{DType::Q8_1, w.data(), 36, 32, x.data(), 32, 1, y.data(), 1, 0, 1};
  EXPECT_THROW(matmul_rows(args), Error);
  args.type = DType::Q4_K;
  args.n = 128;  // not a whole super-block
  EXPECT_THROW(matmul_rows(args), Error);
  args.n = 256;
  args.w_row_bytes = 100;  // shorter than one Q4_K block
  EXPECT_THROW(matmul_rows(args), Error);
}

TEST(QuantKernels, HalfAndBfloatConversions) {
  // Every finite half survives half -> float -> half; NaNs stay NaN.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(f), h) << h;
  }
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);                       // ties to even: rounds up to inf
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);   // tie -> even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);          // tie -> even (zero)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-std::ldexp(1.0f, -14)), 0x8400);
  EXPECT_EQ(fp32_to_fp16(INFINITY), 0x7c00);

  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), h) << h;
  }
  EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie -> even
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(QuantKernels, SimdDequantizeMatchesScalar) {
  std::mt19937 rng(1234);
  for (DType type : kAllTypes) {
    const DTypeTraits& t = traits(type);
    for (size_t n : row_lengths(type)) {
      const std::vector<uint8_t> w = random_rows(type, 1, n, rng);
      std::vector<float> want(n);
      dequantize_row_scalar(type, w.data(), want.data(), n);
      for (Isa isa : simd_isas()) {
        std::vector<float> got(n + 8, -12345.0f);
        dequant_fn(isa)(type, w.data(), got.data(), n);
        for (size_t i = n; i < got.size(); ++i) ASSERT_EQ(got[i], -12345.0f) << label(type, isa) << " wrote past n";
        if (!t.is_quantized) {
          EXPECT_EQ(std::memcmp(got.data(), want.data(), n * sizeof(float)), 0) << label(type, isa) << " n=" << n;
          continue;
        }
        // Relative to the block's largest magnitude: a fused multiply-add may round d*q - m
        // once where the reference rounds twice.
        for (size_t b = 0; b < n / t.block_elements; ++b) {
          float block_max = 0;
          for (size_t i = 0; i < t.block_elements; ++i)
            block_max = std::max(block_max, std::fabs(want[b * t.block_elements + i]));
          for (size_t i = b * t.block_elements; i < (b + 1) * t.block_elements; ++i)
            ASSERT_LE(std::fabs(got[i] - want[i]), 1e-6f * block_max)
                << label(type, isa) << " element " << i << " got " << got[i] << " want " << want[i];
        }
      }
    }
  }
}

struct MatmulCase {
  size_t rows, n, n_tokens, x_stride, y_stride;
  std::vector<uint8_t> w;
  std::vector<float> x;

  MatmulArgs args(DType type, float* y, size_t row_begin, size_t row_end) const {
    return MatmulArgs{type, w.data(), row_bytes(type, n), n,       x.data(), x_stride,
                      n_tokens, y,    y_stride,          row_begin, row_end};
  }
};

MatmulCase make_case(DType type, size_t rows, size_t n, size_t n_tokens, std::mt19937& rng) {
  MatmulCase c;
  c.rows = rows;
  c.n = n;
  c.n_tokens = n_tokens;
  c.x_stride = n + 3;
  c.y_stride = rows + 2;
  c.w = random_rows(type, rows, n, rng);
  // Exactly as long as the last token needs, so reading past it would be out of bounds.
  c.x = random_floats((n_tokens - 1) * c.x_stride + n, rng);
  return c;
}

TEST(QuantKernels, SimdMatmulMatchesScalar) {
  std::mt19937 rng(99);
  constexpr float kSentinel = -777.0f;
  for (DType type : kAllTypes) {
    for (size_t n : row_lengths(type)) {
      // Token counts around the 4-token tiles, and row slices that leave partial row tiles
      // (3 x 4, 3 x 8 on AVX-512, and 4 x 1 for the plain types; the tiles of the remaining 2..7).
      for (size_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {
        const size_t rows = 9;
        const MatmulCase c = make_case(type, rows, n, n_tokens, rng);
        // Dequantized weights for the error scale sum_k |w_k x_k|.
        std::vector<float> wf(rows * n);
        for (size_t r = 0; r < rows; ++r)
          dequantize_row_scalar(type, c.w.data() + r * row_bytes(type, n), wf.data() + r * n, n);
        for (auto [begin, end] : {std::pair<size_t, size_t>{0, rows}, {1, 6}, {3, 8}, {5, 6}}) {
          std::vector<float> want(n_tokens * c.y_stride, kSentinel);
          matmul_rows_scalar(c.args(type, want.data(), begin, end));
          for (Isa isa : simd_isas()) {
            std::vector<float> got(n_tokens * c.y_stride, kSentinel);
            matmul_fn(isa)(c.args(type, got.data(), begin, end));
            for (size_t t = 0; t < n_tokens; ++t) {
              for (size_t r = 0; r < c.y_stride; ++r) {
                const float g = got[t * c.y_stride + r], e = want[t * c.y_stride + r];
                if (r < begin || r >= end) {
                  ASSERT_EQ(g, kSentinel) << label(type, isa) << " wrote outside its rows";
                  continue;
                }
                double magnitude = 0;
                for (size_t k = 0; k < n; ++k)
                  magnitude += std::fabs(double(wf[r * n + k]) * c.x[t * c.x_stride + k]);
                // 1e-5 relative; for results that cancel to near zero the scale is the size of
                // the terms (float accumulation cannot do better than ~1e-7 of sum |w x|).
                const double tol = 1e-5 * std::max<double>(std::fabs(e), 1e-2 * magnitude);
                ASSERT_LE(std::fabs(double(g) - e), tol)
                    << label(type, isa) << " n=" << n << " tokens=" << n_tokens << " row " << r
                    << " token " << t << " got " << g << " want " << e;
              }
            }
          }
        }
      }
    }
  }
}

// Bit-exact determinism: a token's result is the same alone, in any tile position of a larger
// batch, and for any row slice.
TEST(QuantKernels, MatmulIsBatchAndSliceInvariant) {
  std::mt19937 rng(7);
  for (DType type : kAllTypes) {
    const size_t n = row_lengths(type).back();
    const size_t rows = 11, n_tokens = 17;
    const MatmulCase c = make_case(type, rows, n, n_tokens, rng);
    for (Isa isa : available_isas()) {
      const MatmulFn matmul = matmul_fn(isa);
      std::vector<float> full(n_tokens * c.y_stride, 0.0f);
      matmul(c.args(type, full.data(), 0, rows));

      // One token at a time.
      for (size_t t = 0; t < n_tokens; ++t) {
        std::vector<float> single(rows, 0.0f);
        MatmulArgs args = c.args(type, single.data(), 0, rows);
        args.x = c.x.data() + t * c.x_stride;
        args.n_tokens = 1;
        matmul(args);
        ASSERT_EQ(std::memcmp(single.data(), full.data() + t * c.y_stride, rows * sizeof(float)), 0)
            << label(type, isa) << " token " << t;
      }
      // Shifted batches put every token in another tile position.
      for (size_t first : {1, 3, 6}) {
        const size_t count = n_tokens - first;
        std::vector<float> part(count * c.y_stride, 0.0f);
        MatmulArgs args = c.args(type, part.data(), 0, rows);
        args.x = c.x.data() + first * c.x_stride;
        args.n_tokens = count;
        matmul(args);
        for (size_t t = 0; t < count; ++t)
          ASSERT_EQ(std::memcmp(part.data() + t * c.y_stride, full.data() + (first + t) * c.y_stride,
                                rows * sizeof(float)),
                    0)
              << label(type, isa) << " batch from " << first << " token " << t;
      }
      // Row slices [0, k) + [k, rows).
      for (size_t k : {1, 4, 7, 10}) {
        std::vector<float> split(n_tokens * c.y_stride, 0.0f);
        matmul(c.args(type, split.data(), 0, k));
        matmul(c.args(type, split.data(), k, rows));
        for (size_t t = 0; t < n_tokens; ++t)
          ASSERT_EQ(std::memcmp(split.data() + t * c.y_stride, full.data() + t * c.y_stride, rows * sizeof(float)), 0)
              << label(type, isa) << " split at " << k << " token " << t;
      }
    }
  }
}

// The dispatching entry points use the active path.
TEST(QuantKernels, DispatcherFollowsActiveIsa) {
  IsaRestorer restore;
  std::mt19937 rng(5);
  for (DType type : {DType::Q4_0, DType::Q6_K, DType::F16}) {
    const size_t n = row_lengths(type).back();
    const MatmulCase c = make_case(type, 5, n, 6, rng);
    for (Isa isa : available_isas()) {
      set_active_isa(isa);
      std::vector<float> direct(6 * c.y_stride, 0.0f), dispatched(6 * c.y_stride, 0.0f);
      matmul_fn(isa)(c.args(type, direct.data(), 0, 5));
      matmul_rows(c.args(type, dispatched.data(), 0, 5));
      EXPECT_EQ(std::memcmp(direct.data(), dispatched.data(), direct.size() * sizeof(float)), 0) << label(type, isa);
      std::vector<float> d1(n), d2(n);
      dequant_fn(isa)(type, c.w.data(), d1.data(), n);
      dequantize_row(type, c.w.data(), d2.data(), n);
      EXPECT_EQ(std::memcmp(d1.data(), d2.data(), n * sizeof(float)), 0) << label(type, isa);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Against the gguf package: tests/data/dequant/<type>.bin = header, raw blocks, float32 values.

struct Reference {
  uint32_t type_id = 0;
  std::vector<uint8_t> raw;
  std::vector<float> expected;
};

bool load_reference(const std::string& path, Reference& ref) {
  const std::vector<char> bytes = jisu::test::read_bytes(path);
  if (bytes.size() < 20 || std::memcmp(bytes.data(), "JQDQ", 4) != 0) return false;
  uint32_t header[4];
  std::memcpy(header, bytes.data() + 4, sizeof header);
  const uint32_t version = header[0], n_elements = header[2], n_bytes = header[3];
  if (version != 1 || bytes.size() != 20 + size_t(n_bytes) + size_t(n_elements) * 4) return false;
  ref.type_id = header[1];
  ref.raw.assign(bytes.begin() + 20, bytes.begin() + 20 + n_bytes);
  ref.expected.resize(n_elements);
  std::memcpy(ref.expected.data(), bytes.data() + 20 + n_bytes, size_t(n_elements) * 4);
  return true;
}

TEST(QuantKernels, DequantizeMatchesGgufReference) {
  IsaRestorer restore;
  for (DType type : kAllTypes) {
    std::string name(dtype_name(type));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    const std::string path = std::string(JISU_SOURCE_DIR) + "/tests/data/dequant/" + name + ".bin";
    Reference ref;
    ASSERT_TRUE(load_reference(path, ref)) << "bad or missing " << path;
    ASSERT_EQ(ref.type_id, static_cast<uint32_t>(type)) << path;
    const size_t n = ref.expected.size();
    ASSERT_GT(n, 0u);
    ASSERT_EQ(ref.raw.size(), row_bytes(type, n)) << path;
    for (Isa isa : available_isas()) {
      set_active_isa(isa);
      std::vector<float> got(n);
      dequantize_row(type, ref.raw.data(), got.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const float e = ref.expected[i];
        ASSERT_LE(std::fabs(got[i] - e), 1e-6f * std::max(1.0f, std::fabs(e)))
            << label(type, isa) << " element " << i << " got " << got[i] << " want " << e;
      }
      if (type == DType::F32) {
        EXPECT_EQ(std::memcmp(got.data(), ref.raw.data(), n * 4), 0);
      }
    }
  }
}

}  // namespace
}  // namespace jisu::cpu
