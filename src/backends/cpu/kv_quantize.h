#pragma once
// Writing one position's keys or values into a KV cache row of the cache's type (f32, f16,
// q8_0, q4_0; kv/kv_cache.h). The rounding is that of ggml's reference quantizers
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref: one scale per block of 32 from the largest
// magnitude, nearest level), so a row holds what llama.cpp's quantized cache would. Called once
// per token per layer on kv_dim values: scalar code, far below the cost of the projections.
#include <cstddef>

#include "core/dtype.h"

namespace jisu::cpu {

// out = row_bytes(type, n) bytes; n is a multiple of the type's block (32 for q8_0 / q4_0).
void quantize_kv_row(DType type, const float* x, void* out, size_t n);

}  // namespace jisu::cpu
