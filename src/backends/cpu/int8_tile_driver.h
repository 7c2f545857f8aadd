#pragma once
// Loop structure shared by the row-major integer kernels (int8_matmul_avx2.cpp for 32-element
// activation blocks, int8_super_block_matmul_avx2.cpp for 256-element super-blocks). A Kernel
// provides
//   template <int NR, int NT, bool kPrefetch> static void tile(const Int8MatmulArgs&, size_t r0, size_t t0)
// computing rows [r0, r0 + NR) for tokens [t0, t0 + NT), each (row, token) with the same
// instruction sequence whatever NR and NT are, so the walk below never changes a result.
// Include from files compiled with the AVX2 flags.
#include "backends/cpu/simd_prelude.h"

#include <algorithm>

#include "backends/cpu/int8_matmul.h"

#if defined(__AVX2__)

namespace jisu::cpu {

// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)): the lane order of the scalar references.
JISU_AI float reduce_lanes(__m256 v) {
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
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
