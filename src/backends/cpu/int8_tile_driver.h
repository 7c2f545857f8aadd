#pragma once
// Loop structure shared by the row-major integer kernels (int8_matmul_avx2.cpp for 32-element
// activation blocks, int8_super_block_matmul_avx2.cpp for 256-element super-blocks). A Kernel
// provides
//   template <int NR, int NT, bool kPrefetch> static void tile(const Int8MatmulArgs&, size_t r0, size_t t0)
// computing rows [r0, r0 + NR) for tokens [t0, t0 + NT), each (row, token) with the same
// instruction sequence whatever NR and NT are, so the walk below never changes a result.
// Also the activation rounding both quantizers share. Include from files compiled with the
// AVX2 flags.
#include "backends/cpu/simd_prelude.h"

#include <algorithm>

#include "backends/cpu/int8_matmul.h"
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

template <class Kernel, int NR, int NT, bool kPrefetch = false>
void rows_tile(const Int8MatmulArgs& a, size_t r_begin, size_t r_end, size_t t0) {
  size_t r = r_begin;
  for (; r + NR <= r_end; r += NR) Kernel::template tile<NR, NT, kPrefetch>(a, r, t0);
  for (; r < r_end; ++r) Kernel::template tile<1, NT, kPrefetch>(a, r, t0);
}

// With several tokens, rows are walked in blocks of about 256 KiB of weights so that a block
// stays in L2 while every token tile passes over it.
inline constexpr size_t kRowBlockBytes = 1 << 18;

// One token (decode): kDecodeRows x 1 tiles that prefetch. Several: per row block, tiles of
// kTileRows x kTileTokens (the first pass over the block prefetches), then the remaining
// tokens one at a time.
template <class Kernel, int kDecodeRows, int kTileRows, int kTileTokens>
void matmul_tiles(const Int8MatmulArgs& a) {
  if (a.row_end <= a.row_begin || a.n_tokens == 0) return;
  if (a.n_tokens == 1) return rows_tile<Kernel, kDecodeRows, 1, true>(a, a.row_begin, a.row_end, 0);
  const size_t block_rows = std::max<size_t>(1, kRowBlockBytes / a.w_row_bytes);
  for (size_t rb = a.row_begin; rb < a.row_end; rb += block_rows) {
    const size_t re = a.row_end - rb < block_rows ? a.row_end : rb + block_rows;
    size_t t0 = 0;
    if (a.n_tokens >= kTileTokens) {
      rows_tile<Kernel, kTileRows, kTileTokens, true>(a, rb, re, 0);
      t0 = kTileTokens;
    } else {
      rows_tile<Kernel, kDecodeRows, 1, true>(a, rb, re, 0);
      t0 = 1;
    }
    for (; t0 + kTileTokens <= a.n_tokens; t0 += kTileTokens) rows_tile<Kernel, kTileRows, kTileTokens>(a, rb, re, t0);
    for (; t0 < a.n_tokens; ++t0) rows_tile<Kernel, kDecodeRows, 1>(a, rb, re, t0);
  }
}

}  // namespace jisu::cpu

#endif
