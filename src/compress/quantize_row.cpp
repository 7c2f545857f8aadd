#include "compress/quantize_row.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "compress/codebook_learning.h"
#include "compress/scale_search.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::compress {
namespace {
using namespace jisu::cpu;

uint16_t half(float value) { return fp32_to_fp16(value); }
float stored(uint16_t half_bits) { return fp16_to_fp32(half_bits); }

// One group of weights with their search weights.
struct Group {
  std::span<const float> x;
  std::span<const float> w;
  Group sub(size_t first, size_t count) const { return {x.subspan(first, count), w.subspan(first, count)}; }
};

// ---- 32-wide blocks ----

void pack_nibbles(const int* levels, uint8_t* qs) {
  for (size_t j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(levels[j] | (levels[j + kQK / 2] << 4));
}
void pack_fifth_bits(const int* levels, uint8_t* qh) {
  uint32_t high_bits = 0;
  for (size_t j = 0; j < kQK; ++j) high_bits |= static_cast<uint32_t>(levels[j] >> 4) << j;
  std::memcpy(qh, &high_bits, 4);
}

// Symmetric 32-blocks (Q8_0, Q4_0, Q5_0): x ~= d * (level), level in [low, high]; the packed
// value is level - low.
void symmetric_block(const Group& g, int low, int high, uint16_t& d_bits, int* packed) {
  int8_t levels[kQK];
  d_bits = half(search_symmetric_scale(g.x, g.w, low, high, levels));
  round_levels(g.x, stored(d_bits), 0, low, high, levels);
  for (size_t j = 0; j < kQK; ++j) packed[j] = levels[j] - low;
}

void quantize_q8_0(const Group& g, void* out) {
  auto* block = static_cast<BlockQ8_0*>(out);
  int packed[kQK];
  symmetric_block(g, -127, 127, block->d, packed);
  for (size_t j = 0; j < kQK; ++j) block->qs[j] = static_cast<int8_t>(packed[j] - 127);
}

void quantize_q4_0(const Group& g, void* out) {
  auto* block = static_cast<BlockQ4_0*>(out);
  int packed[kQK];
  symmetric_block(g, -8, 7, block->d, packed);
  pack_nibbles(packed, block->qs);
}

void quantize_q5_0(const Group& g, void* out) {
  auto* block = static_cast<BlockQ5_0*>(out);
  int packed[kQK];
  symmetric_block(g, -16, 15, block->d, packed);
  int low[kQK];
  for (size_t j = 0; j < kQK; ++j) low[j] = packed[j] & 15;
  pack_nibbles(low, block->qs);
  pack_fifth_bits(packed, block->qh);
}

// Affine 32-blocks (Q4_1, Q5_1): x ~= d * level + m, level in [0, top].
void affine_block(const Group& g, int top, uint16_t& d_bits, uint16_t& m_bits, int* levels) {
  uint8_t found[kQK];
  const ScaleAndMinimum fit = search_affine_scale(g.x, g.w, top, /*minimum_at_most_zero=*/false, found);
  d_bits = half(fit.scale);
  m_bits = half(fit.minimum);
  int8_t rounded[kQK];
  round_levels(g.x, stored(d_bits), stored(m_bits), 0, top, rounded);
  for (size_t j = 0; j < kQK; ++j) levels[j] = rounded[j];
}

void quantize_q4_1(const Group& g, void* out) {
  auto* block = static_cast<BlockQ4_1*>(out);
  int levels[kQK];
  affine_block(g, 15, block->d, block->m, levels);
  pack_nibbles(levels, block->qs);
}

void quantize_q5_1(const Group& g, void* out) {
  auto* block = static_cast<BlockQ5_1*>(out);
  int levels[kQK];
  affine_block(g, 31, block->d, block->m, levels);
  int low[kQK];
  for (size_t j = 0; j < kQK; ++j) low[j] = levels[j] & 15;
  pack_nibbles(low, block->qs);
  pack_fifth_bits(levels, block->qh);
}

// IQ4_NL (fixed levels) and cb4 (the tensor's learned levels): compress/codebook_learning.h.
void codebook_block(const Group& g, std::span<const int8_t> levels, void* out) {
  auto* block = static_cast<BlockIQ4_NL*>(out);
  uint8_t indices[kQK];
  block->d = quantize_codebook_block(g.x, g.w, levels, indices);
  int packed[kQK];
  for (size_t j = 0; j < kQK; ++j) packed[j] = indices[j];
  pack_nibbles(packed, block->qs);
}

void quantize_iq4_nl(const Group& g, void* out) { codebook_block(g, std::span<const int8_t>(kValuesIq4nl, 16), out); }

// i8_row: one float32 scale for the whole row, found by the weighted search over the row, then
// every value rounded for it in [-127, 127].
float quantize_i8_row(const float* src, const float* weights, size_t n, uint8_t* out) {
  auto* levels = reinterpret_cast<int8_t*>(out);
  const float scale = search_symmetric_scale({src, n}, {weights, n}, -127, 127, levels);
  round_levels({src, n}, scale, 0, -127, 127, levels);
  return scale;
}

// ---- super-blocks of 256 ----

// The sub-block scales of a super-block quantized to integers in [low, high] times one fp16
// super-scale, by the same weighted search: a sub-block's weight is how much its scale error
// costs, sum(w * level^2). Returns the stored super-scale; writes the integer scales.
float quantize_scales(std::span<const float> scales, std::span<const float> weights, int low, int high,
                      uint16_t& d_bits, int* integer_scales) {
  int8_t levels[16];
  d_bits = half(search_symmetric_scale(scales, weights, low, high, levels));
  const float d = stored(d_bits);
  round_levels(scales, d, 0, low, high, levels);
  for (size_t j = 0; j < scales.size(); ++j) integer_scales[j] = levels[j];
  return d;
}

// Affine sub-blocks (Q2_K: 16 of 16, top 3, 4-bit scales; Q4_K / Q5_K: 8 of 32, top 15 / 31,
// 6-bit scales): x ~= d * sc_j * level - dmin * m_j. Writes the final levels.
template <size_t kSub>
void affine_super_block(const Group& g, int top, int scale_top, uint16_t& d_bits, uint16_t& dmin_bits,
                        int* scale_q, int* minimum_q, uint8_t* levels) {
  constexpr size_t n_sub = kQK_K / kSub;
  float scales[n_sub], minimums[n_sub], scale_weights[n_sub], minimum_weights[n_sub];
  for (size_t j = 0; j < n_sub; ++j) {
    const Group sub = g.sub(j * kSub, kSub);
    const ScaleAndMinimum fit = search_affine_scale(sub.x, sub.w, top, /*minimum_at_most_zero=*/true, levels + j * kSub);
    scales[j] = std::max(0.0f, fit.scale);
    minimums[j] = -fit.minimum;
    double wll = 0, wsum = 0;
    for (size_t i = 0; i < kSub; ++i) {
      const double l = levels[j * kSub + i];
      wll += sub.w[i] * l * l;
      wsum += sub.w[i];
    }
    scale_weights[j] = static_cast<float>(wll);
    minimum_weights[j] = static_cast<float>(wsum);
  }
  quantize_scales(scales, scale_weights, -scale_top, scale_top, d_bits, scale_q);
  quantize_scales(minimums, minimum_weights, -scale_top, scale_top, dmin_bits, minimum_q);
  for (size_t j = 0; j < n_sub; ++j) {
    scale_q[j] = std::max(0, scale_q[j]);
    minimum_q[j] = std::max(0, minimum_q[j]);
  }
  // Levels for the stored scales, then the two super-scales re-solved for those levels (a
  // weighted 2x2 least squares: x ~= d * (sc_j * level) - dmin * m_j), kept while the error drops.
  auto round_all = [&](float d, float dmin) {
    for (size_t j = 0; j < n_sub; ++j) {
      const float step = d * static_cast<float>(scale_q[j]), offset = dmin * static_cast<float>(minimum_q[j]);
      int8_t rounded[kSub];
      round_levels(g.x.subspan(j * kSub, kSub), step, -offset, 0, top, rounded);
      for (size_t i = 0; i < kSub; ++i) levels[j * kSub + i] = static_cast<uint8_t>(step > 0 ? rounded[i] : 0);
    }
  };
  auto error_of = [&](float d, float dmin) {
    double error = 0;
    for (size_t i = 0; i < kQK_K; ++i) {
      const size_t j = i / kSub;
      const double r = d * scale_q[j] * levels[i] - dmin * minimum_q[j] - g.x[i];
      error += g.w[i] * r * r;
    }
    return error;
  };
  round_all(stored(d_bits), stored(dmin_bits));
  double best = error_of(stored(d_bits), stored(dmin_bits));
  for (int iteration = 0; iteration < 2; ++iteration) {
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (size_t i = 0; i < kQK_K; ++i) {
      const size_t j = i / kSub;
      const double a = static_cast<double>(scale_q[j]) * levels[i], b = -static_cast<double>(minimum_q[j]), w = g.w[i];
      saa += w * a * a, sab += w * a * b, sbb += w * b * b, sax += w * a * g.x[i], sbx += w * b * g.x[i];
    }
    const double det = saa * sbb - sab * sab;
    if (!(det > 0)) break;
    const uint16_t new_d = half(static_cast<float>((sbb * sax - sab * sbx) / det));
    const uint16_t new_dmin = half(static_cast<float>((saa * sbx - sab * sax) / det));
    if (!(stored(new_d) > 0) || stored(new_dmin) < 0) break;
    uint8_t previous[kQK_K];
    std::copy(levels, levels + kQK_K, previous);
    round_all(stored(new_d), stored(new_dmin));
    const double error = error_of(stored(new_d), stored(new_dmin));
    if (!(error < best)) {
      std::copy(previous, previous + kQK_K, levels);
      break;
    }
    best = error, d_bits = new_d, dmin_bits = new_dmin;
  }
}

// Symmetric sub-blocks of 16 (Q3_K: levels [-4, 3], 6-bit signed scales; Q6_K: [-32, 31],
// int8 scales): x ~= d * sc_j * level. Writes the final levels.
void symmetric_super_block(const Group& g, int low, int high, int scale_low, int scale_high, uint16_t& d_bits,
                           int* scale_q, int8_t* levels) {
  float scales[16], scale_weights[16];
  for (size_t j = 0; j < 16; ++j) {
    const Group sub = g.sub(16 * j, 16);
    scales[j] = search_symmetric_scale(sub.x, sub.w, low, high, levels + 16 * j);
    double wll = 0;
    for (size_t i = 0; i < 16; ++i) wll += sub.w[i] * levels[16 * j + i] * levels[16 * j + i];
    scale_weights[j] = static_cast<float>(wll);
  }
  quantize_scales(scales, scale_weights, scale_low, scale_high, d_bits, scale_q);
  // Levels for the stored scales, then the super-scale re-solved for those levels
  // (d = sum w x a / sum w a^2 with a = sc_j * level), kept while the error drops.
  auto round_all = [&](float d) {
    for (size_t j = 0; j < 16; ++j) {
      const float step = d * static_cast<float>(scale_q[j]);
      if (step == 0)
        std::fill(levels + 16 * j, levels + 16 * j + 16, int8_t{0});
      else
        round_levels(g.x.subspan(16 * j, 16), step, 0, low, high, levels + 16 * j);
    }
  };
  auto error_of = [&](float d) {
    double error = 0;
    for (size_t i = 0; i < kQK_K; ++i) {
      const double r = d * scale_q[i / 16] * levels[i] - g.x[i];
      error += g.w[i] * r * r;
    }
    return error;
  };
  round_all(stored(d_bits));
  double best = error_of(stored(d_bits));
  for (int iteration = 0; iteration < 2; ++iteration) {
    double saa = 0, sax = 0;
    for (size_t i = 0; i < kQK_K; ++i) {
      const double a = static_cast<double>(scale_q[i / 16]) * levels[i];
      saa += g.w[i] * a * a, sax += g.w[i] * a * g.x[i];
    }
    if (!(saa > 0)) break;
    const uint16_t new_d = half(static_cast<float>(sax / saa));
    int8_t previous[kQK_K];
    std::copy(levels, levels + kQK_K, previous);
    round_all(stored(new_d));
    const double error = error_of(stored(new_d));
    if (!(error < best)) {
      std::copy(previous, previous + kQK_K, levels);
      break;
    }
    best = error, d_bits = new_d;
  }
}

void quantize_q2_k(const Group& g, void* out) {
  auto* block = static_cast<BlockQ2_K*>(out);
  int scale_q[16], minimum_q[16];
  uint8_t levels[kQK_K];
  affine_super_block<16>(g, 3, 15, block->d, block->dmin, scale_q, minimum_q, levels);
  for (int j = 0; j < 16; ++j) block->scales[j] = static_cast<uint8_t>(scale_q[j] | (minimum_q[j] << 4));
  std::memset(block->qs, 0, sizeof block->qs);
  // Element 128h + 32j + l sits in qs[32h + l] at bits 2j.
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    block->qs[32 * h + l] |= static_cast<uint8_t>(levels[e] << (2 * j));
  }
}

void quantize_q3_k(const Group& g, void* out) {
  auto* block = static_cast<BlockQ3_K*>(out);
  int scale_q[16];
  int8_t levels[kQK_K];
  symmetric_super_block(g, -4, 3, -32, 31, block->d, scale_q, levels);
  std::memset(block->scales, 0, sizeof block->scales);
  for (int i = 0; i < 16; ++i) {
    const int biased = scale_q[i] + 32;
    block->scales[i % 8] |= static_cast<uint8_t>((biased & 15) << (i < 8 ? 0 : 4));
    block->scales[8 + i % 4] |= static_cast<uint8_t>((biased >> 4) << (2 * (i / 4)));
  }
  std::memset(block->qs, 0, sizeof block->qs);
  std::memset(block->hmask, 0, sizeof block->hmask);
  // Element 128h + 32j + l: level + 4 in [0, 7]; low 2 bits in qs[32h + l] at bits 2j, the
  // third in hmask[l] at bit 4h + j.
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    const int biased = levels[e] + 4;
    block->qs[32 * h + l] |= static_cast<uint8_t>((biased & 3) << (2 * j));
    block->hmask[l] |= static_cast<uint8_t>((biased >> 2) << (4 * h + j));
  }
}

// Q4_K / Q5_K 6-bit packing: sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scale) and 4-7
// (min); sub-blocks 4-7 as nibbles in bytes 8-11 with their top 2 bits in the high bits of 0-7.
void pack_k4_scales(const int* scale_q, const int* minimum_q, uint8_t* scales) {
  std::memset(scales, 0, kKScaleSize);
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(scale_q[j]);
    scales[j + 4] = static_cast<uint8_t>(minimum_q[j]);
  }
  for (int j = 4; j < 8; ++j) {
    scales[j + 4] = static_cast<uint8_t>((scale_q[j] & 15) | ((minimum_q[j] & 15) << 4));
    scales[j - 4] |= static_cast<uint8_t>((scale_q[j] >> 4) << 6);
    scales[j] |= static_cast<uint8_t>((minimum_q[j] >> 4) << 6);
  }
}

void quantize_q4_k(const Group& g, void* out) {
  auto* block = static_cast<BlockQ4_K*>(out);
  int scale_q[8], minimum_q[8];
  uint8_t levels[kQK_K];
  affine_super_block<32>(g, 15, 63, block->d, block->dmin, scale_q, minimum_q, levels);
  pack_k4_scales(scale_q, minimum_q, block->scales);
  // Each 32 bytes hold two sub-blocks: low nibbles the first, high nibbles the second.
  for (int chunk = 0; chunk < 4; ++chunk)
    for (int i = 0; i < 32; ++i)
      block->qs[32 * chunk + i] = static_cast<uint8_t>(levels[64 * chunk + i] | (levels[64 * chunk + 32 + i] << 4));
}

void quantize_q5_k(const Group& g, void* out) {
  auto* block = static_cast<BlockQ5_K*>(out);
  int scale_q[8], minimum_q[8];
  uint8_t levels[kQK_K];
  affine_super_block<32>(g, 31, 63, block->d, block->dmin, scale_q, minimum_q, levels);
  pack_k4_scales(scale_q, minimum_q, block->scales);
  std::memset(block->qh, 0, sizeof block->qh);
  for (int chunk = 0; chunk < 4; ++chunk)
    for (int i = 0; i < 32; ++i) {
      const int low = levels[64 * chunk + i], high = levels[64 * chunk + 32 + i];
      block->qs[32 * chunk + i] = static_cast<uint8_t>((low & 15) | ((high & 15) << 4));
      block->qh[i] |= static_cast<uint8_t>(((low >> 4) << (2 * chunk)) | ((high >> 4) << (2 * chunk + 1)));
    }
}

// IQ4_XS: per sub-block of 32 the best code-book scale, those 8 scales quantized to 6-bit
// signed integers times one fp16 super-scale, then every code re-picked for its stored scale.
void quantize_iq4_xs(const Group& g, void* out) {
  auto* block = static_cast<BlockIQ4_XS*>(out);
  const std::span<const int8_t> codebook(kValuesIq4nl, 16);
  float scales[8], scale_weights[8];
  uint8_t indices[kQK_K];
  for (size_t j = 0; j < 8; ++j) {
    const Group sub = g.sub(32 * j, 32);
    scales[j] = search_codebook_scale(sub.x, sub.w, codebook, indices + 32 * j);
    double wcc = 0;
    for (size_t i = 0; i < 32; ++i) {
      const double code = kValuesIq4nl[indices[32 * j + i]];
      wcc += sub.w[i] * code * code;
    }
    scale_weights[j] = static_cast<float>(wcc);
  }
  int scale_q[8];
  const float d = quantize_scales(std::span<const float>(scales, 8), std::span<const float>(scale_weights, 8), -32, 31,
                                  block->d, scale_q);
  block->scales_h = 0;
  std::memset(block->scales_l, 0, sizeof block->scales_l);
  for (int j = 0; j < 8; ++j) {
    const int biased = scale_q[j] + 32;
    block->scales_l[j / 2] |= static_cast<uint8_t>((biased & 15) << (4 * (j % 2)));
    block->scales_h |= static_cast<uint16_t>((biased >> 4) << (2 * j));
    const float step = d * static_cast<float>(scale_q[j]);
    for (int l = 0; l < 32; ++l) {
      uint8_t best_code = 0;
      float best = INFINITY;
      for (uint8_t c = 0; c < 16 && step != 0; ++c) {
        const float error = std::fabs(g.x[32 * j + l] - step * static_cast<float>(kValuesIq4nl[c]));
        if (error < best) best = error, best_code = c;
      }
      indices[32 * j + l] = best_code;
    }
    for (int l = 0; l < 16; ++l)
      block->qs[16 * j + l] = static_cast<uint8_t>(indices[32 * j + l] | (indices[32 * j + l + 16] << 4));
  }
}

void quantize_q6_k(const Group& g, void* out) {
  auto* block = static_cast<BlockQ6_K*>(out);
  int scale_q[16];
  int8_t signed_levels[kQK_K];
  symmetric_super_block(g, -32, 31, -128, 127, block->d, scale_q, signed_levels);
  for (int j = 0; j < 16; ++j) block->scales[j] = static_cast<int8_t>(scale_q[j]);
  uint8_t levels[kQK_K];
  for (int e = 0; e < 256; ++e) levels[e] = static_cast<uint8_t>(signed_levels[e] + 32);
  // Per half of 128: ql packs (l, l+64) and (l+32, l+96) low nibbles; qh their top 2 bits.
  for (int half_index = 0; half_index < 2; ++half_index) {
    const uint8_t* q = levels + 128 * half_index;
    uint8_t* ql = block->ql + 64 * half_index;
    uint8_t* qh = block->qh + 32 * half_index;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((q[l] & 15) | ((q[l + 64] & 15) << 4));
      ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 15) | ((q[l + 96] & 15) << 4));
      qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
    }
  }
}

using BlockQuantizer = void (*)(const Group&, void*);

BlockQuantizer block_quantizer(DType type) {
  switch (type) {
    case DType::Q8_0: return quantize_q8_0;
    case DType::Q4_0: return quantize_q4_0;
    case DType::Q4_1: return quantize_q4_1;
    case DType::Q5_0: return quantize_q5_0;
    case DType::Q5_1: return quantize_q5_1;
    case DType::IQ4_NL: return quantize_iq4_nl;
    case DType::IQ4_XS: return quantize_iq4_xs;
    case DType::Q2_K: return quantize_q2_k;
    case DType::Q3_K: return quantize_q3_k;
    case DType::Q4_K: return quantize_q4_k;
    case DType::Q5_K: return quantize_q5_k;
    case DType::Q6_K: return quantize_q6_k;
    default: return nullptr;
  }
}

}  // namespace

bool weighs_magnitude_with_importance(DType type) {
  return type == DType::Q2_K || type == DType::Q3_K || type == DType::Q5_0;
}

void search_weights(DType type, const float* x, size_t n, const float* importance, float* weights) {
  if (!importance) {
    std::fill(weights, weights + n, 1.0f);
    return;
  }
  if (!weighs_magnitude_with_importance(type)) {
    std::copy(importance, importance + n, weights);
    return;
  }
  double sum_squares = 0;
  for (size_t i = 0; i < n; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
  const double sigma2 = n > 0 ? sum_squares / static_cast<double>(n) : 0.0;
  for (size_t i = 0; i < n; ++i)
    weights[i] = static_cast<float>(importance[i] * std::sqrt(sigma2 + static_cast<double>(x[i]) * x[i]));
}

bool quantize_supported(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16 || type == kJisuI8Row || type == kJisuCb4 ||
         block_quantizer(type) != nullptr;
}

void quantize_row(DType type, const float* src, void* dst, size_t n, const float* importance,
                  const int8_t* codebook, float* row_scale) {
  if (n % traits(type).block_elements != 0)
    throw Error("cannot quantize a row of " + std::to_string(n) + " values to " + std::string(dtype_name(type)),
                "the row length must be a multiple of " + std::to_string(traits(type).block_elements));
  auto* out16 = static_cast<uint16_t*>(dst);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::F16: for (size_t i = 0; i < n; ++i) out16[i] = fp32_to_fp16(src[i]); return;
    case DType::BF16: for (size_t i = 0; i < n; ++i) out16[i] = fp32_to_bf16(src[i]); return;
    default: break;
  }
  const BlockQuantizer quantize = block_quantizer(type);
  if (!quantize && type != kJisuI8Row && type != kJisuCb4)
    throw Error("quantizing to " + std::string(dtype_name(type)) + " is not supported");
  if (type == kJisuCb4 && !codebook) throw Error("quantizing a row to cb4 needs its tensor's codebook");
  if (type == kJisuI8Row && !row_scale) throw Error("quantizing a row to i8_row needs a place for its scale");
  std::vector<float> weights(n);
  search_weights(type, src, n, importance, weights.data());
  const DTypeTraits& t = traits(type);
  auto* out = static_cast<uint8_t*>(dst);
  if (type == kJisuI8Row) {
    *row_scale = quantize_i8_row(src, weights.data(), n, out);
    return;
  }
  for (size_t b = 0; b < n / t.block_elements; ++b) {
    const size_t first = b * t.block_elements;
    const Group group{{src + first, t.block_elements}, {weights.data() + first, t.block_elements}};
    if (type == kJisuCb4)
      codebook_block(group, std::span<const int8_t>(codebook, kCodebookLevels), out + b * t.block_bytes);
    else
      quantize(group, out + b * t.block_bytes);
  }
}

}  // namespace jisu::compress
