// The quantizer's candidate-scale sums (backends/cpu/scale_candidates.h): every ISA path against
// the scalar reference, bit for bit, and the reference's rounding against std::lround. Then whole
// rows quantized under each path, byte for byte against the scalar path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/scale_candidates.h"
#include "compress/quantize_row.h"
#include "core/cpu_features.h"
#include "core/dtype.h"

namespace jisu::cpu {
namespace {

uint64_t bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

struct Case {
  std::vector<float> x, w, inverses;
  float offset;
  int low, high;
};

// The sums of `c` by `isa`'s kernel (sl, sll, slx; sl not asked for when !with_sl).
std::vector<double> sums(Isa isa, const Case& c, bool with_sl) {
  const size_t count = c.inverses.size();
  std::vector<double> out(3 * count, -1.0);
  kernel_table(isa).scale_candidate_sums({c.x.data(), c.w.data(), c.x.size(), c.offset, c.low, c.high,
                                          c.inverses.data(), count, with_sl ? out.data() : nullptr,
                                          out.data() + count, out.data() + 2 * count});
  return out;
}

void expect_every_isa_matches_scalar(const Case& c, const std::string& what) {
  for (const bool with_sl : {true, false}) {
    const std::vector<double> reference = sums(Isa::Scalar, c, with_sl);
    for (Isa isa : supported_isas()) {
      const std::vector<double> got = sums(isa, c, with_sl);
      for (size_t k = 0; k < got.size(); ++k)
        ASSERT_EQ(bits(got[k]), bits(reference[k])) << what << " isa " << isa_name(isa) << " value " << k;
    }
  }
}

TEST(ScaleCandidates, EveryIsaGivesTheReferenceSumsBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const size_t lengths[] = {1, 7, 16, 32, 256, 301};
  const size_t counts[] = {1, 5, 8, 16, 17, 21, 33, 42, 84};
  const std::pair<int, int> ranges[] = {{-63, 63}, {-32, 31}, {-8, 7}, {0, 15}, {0, 3}, {-128, 127}};
  for (const size_t n : lengths)
    for (const size_t count : counts)
      for (const auto& [low, high] : ranges) {
        Case c;
        c.x.resize(n), c.w.resize(n);
        for (auto& v : c.x) v = normal(rng) * 0.02f;
        // Importance-like weights over decades (their products with x are not exact in float,
        // so a fused multiply-add would show), some zero.
        for (auto& v : c.w) v = uniform(rng) < 0.1f ? 0.0f : std::exp(4.0f * normal(rng));
        float lowest = 0, highest = 0, amax = 0;
        for (const float v : c.x) lowest = std::min(lowest, v), highest = std::max(highest, v), amax = std::max(amax, std::fabs(v));
        const bool affine = low == 0;
        c.offset = affine ? lowest : 0.0f;
        c.low = low, c.high = high;
        const float span = affine ? highest - lowest : amax;
        for (size_t k = 0; k < count; ++k) {
          const float inverse = (static_cast<float>(high) + 0.1f * static_cast<float>(static_cast<int>(k % 21) - 10)) / span;
          c.inverses.push_back(affine || k % 2 == 0 ? inverse : -inverse);
        }
        expect_every_isa_matches_scalar(c, "n " + std::to_string(n) + " count " + std::to_string(count) + " range " +
                                               std::to_string(low) + ".." + std::to_string(high));
      }
}

TEST(ScaleCandidates, ValuesOutsideTheFastRangeGiveTheReferenceSums) {
  Case c{{0.5f, -1.0f, 0.0f, 2.0f, 1e-30f}, {1, 2, 3, 4, 5}, {1.0f, 3e30f, -7.0f}, 0.0f, -8, 7};
  expect_every_isa_matches_scalar(c, "huge inverse");
  c.inverses = {1.0f, std::numeric_limits<float>::infinity(), 2.0f};
  expect_every_isa_matches_scalar(c, "infinite inverse");
  c.inverses = {1.0f, 2.0f};
  c.x[2] = std::numeric_limits<float>::quiet_NaN();
  expect_every_isa_matches_scalar(c, "NaN value");
}

TEST(ScaleCandidates, NearestLevelRoundsAsLround) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-300.0f, 300.0f);
  std::vector<float> values = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f, 0x1p23f + 1.0f,
                               0x1p29f, -0x1p29f, 0x1p30f, -0x1p30f, 3e8f, 0.0f, -0.0f};
  for (int i = 0; i < 100000; ++i) values.push_back(uniform(rng));
  for (int i = -2000; i <= 2000; ++i) values.push_back(static_cast<float>(i) * 0.25f);
  for (const float v : values) {
    const long expected = std::lround(v);
    for (const auto& [low, high] : {std::pair{-128, 127}, std::pair{0, 15}, std::pair{-1000000, 1000000}}) {
      const int want = static_cast<int>(std::clamp<long>(expected, low, high));
      ASSERT_EQ(nearest_level(v, low, high), want) << v;
    }
  }
}

// Whole rows: every quantizer that searches scales gives the same bytes on every path.
TEST(ScaleCandidates, QuantizedRowsAreTheSameOnEveryIsa) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t n = 512;
  std::vector<float> x(n), importance(n);
  for (auto& v : x) v = normal(rng) * 0.05f;
  for (auto& v : importance) v = std::exp(normal(rng));
  const DType types[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q2_K,
                         DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS};
  const Isa saved = active_isa();
  for (const DType type : types)
    for (const float* weights : {static_cast<const float*>(nullptr), static_cast<const float*>(importance.data())}) {
      std::vector<uint8_t> reference(row_bytes(type, n));
      set_active_isa(Isa::Scalar);
      compress::quantize_row(type, x.data(), reference.data(), n, weights);
      for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        std::vector<uint8_t> got(reference.size());
        compress::quantize_row(type, x.data(), got.data(), n, weights);
        EXPECT_EQ(got, reference) << dtype_name(type) << " isa " << isa_name(isa) << (weights ? " imatrix" : "");
      }
    }
  set_active_isa(saved);
}

}  // namespace
}  // namespace jisu::cpu
