// The repacked integer path on AMX tiles (Isa::Avx512Amx): prompt batches of Q8_0, Q4_0 and
// IQ4_NL weights. Compiled with the AVX-512, VNNI and AMX flags when the compiler has them
// (CMakeLists.txt: JISU_HAVE_AMX_KERNELS); dispatched only after cpu_features found the tile
// state usable.
//
// Arithmetic: exactly the repacked contract (int8_repacked_matmul.h). Per 32-element block b,
// one TDPBSSD multiplies 16 tokens' activation bytes (A: 16 rows x 32 bytes, straight from the
// ActivationBlock rows, xq_stride_bytes apart) by one 8-row group's weights (B: 8 rows of 32
// bytes, row k lane r = elements 4k..4k+3 of weight row r, which is the repacked Q8_0 layout
// as it is; Q4_0 and IQ4_NL are widened to signed bytes first) into C = the exact int32 block
// sums isum_b of 16 tokens x 8 rows. Then, per token, acc = fma(float(isum_b), d_w * x.d, acc)
// in block order: the same float operations as the scalar reference, so the results agree bit
// for bit, and a token's value does not depend on which path (tiles or AVX-512 VNNI) ran it.
//
// Work shape: two groups (16 rows, two C tiles) per pass, so one zmm holds a token's 16 row
// accumulators; tokens in tiles of 16. Per group pair the weights are read from memory once
// (Q4_0 and IQ4_NL: widened once into a per-thread buffer) and every token tile passes over
// them from cache. Tokens past the last whole tile of 16, and calls with fewer than 16 tokens
// (decode, small batches), run the AVX-512 VNNI kernels, which win there: a tile pass costs
// about as much for 1 token as for 16.
#include "backends/cpu/int8_repacked_matmul.h"

#if JISU_HAVE_AMX_KERNELS

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_blocks.h"
#include "core/error.h"

namespace jisu::cpu {

namespace avx512_vnni {
void matmul_repacked_int8(const RepackedMatmulArgs& args);
}

namespace amx {
namespace {

constexpr size_t kTileTokens = 16;
// The zero-masking forms with every lane on: the same instructions, but GCC 12 warns
// (-Wmaybe-uninitialized, a false positive on its _mm512_undefined_*) about the plain ones.
constexpr __mmask16 kAllLanes = 0xffff;
constexpr size_t kBlockWeightBytes = kRepackRows * kQK;  // one group's block as signed bytes (B)

// Tile numbers: A (activations), B0 / B1 (the two groups' weights), C0 / C1 (their sums).
// Macros, not constants: GCC's tile intrinsics paste the number into the instruction text.
#define JISU_TILE_A 0
#define JISU_TILE_B0 1
#define JISU_TILE_B1 2
#define JISU_TILE_C0 3
#define JISU_TILE_C1 4

// LDTILECFG's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// GCC's tileloadd has no memory clobber: without a barrier, stores to the widened weights could
// be moved past the tile loads that read them.
inline void compiler_memory_barrier() { __asm__ volatile("" ::: "memory"); }

void configure_tiles() {
  TileConfig config;
  const auto set = [&](int tile, uint8_t rows, uint16_t bytes_per_row) {
    config.rows[tile] = rows;
    config.colsb[tile] = bytes_per_row;
  };
  set(JISU_TILE_A, kTileTokens, kQK);                  // 16 tokens x 32 activation bytes
  set(JISU_TILE_B0, kQK / 4, 4 * kRepackRows);         // 8 rows of (8 weight rows x 4 bytes)
  set(JISU_TILE_B1, kQK / 4, 4 * kRepackRows);
  set(JISU_TILE_C0, kTileTokens, 4 * kRepackRows);     // 16 tokens x 8 int32
  set(JISU_TILE_C1, kTileTokens, 4 * kRepackRows);
  compiler_memory_barrier();  // GCC's ldtilecfg names only the first 8 bytes as its input
  _tile_loadconfig(&config);
}

// Per-thread buffer of widened weights (two groups), grown to the longest row seen; a model
// grows it once, at its first prompt.
struct AlignedDelete {
  void operator()(int8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

int8_t* widened_buffer(size_t bytes) {
  thread_local std::unique_ptr<int8_t[], AlignedDelete> buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    buffer.reset(new (std::align_val_t(64)) int8_t[bytes]);
    capacity = bytes;
  }
  return buffer.get();
}

// One group's repacked 4-bit quants (nb blocks of 4 vectors of 32 bytes) as B tiles of signed
// bytes: vector k's low nibbles are B row k, its high nibbles B row 4 + k (int8_repacked_weights.h).
// Q4_0: nibble - 8; IQ4_NL: the table value.
template <bool kTable>
void widen_nibbles(const uint8_t* quants, size_t nb, int8_t* out) {
  const __m512i mask = _mm512_set1_epi8(15);
  const __m512i eight = _mm512_set1_epi8(8);
  const __m512i table = _mm512_maskz_broadcast_i32x4(kAllLanes, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl)));
  for (size_t b = 0; b < nb; ++b) {
    for (size_t half = 0; half < 2; ++half) {  // vectors 2 * half, 2 * half + 1
      const __m512i v = _mm512_load_si512(quants + b * 128 + 64 * half);
      __m512i lo = _mm512_and_si512(v, mask), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
      if constexpr (kTable) {
        lo = _mm512_shuffle_epi8(table, lo);
        hi = _mm512_shuffle_epi8(table, hi);
      } else {
        lo = _mm512_sub_epi8(lo, eight);
        hi = _mm512_sub_epi8(hi, eight);
      }
      _mm512_store_si512(out + b * kBlockWeightBytes + 64 * half, lo);
      _mm512_store_si512(out + b * kBlockWeightBytes + 128 + 64 * half, hi);
    }
  }
}

// Tokens [t0, t0 + 16) of groups g and g + 1 (or g alone: pair false). weights[i]: group i's
// blocks as B tiles (kBlockWeightBytes apart); scales[i]: its fp16 scales (8 per block).
void group_pair_tile(const RepackedMatmulArgs& a, size_t g, bool pair, const int8_t* const weights[2],
                     const uint8_t* const scales[2], size_t t0) {
  const size_t nb = a.n / kQK;
  const auto* x0 = static_cast<const uint8_t*>(a.xq) + t0 * a.xq_stride_bytes;
  alignas(64) int32_t sums[kTileTokens][2 * kRepackRows];  // row t: C0 row t, then C1 row t
  if (!pair) std::memset(sums, 0, sizeof sums);             // C1's half stays 0
  __m512 acc[kTileTokens];
  for (auto& v : acc) v = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const auto* block = reinterpret_cast<const ActivationBlock*>(x0) + b;
    _tile_loadd(JISU_TILE_A, block->qs, static_cast<long>(a.xq_stride_bytes));
    _tile_loadd(JISU_TILE_B0, weights[0] + b * kBlockWeightBytes, 4 * kRepackRows);
    _tile_zero(JISU_TILE_C0);
    _tile_dpbssd(JISU_TILE_C0, JISU_TILE_A, JISU_TILE_B0);
    _tile_stored(JISU_TILE_C0, &sums[0][0], sizeof sums[0]);
    __m256i halves = _mm256_castsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(scales[0] + b * 2 * kRepackRows)));
    if (pair) {
      _tile_loadd(JISU_TILE_B1, weights[1] + b * kBlockWeightBytes, 4 * kRepackRows);
      _tile_zero(JISU_TILE_C1);
      _tile_dpbssd(JISU_TILE_C1, JISU_TILE_A, JISU_TILE_B1);
      _tile_stored(JISU_TILE_C1, &sums[0][kRepackRows], sizeof sums[0]);
      halves = _mm256_inserti128_si256(halves, _mm_load_si128(reinterpret_cast<const __m128i*>(scales[1] + b * 2 * kRepackRows)), 1);
    }
    const __m512 dw = _mm512_maskz_cvtph_ps(kAllLanes, halves);
    for (size_t t = 0; t < kTileTokens; ++t) {
      const float dx = reinterpret_cast<const ActivationBlock*>(x0 + t * a.xq_stride_bytes)[b].d;
      acc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(kAllLanes, _mm512_load_si512(sums[t])), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[t]);
    }
  }
  const __mmask16 columns = pair ? 0xffff : 0x00ff;
  for (size_t t = 0; t < kTileTokens; ++t) _mm512_mask_storeu_ps(a.y + (t0 + t) * a.y_stride + g * kRepackRows, columns, acc[t]);
}

void tiles(const RepackedMatmulArgs& a, size_t whole_tokens) {
  const size_t nb = a.n / kQK;
  const size_t quant_bytes = repacked_quant_bytes(a.type);
  int8_t* widened = a.type == DType::Q8_0 ? nullptr : widened_buffer(2 * nb * kBlockWeightBytes);
  configure_tiles();
  const size_t g_end = a.row_end / kRepackRows;
  for (size_t g = a.row_begin / kRepackRows; g < g_end; g += 2) {
    const bool pair = g + 1 < g_end;
    const int8_t* weights[2] = {nullptr, nullptr};
    const uint8_t* scales[2] = {nullptr, nullptr};
    for (size_t i = 0; i < (pair ? 2u : 1u); ++i) {
      const uint8_t* quants = a.w + (g + i) * a.group_bytes;
      scales[i] = quants + nb * quant_bytes;
      if (a.type == DType::Q8_0) {
        weights[i] = reinterpret_cast<const int8_t*>(quants);
      } else {
        int8_t* out = widened + i * nb * kBlockWeightBytes;
        a.type == DType::IQ4_NL ? widen_nibbles<true>(quants, nb, out) : widen_nibbles<false>(quants, nb, out);
        weights[i] = out;
      }
    }
    compiler_memory_barrier();
    for (size_t t0 = 0; t0 < whole_tokens; t0 += kTileTokens) group_pair_tile(a, g, pair, weights, scales, t0);
  }
  _tile_release();
}

}  // namespace

void matmul_repacked_int8(const RepackedMatmulArgs& a) {
  const bool tile_type = a.type == DType::Q8_0 || a.type == DType::Q4_0 || a.type == DType::IQ4_NL;
  const size_t whole_tokens = a.n_tokens / kTileTokens * kTileTokens;
  if (!tile_type || whole_tokens == 0 || a.row_end <= a.row_begin) return avx512_vnni::matmul_repacked_int8(a);
  tiles(a, whole_tokens);
  if (whole_tokens == a.n_tokens) return;
  RepackedMatmulArgs rest = a;
  rest.xq = static_cast<const uint8_t*>(a.xq) + whole_tokens * a.xq_stride_bytes;
  rest.y = a.y + whole_tokens * a.y_stride;
  rest.n_tokens = a.n_tokens - whole_tokens;
  avx512_vnni::matmul_repacked_int8(rest);
}

}  // namespace amx
}  // namespace jisu::cpu

#endif  // JISU_HAVE_AMX_KERNELS
