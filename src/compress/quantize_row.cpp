#include "compress/quantize_row.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"

namespace jisu::compress {
namespace {
using namespace jisu::cpu;

uint16_t half(float value) { return fp32_to_fp16(value); }
int nearest(float value) { return static_cast<int>(std::lround(value)); }

void quantize_q8_0(const float* x, BlockQ8_0* block) {
  float amax = 0;
  for (size_t i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
  block->d = half(d);
  for (size_t i = 0; i < kQK; ++i) block->qs[i] = static_cast<int8_t>(nearest(x[i] * inverse));
}

// Value with the largest magnitude, sign kept: Q4_0/Q5_0 map it to the most negative level
// so the asymmetric integer range [-8, 7] is used fully.
float signed_absolute_max(const float* x, size_t n) {
  float best = 0;
  for (size_t i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
  return best;
}

void quantize_q4_0(const float* x, BlockQ4_0* block) {
  const float d = signed_absolute_max(x, kQK) / -8.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
  block->d = half(d);
  for (size_t j = 0; j < kQK / 2; ++j) {
    const int low = std::clamp(nearest(x[j] * inverse) + 8, 0, 15);
    const int high = std::clamp(nearest(x[j + kQK / 2] * inverse) + 8, 0, 15);
    block->qs[j] = static_cast<uint8_t>(low | (high << 4));
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* block) {
  const float d = signed_absolute_max(x, kQK) / -16.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
  block->d = half(d);
  uint32_t high_bits = 0;
  for (size_t j = 0; j < kQK / 2; ++j) {
    const int low = std::clamp(nearest(x[j] * inverse) + 16, 0, 31);
    const int high = std::clamp(nearest(x[j + kQK / 2] * inverse) + 16, 0, 31);
    block->qs[j] = static_cast<uint8_t>((low & 15) | ((high & 15) << 4));
    high_bits |= static_cast<uint32_t>(low >> 4) << j;
    high_bits |= static_cast<uint32_t>(high >> 4) << (j + kQK / 2);
  }
  std::memcpy(block->qh, &high_bits, 4);
}

template <typename Block>
void min_max_scale(const float* x, Block* block, int levels, float& inverse, float& minimum) {
  minimum = *std::min_element(x, x + kQK);
  const float maximum = *std::max_element(x, x + kQK);
  const float d = (maximum - minimum) / static_cast<float>(levels);
  inverse = d != 0 ? 1.0f / d : 0.0f;
  block->d = half(d);
  block->m = half(minimum);
}

void quantize_q4_1(const float* x, BlockQ4_1* block) {
  float inverse, minimum;
  min_max_scale(x, block, 15, inverse, minimum);
  for (size_t j = 0; j < kQK / 2; ++j) {
    const int low = std::clamp(nearest((x[j] - minimum) * inverse), 0, 15);
    const int high = std::clamp(nearest((x[j + kQK / 2] - minimum) * inverse), 0, 15);
    block->qs[j] = static_cast<uint8_t>(low | (high << 4));
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* block) {
  float inverse, minimum;
  min_max_scale(x, block, 31, inverse, minimum);
  uint32_t high_bits = 0;
  for (size_t j = 0; j < kQK / 2; ++j) {
    const int low = std::clamp(nearest((x[j] - minimum) * inverse), 0, 31);
    const int high = std::clamp(nearest((x[j + kQK / 2] - minimum) * inverse), 0, 31);
    block->qs[j] = static_cast<uint8_t>((low & 15) | ((high & 15) << 4));
    high_bits |= static_cast<uint32_t>(low >> 4) << j;
    high_bits |= static_cast<uint32_t>(high >> 4) << (j + kQK / 2);
  }
  std::memcpy(block->qh, &high_bits, 4);
}

// Q4_K: 8 sub-blocks of 32, x ~= d*scale_j*q - dmin*min_j with q in [0,15] and 6-bit
// scale_j, min_j; the two super-scales d, dmin are fp16.
void quantize_q4_k(const float* x, BlockQ4_K* block) {
  float scales[8], minimums[8];
  for (int j = 0; j < 8; ++j) {
    const float* sub = x + 32 * j;
    const float low = std::min(0.0f, *std::min_element(sub, sub + 32));
    const float high = *std::max_element(sub, sub + 32);
    scales[j] = (high - low) / 15.0f;
    minimums[j] = -low;
  }
  const float max_scale = *std::max_element(scales, scales + 8);
  const float max_minimum = *std::max_element(minimums, minimums + 8);
  const float d = max_scale / 63.0f, dmin = max_minimum / 63.0f;
  block->d = half(d);
  block->dmin = half(dmin);
  const float d_stored = fp16_to_fp32(block->d), dmin_stored = fp16_to_fp32(block->dmin);
  uint8_t scale_q[8], minimum_q[8];
  for (int j = 0; j < 8; ++j) {
    scale_q[j] = static_cast<uint8_t>(std::clamp(d_stored > 0 ? nearest(scales[j] / d_stored) : 0, 0, 63));
    minimum_q[j] = static_cast<uint8_t>(std::clamp(dmin_stored > 0 ? nearest(minimums[j] / dmin_stored) : 0, 0, 63));
  }
  // 6-bit packing: sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scale) and 4-7 (min);
  // sub-blocks 4-7 as nibbles in bytes 8-11 with their top 2 bits in the high bits of 0-7.
  std::memset(block->scales, 0, sizeof block->scales);
  for (int j = 0; j < 4; ++j) {
    block->scales[j] = scale_q[j];
    block->scales[j + 4] = minimum_q[j];
  }
  for (int j = 4; j < 8; ++j) {
    block->scales[j + 4] = static_cast<uint8_t>((scale_q[j] & 15) | ((minimum_q[j] & 15) << 4));
    block->scales[j - 4] |= static_cast<uint8_t>((scale_q[j] >> 4) << 6);
    block->scales[j] |= static_cast<uint8_t>((minimum_q[j] >> 4) << 6);
  }
  uint8_t levels[256];
  for (int j = 0; j < 8; ++j) {
    const float step = d_stored * scale_q[j], offset = dmin_stored * minimum_q[j];
    for (int i = 0; i < 32; ++i)
      levels[32 * j + i] = static_cast<uint8_t>(step > 0 ? std::clamp(nearest((x[32 * j + i] + offset) / step), 0, 15) : 0);
  }
  // Each 32 bytes hold two sub-blocks: low nibbles the first, high nibbles the second.
  for (int chunk = 0; chunk < 4; ++chunk)
    for (int i = 0; i < 32; ++i)
      block->qs[32 * chunk + i] = static_cast<uint8_t>(levels[64 * chunk + i] | (levels[64 * chunk + 32 + i] << 4));
}

// Q6_K: 16 sub-blocks of 16, x ~= d*scale_j*(q - 32), q in [0,63], int8 scale_j.
void quantize_q6_k(const float* x, BlockQ6_K* block) {
  float scales[16];
  for (int j = 0; j < 16; ++j) {
    float amax = 0;
    for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[16 * j + i]));
    scales[j] = amax / 31.0f;
  }
  const float max_scale = *std::max_element(scales, scales + 16);
  const float d = max_scale / 127.0f;
  block->d = half(d);
  const float d_stored = fp16_to_fp32(block->d);
  uint8_t levels[256];
  for (int j = 0; j < 16; ++j) {
    const int scale = std::clamp(d_stored > 0 ? nearest(scales[j] / d_stored) : 0, -128, 127);
    block->scales[j] = static_cast<int8_t>(scale);
    const float step = d_stored * scale;
    for (int i = 0; i < 16; ++i)
      levels[16 * j + i] = static_cast<uint8_t>(step != 0 ? std::clamp(nearest(x[16 * j + i] / step) + 32, 0, 63) : 32);
  }
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

template <typename Block, void (*Quantize)(const float*, Block*)>
void quantize_blocks(const float* src, void* dst, size_t n, size_t block_elements) {
  auto* blocks = static_cast<Block*>(dst);
  for (size_t b = 0; b < n / block_elements; ++b) Quantize(src + b * block_elements, blocks + b);
}

}  // namespace

bool quantize_supported(DType type) {
  switch (type) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0: case DType::Q4_1:
    case DType::Q5_0: case DType::Q5_1: case DType::Q4_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void quantize_row(DType type, const float* src, void* dst, size_t n) {
  if (n % traits(type).block_elements != 0)
    throw Error("cannot quantize a row of " + std::to_string(n) + " values to " + std::string(dtype_name(type)),
                "the row length must be a multiple of " + std::to_string(traits(type).block_elements));
  auto* out16 = static_cast<uint16_t*>(dst);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::F16: for (size_t i = 0; i < n; ++i) out16[i] = fp32_to_fp16(src[i]); return;
    case DType::BF16: for (size_t i = 0; i < n; ++i) out16[i] = fp32_to_bf16(src[i]); return;
    case DType::Q8_0: quantize_blocks<BlockQ8_0, quantize_q8_0>(src, dst, n, kQK); return;
    case DType::Q4_0: quantize_blocks<BlockQ4_0, quantize_q4_0>(src, dst, n, kQK); return;
    case DType::Q4_1: quantize_blocks<BlockQ4_1, quantize_q4_1>(src, dst, n, kQK); return;
    case DType::Q5_0: quantize_blocks<BlockQ5_0, quantize_q5_0>(src, dst, n, kQK); return;
    case DType::Q5_1: quantize_blocks<BlockQ5_1, quantize_q5_1>(src, dst, n, kQK); return;
    case DType::Q4_K: quantize_blocks<BlockQ4_K, quantize_q4_k>(src, dst, n, kQK_K); return;
    case DType::Q6_K: quantize_blocks<BlockQ6_K, quantize_q6_k>(src, dst, n, kQK_K); return;
    default: throw Error("quantizing to " + std::string(dtype_name(type)) + " is not supported yet");
  }
}

}  // namespace jisu::compress
