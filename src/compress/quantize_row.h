#pragma once
// Float rows -> GGUF block formats: the inverse of cpu::dequantize_row for every weight type
// the engine runs (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// IQ4_NL, and the jisu-only i8_row and cb4). Each block's scales (and minimums) come from a weighted least-squares search
// (compress/scale_search.h) minimising sum_i w_i (x_i - x̂_i)^2 with
//     w_i = importance_i * sqrt(sigma2 + x_i^2)   (importance: the imatrix's mean squared
//                                                   input of column i; 1 without one)
// sigma2 the row's mean x^2: every weight counts, large ones more (they meet the large
// activations more often). K-quant sub-block scales are then quantized by the same search,
// weighted by how much each sub-block's levels carry, and the levels re-rounded for the
// stored scales.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace jisu::compress {

bool quantize_supported(DType type);
// dst receives row_bytes(type, n) bytes; n is a multiple of the type's block size.
// importance: n values (>= 0) or null. codebook: for cb4 (core/sparse_dtype.h), the tensor's
// 16 ascending levels (compress/codebook_learning.h); required there, else unused. row_scale:
// for i8_row, receives the row's float32 scale (dst its int8 values); required there.
void quantize_row(DType type, const float* src, void* dst, size_t n, const float* importance = nullptr,
                  const int8_t* codebook = nullptr, float* row_scale = nullptr);

}  // namespace jisu::compress
