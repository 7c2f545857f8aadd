#pragma once
// Rows of the jisu-only types whose decoding needs more than the row (core/sparse_dtype.h):
// cb4 (its tensor's 16 codebook levels) and i8_row (its row's float32 scale). The scalar
// definitions (quant_scalar.cpp); not a hot path: the products run on the int8 kernels.
#include <cstddef>
#include <cstdint>

namespace jisu::cpu {

// dst[i] = d_b * codebook[index_i] for each block b of 32 (IQ4_NL's layout); n a multiple of 32.
void dequantize_cb4_row(const void* src, const int8_t* codebook, float* dst, size_t n);
// dst[i] = row_scale * int8 value i.
void dequantize_i8_row(const void* src, float row_scale, float* dst, size_t n);

}  // namespace jisu::cpu
