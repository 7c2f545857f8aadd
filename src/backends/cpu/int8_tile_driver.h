#pragma once
// Shared by the row-major integer kernels (int8_matmul_isa.cpp for 32-element activation
// blocks, int8_super_block_matmul_isa.cpp for 256-element super-blocks): the tile walk
// (matmul_tile_walk.h) and the activation rounding both quantizers share. Include from the
// per-ISA kernel sources (compiled with at least the AVX2 flags).
#include "backends/cpu/simd_prelude.h"

#include <algorithm>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/matmul_tile_walk.h"
#include "backends/cpu/simd_math.h"

#if defined(__AVX2__)

namespace jisu::cpu {

// Activation quantization: max |p[i]| over n floats (n a multiple of 8).
JISU_AI float absolute_max(const float* p, size_t n) {
  const __m256 sign_clear = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(p + i), sign_clear));
  return horizontal_max(m);
}

// q[k] = round-to-nearest-even(p[8k .. 8k + 8) * inverse) as int32,
// and the 32 values stored as int8 at out in element order (|q| <= 127 by the caller's scale).
JISU_AI void round_and_pack_32(const float* p, __m256 inverse, int8_t* out, __m256i q[4]) {
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(p + 8 * k), inverse), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

}  // namespace jisu::cpu

#endif
