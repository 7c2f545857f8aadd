#pragma once
// Float rows -> GGUF block formats: the inverse of cpu::dequantize_row for every weight type
// the engine runs (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// IQ4_NL, and the jisu-only i8_row and cb4). Each block's scales (and minimums) come from a weighted least-squares search
// (compress/scale_search.h) minimising sum_i w_i (x_i - x̂_i)^2, w_i from search_weights below.
// K-quant sub-block scales are then quantized by the same search, weighted by how much each
// sub-block's levels carry, and the levels re-rounded for the stored scales.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace jisu::compress {

bool quantize_supported(DType type);

// The search weights of one row x of n values (docs/quantization.md, "The importance matrix"):
//   no importance:                    w_i = 1 (plain squared error)
//   importance (the imatrix's mean squared input of column i):
//     Q2_K, Q3_K, Q5_0:               w_i = importance_i * sqrt(sigma2 + x_i^2), sigma2 the row's
//                                     mean x^2 (llama.cpp's term: large weights count more)
//     every other type:               w_i = importance_i
// Chosen per type by KL divergence on the demo model with three importance matrices from
// different parts of the calibration text: the magnitude term lowers it by 2-9 % at Q2_K, Q3_K
// and Q5_0 and raised it at Q4_K_M, IQ4_NL, Q4_1; without an importance matrix it is left out
// (higher KLD at 4-5 bits).
bool weighs_magnitude_with_importance(DType type);
void search_weights(DType type, const float* x, size_t n, const float* importance, float* weights);
// dst receives row_bytes(type, n) bytes; n is a multiple of the type's block size.
// importance: n values (>= 0) or null. codebook: for cb4 (core/sparse_dtype.h), the tensor's
// 16 ascending levels (compress/codebook_learning.h); required there, else unused. row_scale:
// for i8_row, receives the row's float32 scale (dst its int8 values); required there.
void quantize_row(DType type, const float* src, void* dst, size_t n, const float* importance = nullptr,
                  const int8_t* codebook = nullptr, float* row_scale = nullptr);

}  // namespace jisu::compress
