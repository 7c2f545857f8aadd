#pragma once
// Weight data of the row-major integer path (32-element blocks: Q4_0, Q8_0, IQ4_NL and the
// jisu-only i8_row and cb4), read one
// block at a time as 32 signed 8-bit values and the block's fp16 scale d: element j = d * w[j].
// This is the scalar definition the SIMD decoders must match. (The K-quants take the
// super-block path, int8_super_block_matmul.h.)
#include <cstdint>

#include "backends/cpu/quant_blocks.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {

// Decodes the block at p into w; returns d. codebook: a cb4 tensor's 16 levels (else unused).
// An i8_row block is 32 int8 values without a scale (the row's scale multiplies the row's sum
// at the end, int8_matmul_scalar.cpp): d = 1.
inline float int8_weight_block(DType type, const uint8_t* p, int8_t w[32], const int8_t* codebook = nullptr) {
  const uint8_t* qs = p + 2;
  if (type == kJisuI8Row) {
    for (int j = 0; j < 32; ++j) w[j] = static_cast<int8_t>(p[j]);
    return 1.0f;
  }
  if (type == kJisuCb4) {
    for (int j = 0; j < 16; ++j) {
      w[j] = codebook[qs[j] & 0x0f];
      w[j + 16] = codebook[qs[j] >> 4];
    }
    return half_to_float(load_u16(p));
  }
  switch (type) {
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
    default: throw_unsupported_weight_type(type);
  }
  return half_to_float(load_u16(p));
}

}  // namespace jisu::cpu
