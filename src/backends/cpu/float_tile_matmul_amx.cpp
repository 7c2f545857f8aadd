// F16 / BF16 prompt matmuls on AMX-BF16 tiles (float_tile_matmul.h has the arithmetic).
// Compiled with the AVX-512, AVX512-BF16 and AMX flags when the compiler has them
// (CMakeLists.txt: JISU_HAVE_AMX_KERNELS); in the table only for Isa::Avx512Amx, which
// cpu_features grants only when AMX-BF16 and AVX512-BF16 are there and the tile state usable.
//
// Tiles: A = 16 weight rows x 32 elements (row-major bf16, so the weight split needs no
// shuffle), B = the split activations of 16 tokens in pair layout (made once per linear input),
// C = 16 weight rows x 16 tokens in fp32, transposed into y when the step loop ends.
// Work shape per task: 32 weight rows (two A row tiles) at a time, in chunks of 256 elements
// converted from the file's f16/bf16 into a per-thread buffer of hi and lo tiles (L1), then
// every token tile against the chunk: per 32-element step two B loads and, per row tile,
// Wh xh + Wh xl (+ Wl xh for F16) into its C tile, the sums kept in memory between chunks.
// Rows past row_end and tokens past n_tokens are computed as zeros and never stored, so any
// row range and token count works (the backend calls it with 16+ tokens).
#include "backends/cpu/float_tile_matmul.h"

#if JISU_HAVE_AMX_KERNELS

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/amx_tiles.h"

namespace jisu::cpu::amx {
namespace {

constexpr size_t kTileBytes = 1024;  // 16 rows x 64 bytes, every tile of this kernel
constexpr size_t kTileElements = kTileBytes / 2;
constexpr size_t kRowTile = 16;
// The zero-masking forms with every lane on: the same instructions, but GCC 12 warns
// (-Wmaybe-uninitialized, a false positive on its _mm512_undefined_*) about the plain ones.
constexpr __mmask16 kAllLanes = 0xffff;
constexpr __mmask8 kAllQuads = 0xff;
// Dword offsets of column j of a 16 x 16 dword matrix: 16 i + j for lane i (add j).
alignas(64) constexpr int32_t kColumnOffsets[16] = {0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240};
inline __m512i column_index(size_t j) {
  return _mm512_maskz_add_epi32(kAllLanes, _mm512_load_si512(kColumnOffsets), _mm512_set1_epi32(static_cast<int>(j)));
}
inline __m256i lower_half(__m512i v) { return _mm512_maskz_extracti64x4_epi64(kAllQuads, v, 0); }
inline __m256i upper_half(__m512i v) { return _mm512_maskz_extracti64x4_epi64(kAllQuads, v, 1); }
inline __m512 widen_bf16(__m256i v) {
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAllLanes, _mm512_maskz_cvtepu16_epi32(kAllLanes, v), 16));
}

#define JISU_FT_C0 0
#define JISU_FT_C1 1
#define JISU_FT_XH 2
#define JISU_FT_XL 3
#define JISU_FT_WH0 4
#define JISU_FT_WL0 5
#define JISU_FT_WH1 6
#define JISU_FT_WL1 7

void configure_tiles() {
  TileConfig config;
  for (int tile = 0; tile < 8; ++tile) {
    config.rows[tile] = 16;
    config.colsb[tile] = 64;
  }
  compiler_memory_barrier();
  _tile_loadconfig(&config);
}

// 32 floats (lo: elements 0..15, hi: 16..31) as bf16 hi parts and bf16 residuals.
inline void split32(__m512 lo, __m512 hi, __m512i& high_part, __m512i& low_part) {
  const __m512bh h = _mm512_cvtne2ps_pbh(hi, lo);
  const __m512i hbits = reinterpret_cast<const __m512i&>(h);
  const __m512 h_lo = widen_bf16(lower_half(hbits));
  const __m512 h_hi = widen_bf16(upper_half(hbits));
  const __m512bh l = _mm512_cvtne2ps_pbh(_mm512_maskz_sub_ps(kAllLanes, hi, h_hi), _mm512_maskz_sub_ps(kAllLanes, lo, h_lo));
  high_part = hbits;
  low_part = reinterpret_cast<const __m512i&>(l);
}

inline __mmask32 element_mask(size_t k, size_t n) {
  const size_t left = n - k;
  return left >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint64_t{1} << left) - 1);
}

// Steps [b0, b0 + steps) of weight rows [r0, r0 + 16) (rows at or past row_end are zero) into
// hi / lo A tiles: step s's hi tile at out + 2 s * kTileElements, its lo tile right after (F16
// only; BF16 weights are exact in bf16, their lo tiles are never read).
template <bool kF16>
void convert_weight_chunk(const MatmulArgs& a, size_t r0, size_t b0, size_t steps, uint16_t* out) {
  for (size_t i = 0; i < kRowTile; ++i) {
    uint16_t* tile_row = out + i * 32;
    if (r0 + i >= a.row_end) {
      for (size_t s = 0; s < 2 * steps; ++s) _mm512_store_si512(tile_row + s * kTileElements, _mm512_setzero_si512());
      continue;
    }
    const auto* row = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes);
    for (size_t s = 0; s < steps; ++s) {
      const size_t k = (b0 + s) * kFloatTileK;
      const __m512i raw = _mm512_maskz_loadu_epi16(element_mask(k, a.n), row + k);
      if constexpr (kF16) {
        __m512i high_part, low_part;
        split32(_mm512_maskz_cvtph_ps(kAllLanes, lower_half(raw)), _mm512_maskz_cvtph_ps(kAllLanes, upper_half(raw)),
                high_part, low_part);
        _mm512_store_si512(tile_row + 2 * s * kTileElements, high_part);
        _mm512_store_si512(tile_row + (2 * s + 1) * kTileElements, low_part);
      } else {
        _mm512_store_si512(tile_row + 2 * s * kTileElements, raw);
      }
    }
  }
}

// C (16 weight rows x 16 tokens) into y[t0 + c][r0 + i] for the rows < row_end and tokens < n_tokens.
void store_transposed(const MatmulArgs& a, const float* c, size_t r0, size_t t0) {
  const size_t rows = a.row_end - r0 < 16 ? a.row_end - r0 : 16;
  const size_t tokens = a.n_tokens - t0 < 16 ? a.n_tokens - t0 : 16;
  const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
  for (size_t t = 0; t < tokens; ++t) {
    const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), kAllLanes, column_index(t), c, 4);
    _mm512_mask_storeu_ps(a.y + (t0 + t) * a.y_stride + r0, row_mask, v);
  }
}

// Rows [r0, r0 + 32) are worked in chunks of kChunkSteps steps (256 elements): the chunk's
// converted weights (32 KB for a pair of F16 row tiles) stay in L1 while every token tile
// passes over them, each tile's sums kept in memory between chunks. Converting whole rows
// first (256 KB for a 2048-element pair) left every tile load of the weights to L2.
constexpr size_t kChunkSteps = 8;

// Brings the weights of the next chunk (the next row pair's first one after the last chunk;
// past the task's rows too: the next task, often this thread's, starts there, and a prefetch
// never faults) toward the core while the tiles work on this one, a few cache lines per step:
// converted from memory, the conversion stalled on every load (perf: 58 % of its samples).
class NextChunkPrefetch {
 public:
  NextChunkPrefetch(const MatmulArgs& a, size_t r0, size_t b0, size_t token_steps) : row_bytes_(a.w_row_bytes) {
    const size_t nb = (a.n + kFloatTileK - 1) / kFloatTileK;
    size_t next_b = b0 + kChunkSteps;
    if (next_b >= nb) {
      r0 += 2 * kRowTile;
      next_b = 0;
    }
    const size_t steps = nb - next_b < kChunkSteps ? nb - next_b : kChunkSteps;
    base_ = static_cast<const char*>(a.w) + r0 * a.w_row_bytes + 64 * next_b;
    row_lines_ = steps;  // one 64-byte line per step of 32 f16 / bf16
    per_step_ = (2 * kRowTile * row_lines_ + token_steps - 1) / token_steps;
  }
  void step() {
    for (size_t i = 0; i < per_step_ && row_ < 2 * kRowTile; ++i) {
      _mm_prefetch(base_ + row_ * row_bytes_ + 64 * line_, _MM_HINT_T0);
      if (++line_ == row_lines_) {
        line_ = 0;
        ++row_;
      }
    }
  }

 private:
  const char* base_;
  size_t row_bytes_, row_lines_ = 0, per_step_ = 0;
  size_t row_ = 0, line_ = 0;
};

template <bool kF16, bool kPair>
void row_pair(const MatmulArgs& a, const uint16_t* split_x, uint16_t* weights, float* sums, size_t r0) {
  const size_t nb = (a.n + kFloatTileK - 1) / kFloatTileK;
  const size_t tile_elements = split_tile_elements(a.n);
  const size_t n_tiles = (a.n_tokens + kFloatTileTokens - 1) / kFloatTileTokens;
  uint16_t* w0 = weights;
  uint16_t* w1 = weights + 2 * kChunkSteps * kTileElements;
  for (size_t b0 = 0; b0 < nb; b0 += kChunkSteps) {
    const size_t steps = nb - b0 < kChunkSteps ? nb - b0 : kChunkSteps;
    const bool first = b0 == 0, last = b0 + steps == nb;
    convert_weight_chunk<kF16>(a, r0, b0, steps, w0);
    if constexpr (kPair) convert_weight_chunk<kF16>(a, r0 + kRowTile, b0, steps, w1);
    compiler_memory_barrier();
    NextChunkPrefetch prefetch(a, r0, b0, n_tiles * steps);
    for (size_t i = 0; i < n_tiles; ++i) {
      const uint16_t* x = split_x + i * tile_elements + 2 * b0 * kTileElements;
      float* c0 = sums + 2 * i * 256;
      float* c1 = c0 + 256;
      if (first) {
        _tile_zero(JISU_FT_C0);
        if constexpr (kPair) _tile_zero(JISU_FT_C1);
      } else {
        _tile_loadd(JISU_FT_C0, c0, 64);
        if constexpr (kPair) _tile_loadd(JISU_FT_C1, c1, 64);
      }
      for (size_t s = 0; s < steps; ++s) {
        prefetch.step();
        _tile_loadd(JISU_FT_XH, x + 2 * s * kTileElements, 64);
        _tile_loadd(JISU_FT_XL, x + (2 * s + 1) * kTileElements, 64);
        _tile_loadd(JISU_FT_WH0, w0 + 2 * s * kTileElements, 64);
        if constexpr (kPair) _tile_loadd(JISU_FT_WH1, w1 + 2 * s * kTileElements, 64);
        _tile_dpbf16ps(JISU_FT_C0, JISU_FT_WH0, JISU_FT_XH);
        if constexpr (kPair) _tile_dpbf16ps(JISU_FT_C1, JISU_FT_WH1, JISU_FT_XH);
        _tile_dpbf16ps(JISU_FT_C0, JISU_FT_WH0, JISU_FT_XL);
        if constexpr (kPair) _tile_dpbf16ps(JISU_FT_C1, JISU_FT_WH1, JISU_FT_XL);
        if constexpr (kF16) {
          _tile_loadd(JISU_FT_WL0, w0 + (2 * s + 1) * kTileElements, 64);
          if constexpr (kPair) _tile_loadd(JISU_FT_WL1, w1 + (2 * s + 1) * kTileElements, 64);
          _tile_dpbf16ps(JISU_FT_C0, JISU_FT_WL0, JISU_FT_XH);
          if constexpr (kPair) _tile_dpbf16ps(JISU_FT_C1, JISU_FT_WL1, JISU_FT_XH);
        }
      }
      _tile_stored(JISU_FT_C0, c0, 64);
      if constexpr (kPair) _tile_stored(JISU_FT_C1, c1, 64);
      if (last) {
        compiler_memory_barrier();
        store_transposed(a, c0, r0, i * kFloatTileTokens);
        if constexpr (kPair) store_transposed(a, c1, r0 + kRowTile, i * kFloatTileTokens);
      }
    }
    compiler_memory_barrier();  // the next chunk's conversion overwrites the weight tiles
  }
}

template <bool kF16>
void matmul(const MatmulArgs& a, const uint16_t* split_x) {
  // Per-thread buffers (amx_tiles.h slots 5 and 6): a chunk's weight tiles, the token tiles' sums.
  auto* weights = reinterpret_cast<uint16_t*>(thread_buffer<5>(2 * 2 * kChunkSteps * kTileElements * sizeof(uint16_t)));
  auto* sums = reinterpret_cast<float*>(thread_buffer<6>((a.n_tokens + kFloatTileTokens - 1) / kFloatTileTokens * 2 * 256 * sizeof(float)));
  configure_tiles();
  for (size_t r0 = a.row_begin; r0 < a.row_end; r0 += 2 * kRowTile) {
    if (r0 + kRowTile < a.row_end)
      row_pair<kF16, true>(a, split_x, weights, sums, r0);
    else
      row_pair<kF16, false>(a, split_x, weights, sums, r0);
  }
  _tile_release();
}

}  // namespace

void split_activations_bf16(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile) {
  const size_t nb = (n + kFloatTileK - 1) / kFloatTileK;
  alignas(64) uint32_t hi[16][16], lo[16][16];  // [token][pair]
  for (size_t b = 0; b < nb; ++b) {
    const size_t k = b * kFloatTileK;
    const __mmask32 mask = element_mask(k, n);
    for (size_t c = 0; c < 16; ++c) {
      __m512i high_part = _mm512_setzero_si512(), low_part = _mm512_setzero_si512();
      if (c < count) {
        const float* row = x + c * x_stride + k;
        split32(_mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), row),
                _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), row + 16), high_part, low_part);
      }
      _mm512_store_si512(hi[c], high_part);
      _mm512_store_si512(lo[c], low_part);
    }
    // Transpose: pair row j of the tile holds pair j of every token.
    uint16_t* out = tile + 2 * b * kTileElements;
    for (size_t j = 0; j < 16; ++j) {
      const __m512i index = column_index(j);
      _mm512_storeu_si512(out + j * 32, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAllLanes, index, &hi[0][0], 4));
      _mm512_storeu_si512(out + kTileElements + j * 32,
                          _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAllLanes, index, &lo[0][0], 4));
    }
  }
}

void matmul_rows_split_bf16(const MatmulArgs& a, const uint16_t* split_x) {
  if (a.row_end <= a.row_begin || a.n_tokens == 0) return;
  if (a.type == DType::F16) return matmul<true>(a, split_x);
  return matmul<false>(a, split_x);
}

}  // namespace jisu::cpu::amx

#endif  // JISU_HAVE_AMX_KERNELS
