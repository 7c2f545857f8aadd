#pragma once
// Float rows -> GGUF block formats. The inverse of cpu::dequantize_row for the types a model
// maker or quantizer writes: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K.
// These are the round-to-nearest reference quantizers (max-abs / min-max per block, K-quant
// scales by min-max); an importance-weighted search is a later refinement.
#include <cstddef>

#include "core/dtype.h"

namespace jisu::compress {

bool quantize_supported(DType type);
// dst receives row_bytes(type, n) bytes; n is a multiple of the type's block size.
void quantize_row(DType type, const float* src, void* dst, size_t n);

}  // namespace jisu::compress
