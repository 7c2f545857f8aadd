#pragma once
// The order in which the row-major CPU kernels visit (row, token) tiles: the integer kernels
// (int8_matmul_isa.cpp, int8_super_block_matmul_isa.cpp) and the plain float types of
// quant_kernels_isa.cpp. A Kernel provides
//   template <int NR, int NT, bool kPrefetch> static void tile(const Args&, size_t r0, size_t t0)
// computing rows [r0, r0 + NR) for tokens [t0, t0 + NT), each (row, token) with the same
// instruction sequence whatever NR and NT are, so the walk below never changes a result. Args is
// MatmulArgs or Int8MatmulArgs (row_begin, row_end, n_tokens and w_row_bytes are all it reads).
#include <algorithm>
#include <cstddef>

namespace jisu::cpu {

template <class Kernel, int NR, int NT, bool kPrefetch = false, class Args>
void rows_tile(const Args& a, size_t r_begin, size_t r_end, size_t t0) {
  size_t r = r_begin;
  for (; r + NR <= r_end; r += NR) Kernel::template tile<NR, NT, kPrefetch>(a, r, t0);
  for (; r < r_end; ++r) Kernel::template tile<1, NT, kPrefetch>(a, r, t0);
}

// With several tokens, rows are walked in blocks of about 256 KiB of weights so that a block
// stays in L2 while every token tile passes over it.
inline constexpr size_t kRowBlockBytes = 1 << 18;

// Rows of a block: about kRowBlockBytes of weights, a whole number of kTileRows-row tiles so that
// only the end of the slice falls back to 1-row tiles (empty rows, n = 0, count as 1 byte).
// (always_inline: it is compiled into every ISA's kernels, see simd_prelude.h.)
template <int kTileRows>
inline __attribute__((always_inline)) size_t rows_per_block(size_t w_row_bytes) {
  const size_t rows = kRowBlockBytes / std::max<size_t>(1, w_row_bytes) / kTileRows * kTileRows;
  return std::max<size_t>(kTileRows, rows);
}

// Tokens [t0, t0 + count) of rows [r_begin, r_end) in one pass over the rows, count <
// kTileTokens: a kTileRows x count tile shares each weight load between the tokens (a verify
// forward of a few draft tokens, the remainder of a prompt); one token takes the decode tile.
template <class Kernel, int kDecodeRows, int kTileRows, int kTileTokens, bool kPrefetch, class Args>
void remaining_tokens(const Args& a, size_t r_begin, size_t r_end, size_t t0, size_t count) {
  if (count == 1) return rows_tile<Kernel, kDecodeRows, 1, kPrefetch>(a, r_begin, r_end, t0);
  if constexpr (kTileTokens > 2) {
    if (count + 1 < size_t(kTileTokens))
      return remaining_tokens<Kernel, kDecodeRows, kTileRows, kTileTokens - 1, kPrefetch>(a, r_begin, r_end, t0, count);
    rows_tile<Kernel, kTileRows, kTileTokens - 1, kPrefetch>(a, r_begin, r_end, t0);
  }
}

// One token (decode): kDecodeRows x 1 tiles that prefetch. Several: per row block, tiles of
// kTileRows x kTileTokens (the first pass over the block prefetches), then the remaining
// tokens (fewer than kTileTokens) in one more pass, sharing each weight load.
template <class Kernel, int kDecodeRows, int kTileRows, int kTileTokens, class Args>
void matmul_tiles(const Args& a) {
  if (a.row_end <= a.row_begin || a.n_tokens == 0) return;
  if (a.n_tokens == 1) return rows_tile<Kernel, kDecodeRows, 1, true>(a, a.row_begin, a.row_end, 0);
  const size_t block_rows = rows_per_block<kTileRows>(a.w_row_bytes);
  for (size_t rb = a.row_begin; rb < a.row_end; rb += block_rows) {
    const size_t re = a.row_end - rb < block_rows ? a.row_end : rb + block_rows;
    if (a.n_tokens < kTileTokens) {
      remaining_tokens<Kernel, kDecodeRows, kTileRows, kTileTokens, true>(a, rb, re, 0, a.n_tokens);
      continue;
    }
    rows_tile<Kernel, kTileRows, kTileTokens, true>(a, rb, re, 0);
    size_t t0 = kTileTokens;
    for (; t0 + kTileTokens <= a.n_tokens; t0 += kTileTokens)
      rows_tile<Kernel, kTileRows, kTileTokens>(a, rb, re, t0);
    if (t0 < a.n_tokens)
      remaining_tokens<Kernel, kDecodeRows, kTileRows, kTileTokens, false>(a, rb, re, t0, a.n_tokens - t0);
  }
}

}  // namespace jisu::cpu
