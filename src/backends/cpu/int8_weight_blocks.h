#pragma once
// Weight data of the integer path, read 32 elements at a time (one chunk per activation block)
// as 32 signed 8-bit values, two integer sub-scales (elements 0..15 and 16..31) and one float
// scale: element j = d * scale[j / 16] * w[j]. This is the scalar definition the SIMD
// decoders must match.
//   Q4_0 / Q8_0 / IQ4_NL: one chunk per block, sub-scales 1, d the block's fp16 scale.
//   Q6_K: chunk C (0..7) of a 256-element super-block, w = q - 32, sub-scales scales[2C],
//         scales[2C + 1], d the super-block's fp16 scale.
//   Q4_K: chunk C = sub-block C, w = the 4-bit q (0..15), both sub-scales the 6-bit scale of
//         C, d the super-block's d; and a minimum: element j additionally has - dmin * min.
#include <cstdint>

#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu {

// Decodes chunk `chunk` of the block at p; returns d. Types with a minimum (Q4_K) also set
// *min and *dmin (others leave them 0).
inline float int8_weight_chunk(DType type, const uint8_t* p, int chunk, int8_t w[32], int16_t scale[2], int16_t* min,
                               float* dmin) {
  const uint8_t* qs = p + 2;
  scale[0] = scale[1] = 1;
  *min = 0;
  *dmin = 0.0f;
  switch (type) {
    case DType::Q4_K: {
      const uint8_t* q = p + offsetof(BlockQ4_K, qs) + 32 * (chunk / 2);
      for (int l = 0; l < 32; ++l) w[l] = static_cast<int8_t>(chunk % 2 == 0 ? q[l] & 15 : q[l] >> 4);
      uint8_t sc, m;
      k4_scale_min(chunk, p + offsetof(BlockQ4_K, scales), sc, m);
      scale[0] = scale[1] = sc;
      *min = m;
      *dmin = half_to_float(load_u16(p + offsetof(BlockQ4_K, dmin)));
      return half_to_float(load_u16(p));
    }
    case DType::Q4_0:
      for (int j = 0; j < 16; ++j) {
        w[j] = static_cast<int8_t>((qs[j] & 0x0f) - 8);
        w[j + 16] = static_cast<int8_t>((qs[j] >> 4) - 8);
      }
      break;
    case DType::IQ4_NL:
      for (int j = 0; j < 16; ++j) {
        w[j] = kValuesIq4nl[qs[j] & 0x0f];
        w[j + 16] = kValuesIq4nl[qs[j] >> 4];
      }
      break;
    case DType::Q8_0:
      for (int j = 0; j < 32; ++j) w[j] = static_cast<int8_t>(qs[j]);
      break;
    case DType::Q6_K: {
      const int h = chunk / 4, c = chunk % 4;
      const uint8_t* ql = p + 64 * h + 32 * (c & 1);
      const uint8_t* qh = p + offsetof(BlockQ6_K, qh) + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int low = (ql[l] >> (c < 2 ? 0 : 4)) & 15, high = (qh[l] >> (2 * c)) & 3;
        w[l] = static_cast<int8_t>((low | (high << 4)) - 32);
      }
      const auto* scales = reinterpret_cast<const int8_t*>(p + offsetof(BlockQ6_K, scales));
      scale[0] = scales[2 * chunk];
      scale[1] = scales[2 * chunk + 1];
      return half_to_float(load_u16(p + offsetof(BlockQ6_K, d)));
    }
    default: throw_unsupported_weight_type(type);
  }
  return half_to_float(load_u16(p));
}

}  // namespace jisu::cpu
