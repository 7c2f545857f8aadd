#pragma once
// Reading one kv head's row of a KV cache layer, for the attention kernels compiled per ISA
// (attention_rows_isa.cpp, attention_tiles_isa.cpp; include after vector_isa.h).
#include <cstddef>
#include <cstdint>

#include "backends/cpu/block_decoders_isa.h"
#include "core/dtype.h"

namespace jisu::cpu::JISU_KERNEL_ISA {

// This ISA's weight decoder (quant_kernels_isa.cpp).
void dequantize_row(DType type, const void* src, float* dst, size_t n);

namespace kv_head_rows {

// One head row of the cache as floats, the cache types' decoders inlined: a dequantize_row
// call per 64-element head row cost more than the conversion itself (20 % of decode time at
// depth 4,096 went to those calls, docs/performance.md). The same decoders as dequantize_row's
// (block_decoders_isa.h), so the same floats; other types go through dequantize_row.
JISU_AI void decode_head_row(DType type, const uint8_t* src, float* dst, size_t dim) {
  switch (type) {
    case DType::F32: return block_decoders::dequantize_impl<block_decoders::DecF32>(src, dst, dim);
    case DType::F16: return block_decoders::dequantize_impl<block_decoders::DecF16>(src, dst, dim);
    case DType::Q8_0: return block_decoders::dequantize_impl<block_decoders::DecQ8_0>(src, dst, dim);
    case DType::Q4_0: return block_decoders::dequantize_impl<block_decoders::DecQ4_0>(src, dst, dim);
    default: return dequantize_row(type, src, dst, dim);
  }
}

// Every 64-byte line of [p, p + bytes) requested into L1.
JISU_AI void prefetch_lines(const uint8_t* p, size_t bytes) {
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t line = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
}

}  // namespace kv_head_rows

}  // namespace jisu::cpu::JISU_KERNEL_ISA
