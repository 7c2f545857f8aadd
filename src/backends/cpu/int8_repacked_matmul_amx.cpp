// The repacked integer path on AMX tiles (Isa::Avx512Amx): prompt batches of Q8_0, Q4_0 and
// IQ4_NL weights (and the dispatch of Q4_K, Q5_K and Q6_K to int8_repacked_super_block_amx.cpp). Compiled with the AVX-512, VNNI and AMX flags when the compiler has them
// (CMakeLists.txt: JISU_HAVE_AMX_KERNELS); dispatched only after cpu_features found the tile
// state usable.
//
// Arithmetic: exactly the repacked contract (int8_repacked_matmul.h). Per 32-element block b,
// one TDPBSSD multiplies 16 tokens' activation bytes (A: 16 rows x 32 bytes, one contiguous
// 512-byte tile of the activation tiles, int8_activation_tiles.h: the backend's copy made once
// per input, or this thread's own) by two 8-row groups' weights (B: 8 rows of 64
// bytes, row k lane r = elements 4k..4k+3 of weight row r of the pair) into C = the exact int32
// block sums isum_b of 16 tokens x 16 rows. Then, per token, acc = fma(float(isum_b), d_w * x.d,
// acc) in block order: the same float operations as the scalar reference, so the results agree
// bit for bit, and a token's value does not depend on which path (tiles or AVX-512 VNNI) ran it.
//
// Work shape: a group pair (16 rows, one zmm of a token's row accumulators) per pass, tokens in
// tiles of 16. Per group pair the weights are read from memory once into a per-thread buffer of
// B tiles (Q8_0: its two groups' rows side by side; Q4_0 and IQ4_NL: widened to signed bytes)
// and every token tile passes over them from cache, while the next pair's weights are
// prefetched into L2. Within a pass the tile unit runs ahead of the vector units, one block per
// step: a block's sums are stored four blocks after its product and scaled kPostLag blocks
// after it. Tokens past the
// last whole tile of 16, and calls with fewer than 16 tokens (decode, small batches), run the
// AVX-512 VNNI kernels, which win there: a tile pass costs about as much for 1 token as for 16.
#include "backends/cpu/int8_repacked_matmul.h"

#if JISU_HAVE_AMX_KERNELS

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/amx_tiles.h"
#include "backends/cpu/int8_activation_tiles.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_blocks.h"
#include "core/error.h"

namespace jisu::cpu {

namespace avx512_vnni {
void matmul_repacked_int8(const RepackedMatmulArgs& args);
}

namespace amx {
// Q4_K, Q5_K and Q6_K: tokens [0, whole_tokens) on tiles (int8_repacked_super_block_amx.cpp).
void matmul_repacked_super_block_tiles(const RepackedMatmulArgs& args, size_t whole_tokens);
size_t super_block_activation_tiles_bytes(size_t tiles, size_t n);
void prepare_super_block_activation_tiles(const void* xq, size_t stride_bytes, size_t n, size_t tiles, size_t tile_begin,
                                          size_t tile_end, uint8_t* out);

namespace {

constexpr size_t kTileTokens = 16;
static_assert(kTileTokens == kActivationTileTokens);  // one token tile per activation tile
// The zero-masking forms with every lane on: the same instructions, but GCC 12 warns
// (-Wmaybe-uninitialized, a false positive on its _mm512_undefined_*) about the plain ones.
constexpr __mmask16 kAllLanes = 0xffff;

// Tile numbers: two A (activations) and two B (weights) tiles alternate between blocks, and
// four C tiles hold the sums of four blocks in flight while the vector units scale the sums of
// earlier blocks. Macros, not constants: GCC's tile intrinsics paste the number into the
// instruction text.
#define JISU_TILE_A0 0
#define JISU_TILE_A1 1
#define JISU_TILE_B0 2
#define JISU_TILE_B1 3
#define JISU_TILE_C0 4
#define JISU_TILE_C1 5
#define JISU_TILE_C2 6
#define JISU_TILE_C3 7

// Bytes of one block of a group pair as a B tile: 8 rows (K = 32 in fours) of 16 weight rows x 4.
constexpr size_t kPairBlockBytes = 2 * kRepackRows * kQK;
constexpr size_t kPairRowBytes = 4 * 2 * kRepackRows;  // one B tile row: 16 weight rows x 4 bytes
// A block's sums are stored four blocks after its product (its C tile's next use) and read back
// (scaled) at block b + kPostLag: by then the store has left the tile unit, so the
// vector loads do not wait on it (reading them at once stalled every block on the store and
// left the tile unit idle while the vector units scaled).
constexpr size_t kPostLag = 8;
constexpr size_t kSumSlots = 8;  // blocks b - 8 (being scaled) .. b - 4 (being stored) are live
static_assert(kSumSlots >= kPostLag - 4 + 1 && kPostLag >= 4 && kPostLag % 4 == 0);

void configure_tiles() {
  TileConfig config;
  const auto set = [&](int tile, uint8_t rows, uint16_t bytes_per_row) {
    config.rows[tile] = rows;
    config.colsb[tile] = bytes_per_row;
  };
  for (int a : {JISU_TILE_A0, JISU_TILE_A1}) set(a, kTileTokens, kQK);   // 16 tokens x 32 activation bytes
  for (int b : {JISU_TILE_B0, JISU_TILE_B1}) set(b, kQK / 4, kPairRowBytes);  // 8 rows of (16 weight rows x 4 bytes)
  for (int c : {JISU_TILE_C0, JISU_TILE_C1, JISU_TILE_C2, JISU_TILE_C3}) set(c, kTileTokens, kPairRowBytes);  // 16 tokens x 16 int32
  compiler_memory_barrier();  // GCC's ldtilecfg names only the first 8 bytes as its input
  _tile_loadconfig(&config);
}

// A per-thread copy of the activation tiles, for callers that pass none (tests, benchmarks).
const uint8_t* own_activation_tiles(const RepackedMatmulArgs& a, size_t tiles) {
  auto* out = reinterpret_cast<uint8_t*>(thread_buffer<4>(activation_tiles_bytes(tiles, a.n)));
  place_activation_tiles(a.xq, a.xq_stride_bytes, a.n, tiles, 0, tiles, out);
  return out;
}

// Writes group `half`'s (0: the first 8 weight rows, 1: the next 8) signed bytes of every block
// into the pair's B tiles: B row k of block b is at out + b * kPairBlockBytes + k * kPairRowBytes,
// this group's 32 bytes (8 weight rows x 4) at offset 32 * half of it.
// Q8_0: the repacked quants are already B rows (nb blocks of 8 rows of 32 bytes). Used for a
// lone last group; pairs take place_q8_0_pair.
void place_q8_0(const uint8_t* quants, size_t nb, size_t half, int8_t* out) {
  for (size_t b = 0; b < nb; ++b) {
    for (size_t k = 0; k < kQK / 4; ++k) {
      const __m256i row = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + b * kRepackRows * kQK + k * 32));
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + b * kPairBlockBytes + k * kPairRowBytes + 32 * half), row);
    }
  }
}

// Both groups of a Q8_0 pair at once: each 64-byte B row is the two groups' 32-byte rows side
// by side, written with one 64-byte store (two 32-byte stores per row before: the copy took a
// sixth of the kernel's samples).
void place_q8_0_pair(const uint8_t* first, const uint8_t* second, size_t nb, int8_t* out) {
  for (size_t b = 0; b < nb; ++b) {
    for (size_t k = 0; k < kQK / 4; ++k) {
      const size_t at = b * kRepackRows * kQK + k * 32;
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first + at));
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(second + at));
      // The zero-masking forms: the plain ones make GCC 12 warn (kAllLanes above).
      const __m512i row = _mm512_maskz_inserti64x4(0xff, _mm512_maskz_broadcast_i64x4(0xff, lo), hi, 1);
      _mm512_store_si512(out + b * kPairBlockBytes + k * kPairRowBytes, row);
    }
  }
}

// 4-bit quants (nb blocks of 4 vectors of 32 bytes): vector k's low nibbles are B row k, its
// high nibbles B row 4 + k (int8_repacked_weights.h). Q4_0: nibble - 8; IQ4_NL: the table value.
template <bool kTable>
void place_nibbles(const uint8_t* quants, size_t nb, size_t half, int8_t* out) {
  const __m256i mask = _mm256_set1_epi8(15);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl)));
  for (size_t b = 0; b < nb; ++b) {
    int8_t* block = out + b * kPairBlockBytes + 32 * half;
    for (size_t k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + b * 128 + 32 * k));
      __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
      if constexpr (kTable) {
        lo = _mm256_shuffle_epi8(table, lo);
        hi = _mm256_shuffle_epi8(table, hi);
      } else {
        lo = _mm256_sub_epi8(lo, eight);
        hi = _mm256_sub_epi8(hi, eight);
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(block + k * kPairRowBytes), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(block + (4 + k) * kPairRowBytes), hi);
    }
  }
}

// Tokens [t0, t0 + 16) of groups g and g + 1 (or g alone: pair false, the second group's
// bytes in `weights` are zero). weights: the pair's blocks as B tiles (kPairBlockBytes apart);
// scales[i]: group i's fp16 scales (8 per block); a_tiles, a_scales: the token tile's A tiles
// and activation scales (int8_activation_tiles.h).
void group_pair_tile(const RepackedMatmulArgs& a, size_t g, bool pair, const int8_t* weights,
                     const uint8_t* const scales[2], size_t t0, const int8_t* a_tiles, const float* a_scales,
                     const uint8_t* prefetch, size_t prefetch_lines) {
  const size_t nb = a.n / kQK;
  // prefetch_lines lines from `prefetch` (the next pair's weights) into L2, spread over the blocks.
  const auto prefetch_for_block = [&](size_t b) {
    const size_t per_block = (prefetch_lines + nb - 1) / nb;
    for (size_t i = b * per_block; i < std::min(prefetch_lines, (b + 1) * per_block); ++i)
      _mm_prefetch(reinterpret_cast<const char*>(prefetch + 64 * i), _MM_HINT_T1);
  };
  alignas(64) int32_t sums[kSumSlots][kTileTokens][2 * kRepackRows];  // slot: block % kSumSlots
  // The 16 tokens' row accumulators as 16 named variables, not an array: GCC kept an array in
  // memory and stored all 16 after every block's scaling (1 KiB of stores per block).
#define JISU_FOR_TOKENS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
  static_assert(kTileTokens == 16);
#define JISU_DECLARE_ACC(t) __m512 acc##t = _mm512_setzero_ps();
  JISU_FOR_TOKENS(JISU_DECLARE_ACC)
#undef JISU_DECLARE_ACC
  // acc[t] += float(sum) * (d_w * d_x) for block b, in block order as the scalar reference does.
  const auto scale_block = [&](size_t b) {
    __m256i halves = _mm256_castsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(scales[0] + b * 2 * kRepackRows)));
    if (pair) halves = _mm256_inserti128_si256(halves, _mm_load_si128(reinterpret_cast<const __m128i*>(scales[1] + b * 2 * kRepackRows)), 1);
    const __m512 dw = _mm512_maskz_cvtph_ps(kAllLanes, halves);
    const auto& block_sums = sums[b % kSumSlots];
    const float* dx = a_scales + b * kTileTokens;
#define JISU_SCALE_TOKEN(t)                                                                              \
  acc##t = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(kAllLanes, _mm512_load_si512(block_sums[t])),       \
                           _mm512_mul_ps(dw, _mm512_set1_ps(dx[t])), acc##t);
    JISU_FOR_TOKENS(JISU_SCALE_TOKEN)
#undef JISU_SCALE_TOKEN
  };
  const long stride = kQK;
// Block `blk`'s products on tiles TA, TB into TC, stored to its sums slot.
#define JISU_BLOCK_PRODUCT(TA, TB, TC, blk)                                          \
  _tile_loadd(TA, a_tiles + (blk) * kActivationTileBytes, stride);                \
  _tile_loadd(TB, weights + (blk) * kPairBlockBytes, kPairRowBytes);                 \
  _tile_zero(TC);                                                                    \
  _tile_dpbssd(TC, TA, TB)
#define JISU_BLOCK_STORE(TC, blk) JISU_TILE_STORE_TO(TC, sums[(blk) % kSumSlots], sizeof sums[0][0])
  // One step per block b: store block b - 4's sums from the C tile that b reuses (its product
  // was issued four steps ago, so the store rarely waits), issue b's product, and scale block
  // b - kPostLag (stored four steps ago). Products, stores and the scaling of one block
  // alternate block by block, so the tile unit and the vector units overlap; issuing four
  // products, then scaling four blocks, then storing four left them mostly taking turns
  // (a microbenchmark of this loop: 31 -> 23 ns per block and token tile).
#define JISU_BLOCK_STEP(TA, TB, TC, blk)            \
  JISU_BLOCK_STORE(TC, (blk) - 4);                   \
  JISU_BLOCK_PRODUCT(TA, TB, TC, blk);               \
  scale_block((blk) - kPostLag);                     \
  prefetch_for_block(blk)
  size_t b = 0;
  // Blocks 0 .. kPostLag - 1: nothing to scale before them yet (12 measured no faster than 8).
  if (nb >= kPostLag) {
    JISU_BLOCK_PRODUCT(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C0, 0);
    JISU_BLOCK_PRODUCT(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C1, 1);
    JISU_BLOCK_PRODUCT(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C2, 2);
    JISU_BLOCK_PRODUCT(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C3, 3);
    for (b = 4; b < kPostLag; b += 4) {
      JISU_BLOCK_STORE(JISU_TILE_C0, b - 4); JISU_BLOCK_PRODUCT(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C0, b);
      JISU_BLOCK_STORE(JISU_TILE_C1, b - 3); JISU_BLOCK_PRODUCT(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C1, b + 1);
      JISU_BLOCK_STORE(JISU_TILE_C2, b - 2); JISU_BLOCK_PRODUCT(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C2, b + 2);
      JISU_BLOCK_STORE(JISU_TILE_C3, b - 1); JISU_BLOCK_PRODUCT(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C3, b + 3);
    }
    for (size_t i = 0; i < kPostLag; ++i) prefetch_for_block(i);
  }
  for (; b + 4 <= nb && b >= kPostLag; b += 4) {
    JISU_BLOCK_STEP(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C0, b);
    JISU_BLOCK_STEP(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C1, b + 1);
    JISU_BLOCK_STEP(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C2, b + 2);
    JISU_BLOCK_STEP(JISU_TILE_A1, JISU_TILE_B1, JISU_TILE_C3, b + 3);
  }
  // The four blocks still on C tiles (block j on C tile j % 4), the scaling of every stored
  // block, then the last nb % 4 blocks one at a time.
  const size_t whole = b;
  if (whole >= 4) {
    JISU_BLOCK_STORE(JISU_TILE_C0, whole - 4);
    JISU_BLOCK_STORE(JISU_TILE_C1, whole - 3);
    JISU_BLOCK_STORE(JISU_TILE_C2, whole - 2);
    JISU_BLOCK_STORE(JISU_TILE_C3, whole - 1);
  }
  for (size_t j = whole < kPostLag ? 0 : whole - kPostLag; j < whole; ++j) scale_block(j);
  for (; b < nb; ++b) {
    JISU_BLOCK_PRODUCT(JISU_TILE_A0, JISU_TILE_B0, JISU_TILE_C0, b);
    JISU_BLOCK_STORE(JISU_TILE_C0, b);
    scale_block(b);
  }
#undef JISU_BLOCK_STEP
#undef JISU_BLOCK_PRODUCT
#undef JISU_BLOCK_STORE
  const __mmask16 columns = pair ? 0xffff : 0x00ff;
#define JISU_STORE_ACC(t) _mm512_mask_storeu_ps(a.y + (t0 + t) * a.y_stride + g * kRepackRows, columns, acc##t);
  JISU_FOR_TOKENS(JISU_STORE_ACC)
#undef JISU_STORE_ACC
#undef JISU_FOR_TOKENS
}

void tiles(const RepackedMatmulArgs& a, size_t whole_tokens) {
  const size_t nb = a.n / kQK;
  const size_t quant_bytes = repacked_quant_bytes(a.type);
  int8_t* weights = thread_buffer<0>(nb * kPairBlockBytes);  // a group pair's blocks as B tiles
  const size_t n_tiles = whole_tokens / kTileTokens;
  const bool given = a.xq_tiles != nullptr && a.xq_tile_count >= n_tiles;
  const size_t tiles_total = given ? a.xq_tile_count : n_tiles;
  const uint8_t* activation_tiles = given ? a.xq_tiles : own_activation_tiles(a, n_tiles);
  configure_tiles();
  const size_t g_end = a.row_end / kRepackRows;
  for (size_t g = a.row_begin / kRepackRows; g < g_end; g += 2) {
    const bool pair = g + 1 < g_end;
    const uint8_t* scales[2] = {nullptr, nullptr};
    if (!pair) std::memset(weights, 0, nb * kPairBlockBytes);  // the missing group's sums stay 0
    for (size_t i = 0; i < (pair ? 2u : 1u); ++i) {
      const uint8_t* quants = a.w + (g + i) * a.group_bytes;
      scales[i] = quants + nb * quant_bytes;
      if (a.type == DType::Q8_0 && pair) {
        if (i == 0) place_q8_0_pair(quants, quants + a.group_bytes, nb, weights);
      } else if (a.type == DType::Q8_0) {
        place_q8_0(quants, nb, i, weights);
      } else if (a.type == DType::IQ4_NL) {
        place_nibbles<true>(quants, nb, i, weights);
      } else {
        place_nibbles<false>(quants, nb, i, weights);
      }
    }
    compiler_memory_barrier();
    // The next pair's weights (in this task's rows), prefetched into L2 a share per token tile:
    // placing them then reads L2, not DRAM (pp128 from DRAM, kernel bench: about 1.15x).
    const size_t next_groups = g + 2 < g_end ? std::min<size_t>(2, g_end - g - 2) : 0;
    const uint8_t* next = next_groups > 0 ? a.w + (g + 2) * a.group_bytes : nullptr;
    const size_t lines = next_groups * a.group_bytes / 64;
    const size_t lines_per_tile = (lines + n_tiles - 1) / n_tiles;
    for (size_t tile = 0; tile < n_tiles; ++tile) {
      const size_t first = std::min(lines, tile * lines_per_tile);
      const size_t count = std::min(lines_per_tile, lines - first);
      group_pair_tile(a, g, pair, weights, scales, tile * kTileTokens, activation_tile_quants(activation_tiles, a.n, tile),
                      activation_tile_scales(activation_tiles, tiles_total, a.n, tile), next + 64 * first, count);
    }
  }
  _tile_release();
}

}  // namespace

bool block_tile_type(DType type) { return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::IQ4_NL; }
bool super_block_tile_type(DType type) { return type == DType::Q4_K || type == DType::Q5_K || type == DType::Q6_K; }

size_t repacked_activation_tiles_bytes(DType type, size_t tiles, size_t n) {
  if (block_tile_type(type)) return activation_tiles_bytes(tiles, n);
  if (super_block_tile_type(type)) return super_block_activation_tiles_bytes(tiles, n);
  return 0;
}

void prepare_repacked_activation_tiles(DType type, const void* xq, size_t stride_bytes, size_t n, size_t tiles,
                                       size_t tile_begin, size_t tile_end, uint8_t* out) {
  if (block_tile_type(type))
    place_activation_tiles(xq, stride_bytes, n, tiles, tile_begin, tile_end, out);
  else
    prepare_super_block_activation_tiles(xq, stride_bytes, n, tiles, tile_begin, tile_end, out);
}

void matmul_repacked_int8(const RepackedMatmulArgs& a) {
  const bool block_type = block_tile_type(a.type), super_block_type = super_block_tile_type(a.type);
  const size_t whole_tokens = a.n_tokens / kTileTokens * kTileTokens;
  if (!(block_type || super_block_type) || whole_tokens == 0 || a.row_end <= a.row_begin)
    return avx512_vnni::matmul_repacked_int8(a);
  if (block_type) tiles(a, whole_tokens);
  else matmul_repacked_super_block_tiles(a, whole_tokens);
  if (whole_tokens == a.n_tokens) return;
  RepackedMatmulArgs rest = a;
  rest.xq = static_cast<const uint8_t*>(a.xq) + whole_tokens * a.xq_stride_bytes;
  rest.y = a.y + whole_tokens * a.y_stride;
  rest.n_tokens = a.n_tokens - whole_tokens;
  rest.xq_tiles = nullptr;
  rest.xq_tile_count = 0;
  avx512_vnni::matmul_repacked_int8(rest);
}

}  // namespace amx
}  // namespace jisu::cpu

#endif  // JISU_HAVE_AMX_KERNELS
