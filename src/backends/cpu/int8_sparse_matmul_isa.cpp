// The sparse int8 kernels (int8_sparse_matmul.h), compiled once per ISA (vector_isa.h); they
// reproduce int8_sparse_matmul_scalar.cpp bit for bit.
//
// AVX-512 builds (which this file extends with AVX512-VBMI2; the dispatcher takes the avx2
// kernel on a CPU without it) work on 64 weight positions at a time, in tiles of up to 4 rows x
// 4 tokens:
//  - each row's 64 positions are one masked expanding load (vpexpandb), which reads only the
//    kept bytes; the mask is the block's u64 (two N:M u32 masks side by side);
//  - each token's two activation blocks are loaded once per tile as |x| (unsigned) and the mask
//    of its negative bytes, so a row's signed product is one masked negation of the weights
//    (w where x >= 0, -w where x < 0) and one vpdpbusd(|x|, ±w) into 16 int32 lanes (lanes 0-7:
//    the first activation block, 8-15: the second);
//  - acc = fma(float(lanes), d_w * x.d, acc) on 16 float lanes, the scalar reference's lanes of
//    even and odd activation blocks, which it adds together at the end of the row.
// The rows of a tile share the activation loads; rows are independent chains, so the
// popcount-driven value offsets of 4 rows overlap.
//
// AVX2 builds expand 16 positions at a time with one byte shuffle: each mask byte indexes a
// table of 8 shuffle indices (the rank of each kept position among the kept ones, 0x80 where
// pruned, which the shuffle turns into 0), the second byte's indices moved past the first
// byte's values; then Q8_0's dot(|w|, sign(x, w)) with IntDot, one row at a time.
#include "backends/cpu/vector_isa.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/sparse_blocks.h"

#if defined(__AVX512F__)
#pragma GCC target("avx512vbmi2")
#define JISU_SPARSE_AVX512 1
#else
#define JISU_SPARSE_AVX512 0
#endif

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

JISU_AI float half_to_float(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Pointers to the activation blocks of the tokens of a tile.
template <int NT>
struct TokenRows {
  const ActivationBlock* x[NT];
  TokenRows(const Int8MatmulArgs& a, size_t first_token) {
    for (int t = 0; t < NT; ++t)
      x[t] = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const char*>(a.xq) +
                                                      (first_token + t) * a.xq_stride_bytes);
  }
};

#if JISU_SPARSE_AVX512
// Exact int32 lane sums of unsigned u times signed s, 4 bytes per lane (|u|, |s| <= 127, so the
// AVX512-BW pairs of maddubs never saturate).
JISU_AI __m512i dot64(__m512i u, __m512i s) {
#if defined(__AVX512VNNI__)
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
#else
  return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
#endif
}

// One token's activations at 64 positions (blocks a and a + 1; a + 1 only when `pair`).
struct Activations64 {
  __m512i magnitude;  // |x| as unsigned bytes
  __mmask64 negative;  // x < 0
  __m512 scale;        // x.d of block a in lanes 0-7, of block a + 1 in lanes 8-15
};

JISU_AI Activations64 load_activations(const ActivationBlock* x, size_t a, bool pair) {
  __m512i v = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[a].qs)));
  __m512 scale = _mm512_set1_ps(x[a].d);
  if (pair) {
    v = _mm512_inserti64x4(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[a + 1].qs)), 1);
    scale = _mm512_mask_mov_ps(scale, 0xFF00, _mm512_set1_ps(x[a + 1].d));
  }
  return {_mm512_abs_epi8(v), _mm512_movepi8_mask(v), scale};
}

// simd_prelude.h's static_for, defined again after this file's `#pragma GCC target
// ("avx512vbmi2")`: an always_inline function compiled without that target cannot inline
// lambdas that use vpexpandb. Array indices known at compile time keep the tile's accumulators
// and cursors in registers.
template <int N, class F>
JISU_AI void unrolled(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// Scales of a row converted to float 16 at a time (one vcvtph2ps), so that each block's scale is
// a broadcast from memory rather than a conversion per block.
inline constexpr size_t kScaleChunk = 16;

// Rows [r, r + R) x tokens [t0, t0 + NT): y for each.
template <bool kNm, int R, int NT>
void tile(const Int8MatmulArgs& a, size_t r, size_t t0) {
  const TokenRows<NT> tokens(a, t0);
  const SparseRowLayout layout = sparse_row_layout(a.type, a.n);
  // A value offset (from the row start) at or below this can be read as 64 bytes inside the row.
  const auto last_full_load = static_cast<ptrdiff_t>(row_bytes(a.type, a.n)) - 64;
  const uint8_t* row[R];
  ptrdiff_t offset[R];  // of the row's next values
  __m512 acc[R][NT];
  alignas(64) float scale[R][kScaleChunk];
  unrolled<R>([&](auto i) __attribute__((always_inline)) {
    row[i] = static_cast<const uint8_t*>(a.w) + (r + i) * a.w_row_bytes;
    offset[i] = static_cast<ptrdiff_t>(layout.values_offset());
    unrolled<NT>([&](auto t) __attribute__((always_inline)) { acc[i][t] = _mm512_setzero_ps(); });
  });
  // Activation blocks [first, first + 2) (first alone when !pair) of every row.
  // A tile reads its rows' masks, scales and values as 3 R short streams, too short for the
  // hardware prefetchers to find (a 2:4 row of 2048 weights has 4 lines of masks): measured
  // out of cache, that halved the bytes per second of dense Q8_0's single stream. So each step
  // prefetches its share of the rows kPrefetchTiles tiles ahead (a contiguous range; prefetches
  // past the matrix are harmless).
  constexpr size_t kPrefetchTiles = 8;
  const size_t steps = (a.n + 63) / 64;
  const size_t prefetch_step = ((R * a.w_row_bytes + steps - 1) / steps + 63) / 64 * 64;
  const uint8_t* prefetch = row[0] + kPrefetchTiles * R * a.w_row_bytes;
  auto step = [&](size_t first, size_t chunk_first, auto pair) __attribute__((always_inline)) {
    constexpr bool kPair = decltype(pair)::value;
    for (size_t line = 0; line < prefetch_step; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(prefetch + line), _MM_HINT_T1);
    prefetch += prefetch_step;
    Activations64 x[NT];
    unrolled<NT>([&](auto t) __attribute__((always_inline)) { x[t] = load_activations(tokens.x[t], first, kPair); });
    unrolled<R>([&](auto i) __attribute__((always_inline)) {
      // The mask bytes of activation blocks first, first + 1 start at 4 * first in both types
      // (an unstructured u64 per 2 blocks, an N:M u32 per block).
      const uint64_t mask = kPair ? load_u64(row[i] + 4 * first) : load_u32(row[i] + 4 * first);
      __m512 d;
      if constexpr (kNm) {
        d = _mm512_set1_ps(scale[i][first - chunk_first]);
        if (kPair) d = _mm512_mask_mov_ps(d, 0xFF00, _mm512_set1_ps(scale[i][first + 1 - chunk_first]));
      } else {
        d = _mm512_set1_ps(scale[i][first / 2 - chunk_first]);
      }
      // One 64-byte load and a register expand while the load stays inside the row (nearly
      // every block; the memory form of vpexpandb is slower), else the fault-suppressing
      // expanding load, which reads only the kept bytes.
      const uint8_t* values = row[i] + offset[i];
      const __m512i w = __builtin_expect(offset[i] <= last_full_load, 1)
                            ? _mm512_maskz_expand_epi8(mask, _mm512_loadu_si512(values))
                            : _mm512_maskz_expandloadu_epi8(mask, values);
      offset[i] += kNm ? (kPair ? 32 : 16) : std::popcount(mask);
      unrolled<NT>([&](auto t) __attribute__((always_inline)) {
        const __m512i signed_w = _mm512_mask_sub_epi8(w, x[t].negative, _mm512_setzero_si512(), w);
        const __m512 lanes = _mm512_cvtepi32_ps(dot64(x[t].magnitude, signed_w));
        acc[i][t] = _mm512_fmadd_ps(lanes, _mm512_mul_ps(d, x[t].scale), acc[i][t]);
      });
    });
  };
  const size_t runs = a.n / 32;  // activation blocks
  const size_t runs_per_scale = kNm ? 1 : 2;
  for (size_t chunk_first = 0; chunk_first < layout.blocks; chunk_first += kScaleChunk) {
    const size_t in_chunk = std::min(kScaleChunk, layout.blocks - chunk_first);
    unrolled<R>([&](auto i) __attribute__((always_inline)) {
      const __m256i halves = _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << in_chunk) - 1),
                                                      row[i] + layout.scales_offset() + 2 * chunk_first);
      _mm512_store_ps(scale[i], _mm512_cvtph_ps(halves));
    });
    const size_t end = std::min(runs, (chunk_first + in_chunk) * runs_per_scale);
    size_t first = chunk_first * runs_per_scale;
    for (; first + 1 < end; first += 2) step(first, chunk_first, std::true_type{});
    if (first < end) step(first, chunk_first, std::false_type{});  // N:M, an odd count of blocks
  }
  unrolled<R>([&](auto i) __attribute__((always_inline)) {
    unrolled<NT>([&](auto t) __attribute__((always_inline)) {
      const __m512 v = acc[i][t];
      a.y[(t0 + t) * a.y_stride + r + i] =
          horizontal_sum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
    });
  });
}

template <bool kNm, int NT>
void rows_tile_of(const Int8MatmulArgs& a, size_t t0) {
  size_t r = a.row_begin;
  for (; r + 4 <= a.row_end; r += 4) tile<kNm, 4, NT>(a, r, t0);
  for (; r < a.row_end; ++r) tile<kNm, 1, NT>(a, r, t0);
}

template <int NT>
void rows_tile(const Int8MatmulArgs& a, size_t t0) {
  if (a.type == kJisuNmQ8)
    rows_tile_of<true, NT>(a, t0);
  else
    rows_tile_of<false, NT>(a, t0);
}
#else
// kExpandIndices[m] byte j: the rank of bit j among the set bits of m, or 0x80 if bit j is clear.
constexpr std::array<uint64_t, 256> make_expand_indices() {
  std::array<uint64_t, 256> table{};
  for (uint32_t m = 0; m < 256; ++m) {
    uint64_t entry = 0;
    uint32_t rank = 0;
    for (uint32_t j = 0; j < 8; ++j) entry |= static_cast<uint64_t>(((m >> j) & 1) ? rank++ : 0x80u) << (8 * j);
    table[m] = entry;
  }
  return table;
}
alignas(64) constexpr std::array<uint64_t, 256> kExpandIndices = make_expand_indices();

constexpr uint64_t kEveryByte = 0x0101010101010101ull;

// The 16 weights of mask bits `mask16`, whose values start at byte `first` of `values`
// (first + popcount(mask16) <= 16; first < 16).
JISU_AI __m128i expand16(__m128i values, uint32_t mask16, uint32_t first) {
  const uint32_t low = mask16 & 0xFF, high = mask16 >> 8;
  const uint64_t high_first = first + static_cast<uint32_t>(std::popcount(low));
  const __m128i indices = _mm_set_epi64x(static_cast<long long>(kExpandIndices[high]), static_cast<long long>(kExpandIndices[low]));
  const __m128i offsets = _mm_set_epi64x(static_cast<long long>(high_first * kEveryByte), static_cast<long long>(first * kEveryByte));
  // 0x80 + offset (< 0x90) keeps its top bit: pruned positions stay 0.
  return _mm_shuffle_epi8(values, _mm_add_epi8(indices, offsets));
}

// 16 bytes from p, of which only those before `end` are read (the rest 0).
JISU_AI __m128i load16_before(const uint8_t* p, const uint8_t* end) {
  if (end - p >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint8_t bytes[16] = {};
  std::memcpy(bytes, p, static_cast<size_t>(end - p));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(bytes));
}

// The 32 weights of mask bits `mask32`, whose popcount(mask32) values start at `values` (the row
// ends at row_end).
JISU_AI __m256i expand32(uint32_t mask32, const uint8_t* values, const uint8_t* row_end) {
  const uint32_t low = mask32 & 0xFFFF, high = mask32 >> 16;
  if (std::popcount(mask32) == 16 && row_end - values >= 16) {  // one load serves both halves (N:M)
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values));
    return _mm256_set_m128i(expand16(bytes, high, static_cast<uint32_t>(std::popcount(low))), expand16(bytes, low, 0));
  }
  const __m128i first = expand16(load16_before(values, row_end), low, 0);
  const __m128i second = expand16(load16_before(values + std::popcount(low), row_end), high, 0);
  return _mm256_set_m128i(second, first);
}

// Signed weights times an activation block: the exact int32 lane sums of w * x.
JISU_AI __m256i signed_dot(__m256i w, const int8_t* x) {
  return IntDot::dot(_mm256_abs_epi8(w), _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), w));
}

// One row: activation block a meets its 32 expanded weights; even blocks accumulate in acc[t][0],
// odd ones in acc[t][1] (the scalar reference's two lane groups).
template <int NT>
void row_dot(const Int8MatmulArgs& a, const TokenRows<NT>& tokens, size_t r, size_t t0) {
  const SparseRowLayout layout = sparse_row_layout(a.type, a.n);
  const uint8_t* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
  const uint8_t* row_end = row + row_bytes(a.type, a.n);
  const uint8_t* values = row + layout.values_offset();
  const size_t runs_per_block = layout.block_elements / 32;
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (size_t run = 0; run < a.n / 32; ++run) {
    const size_t b = run / runs_per_block;
    const uint64_t mask = layout.mask_bytes == 8 ? load_u64(row + 8 * b) : load_u32(row + 4 * b);
    const auto mask32 = static_cast<uint32_t>(mask >> (32 * (run % runs_per_block)));
    const float d = half_to_float(row + layout.scales_offset() + 2 * b);
    const __m256i w = expand32(mask32, values, row_end);
    values += std::popcount(mask32);
    for (int t = 0; t < NT; ++t) {
      const ActivationBlock& x = tokens.x[t][run];
      __m256& sum = acc[t][run % 2];
      sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(signed_dot(w, x.qs)), _mm256_set1_ps(d * x.d), sum);
    }
  }
  for (int t = 0; t < NT; ++t) a.y[(t0 + t) * a.y_stride + r] = horizontal_sum(_mm256_add_ps(acc[t][0], acc[t][1]));
}

template <int NT>
void rows_tile(const Int8MatmulArgs& a, size_t t0) {
  const TokenRows<NT> tokens(a, t0);
  for (size_t r = a.row_begin; r < a.row_end; ++r) row_dot<NT>(a, tokens, r, t0);
}
#endif

}  // namespace

void matmul_rows_sparse_int8(const Int8MatmulArgs& a) {
  size_t t = 0;
  for (; t + 4 <= a.n_tokens; t += 4) rows_tile<4>(a, t);
  switch (a.n_tokens - t) {
    case 3: rows_tile<3>(a, t); break;
    case 2: rows_tile<2>(a, t); break;
    case 1: rows_tile<1>(a, t); break;
    default: break;
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA

#undef JISU_SPARSE_AVX512
