#pragma once
// Reading one kv head's row of a KV cache layer, for the attention kernels compiled per ISA
// (attention_rows_isa.cpp, attention_tiles_isa.cpp; include after vector_isa.h).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace jisu::cpu::JISU_KERNEL_ISA {

// This ISA's weight decoder (quant_kernels_isa.cpp).
void dequantize_row(DType type, const void* src, float* dst, size_t n);

namespace kv_head_rows {

JISU_AI float load_half_float(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// One head row of the cache as floats. The cache types are decoded inline: a dequantize_row
// call per 64-element head row cost more than the conversion itself (20 % of decode time at
// depth 4,096 went to those calls, docs/performance.md). Every form computes what this ISA's
// dequantize_row (and dequantize_row_scalar) computes, in the same single rounding per value:
// f16 and f32 exactly, q8_0 as q * d, q4_0 as fma(q, d, -8d). Other types go through
// dequantize_row.
JISU_AI void decode_head_row(DType type, const uint8_t* src, float* dst, size_t dim) {
  using V = FloatVec;
  constexpr size_t kLanes = V::kLanes;
  if (dim % kLanes == 0) {
    if (type == DType::F16) {
      for (size_t d = 0; d < dim; d += kLanes) V::store(dst + d, V::from_half(src + 2 * d));
      return;
    }
    if (type == DType::F32) {
      const auto* floats = reinterpret_cast<const float*>(src);
      for (size_t d = 0; d < dim; d += kLanes) V::store(dst + d, V::load(floats + d));
      return;
    }
  }
  if (dim % 32 == 0) {
    if (type == DType::Q8_0) {  // blocks of 34 bytes: f16 scale, 32 int8
      for (size_t b = 0; b < dim / 32; ++b, src += 34, dst += 32) {
        const V::F scale = V::set1(load_half_float(src));
        for (size_t j = 0; j < 32; j += kLanes) V::store(dst + j, V::mul(V::to_float(V::widen_i8(src + 2 + j)), scale));
      }
      return;
    }
    if (type == DType::Q4_0) {  // blocks of 18 bytes: f16 scale, 16 bytes (elements j and j + 16)
      const V::I low_nibble = V::splat(15);
      for (size_t b = 0; b < dim / 32; ++b, src += 18, dst += 32) {
        const float d = load_half_float(src);
        const V::F scale = V::set1(d), offset = V::set1(-8.0f * d);
        for (size_t j = 0; j < 16; j += kLanes) {
          const V::I q = V::widen_u8(src + 2 + j);
          V::store(dst + j, V::fmadd(V::to_float(V::bit_and(q, low_nibble)), scale, offset));
          V::store(dst + 16 + j, V::fmadd(V::to_float(V::shift_right(q, 4)), scale, offset));
        }
      }
      return;
    }
  }
  dequantize_row(type, src, dst, dim);
}

// Every 64-byte line of [p, p + bytes) requested into L1.
JISU_AI void prefetch_lines(const uint8_t* p, size_t bytes) {
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t line = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
}

}  // namespace kv_head_rows

}  // namespace jisu::cpu::JISU_KERNEL_ISA
