// The sparse int8 kernels (int8_sparse_matmul.h), compiled once per ISA (vector_isa.h); they
// reproduce int8_sparse_matmul_scalar.cpp bit for bit.
//
// AVX-512 builds (which this file extends with AVX512-VBMI2; the dispatcher takes the avx2
// kernel on a CPU without it) work on one 64-weight block at a time, in tiles of up to 4 rows x
// 4 tokens:
//  - each row's block is one 64-byte load (32 bytes for N:M, whose blocks keep 32) and a
//    register expand (vpexpandb) by the block's u64 mask, with 128 at the pruned positions: the
//    stored values are biased by +128 (sparse_blocks.h), so the expanded bytes are w + 128
//    everywhere, unsigned;
//  - each token's two activation blocks are loaded once per step for the tile's rows, with the
//    correction -128 * (sum of each lane's 4 bytes of x), so that with VNNI a row's exact lane
//    sums of w * x are one vpdpbusd(correction, w + 128, x) (lanes 0-7: the first activation
//    block, 8-15: the second). Without VNNI (maddubs' int16 pairs would saturate on 255 * 127)
//    the bias is removed (w = expanded xor 0x80) and the sign moved onto the weights as before;
//  - acc = fma(float(lanes), d_w * x.d, acc) on 16 float lanes, the scalar reference's lanes of
//    even and odd activation blocks, which it adds together at the end of the row.
// The rows of a tile share the activation loads; rows are independent chains, so the
// popcount-driven value offsets of 4 rows overlap (N:M offsets are 32 per block, no chain).
// With one token (decode) the activations of every block (bytes, correction, scales) are
// prepared once per call on the stack instead of once per tile: measured +12 % in cache and
// +7-20 % out of cache at 70 % (tests/tools/sparse_kernel_bench.cpp).
//
// AVX2 builds expand 16 positions at a time with one byte shuffle: each mask byte indexes a
// table of 8 shuffle indices (the rank of each kept position among the kept ones, 0x80 where
// pruned, which the shuffle turns into 0), the second byte's indices moved past the first
// byte's values, applied to the values with their bias removed; then Q8_0's
// dot(|w|, sign(x, w)) with IntDot, one row at a time.
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
// One token's activations at the 64 positions of a weight block (activation blocks a, a + 1).
struct Activations64 {
#if defined(__AVX512VNNI__)
  __m512i x;           // signed bytes
  __m512i correction;  // lane l: -128 * (sum of lane l's 4 bytes of x)
#else
  __m512i magnitude;   // |x| as unsigned bytes
  __mmask64 negative;  // x < 0
#endif
  __m512 scale;  // x.d of block a in lanes 0-7, of block a + 1 in lanes 8-15
};

JISU_AI Activations64 load_activations(const ActivationBlock* x, size_t a) {
  const __m512i v = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[a].qs))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[a + 1].qs)), 1);
  const __m512 scale = _mm512_mask_mov_ps(_mm512_set1_ps(x[a].d), 0xFF00, _mm512_set1_ps(x[a + 1].d));
#if defined(__AVX512VNNI__)
  const __m512i biased_sums =
      _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(kSparseValueBias)), v);
  return {v, _mm512_sub_epi32(_mm512_setzero_si512(), biased_sums), scale};
#else
  return {_mm512_abs_epi8(v), _mm512_movepi8_mask(v), scale};
#endif
}

// The expanded block's bytes (w + 128, 128 where pruned) in the form weight_dot takes: as they
// are with VNNI, else the signed weights (pruned: 0).
JISU_AI __m512i prepare_weights(__m512i biased) {
#if defined(__AVX512VNNI__)
  return biased;
#else
  return _mm512_xor_si512(biased, _mm512_set1_epi8(static_cast<char>(kSparseValueBias)));
#endif
}

// The exact int32 lane sums of w * x, 4 bytes per lane (|w|, |x| <= 127 and w + 128 <= 255:
// vpdpbusd does not saturate; without VNNI |x| * |w| pairs stay below 32767 in maddubs).
JISU_AI __m512i weight_dot(__m512i w, const Activations64& x) {
#if defined(__AVX512VNNI__)
  return _mm512_dpbusd_epi32(x.correction, w, x.x);
#else
  const __m512i signed_w = _mm512_mask_sub_epi8(w, x.negative, _mm512_setzero_si512(), w);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(x.magnitude, signed_w), _mm512_set1_epi16(1));
#endif
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

// One token (decode): its Activations64 of every block, computed once per call rather than once
// per tile, when the row has at most this many blocks (8192 weights: 24 KiB on the stack).
inline constexpr size_t kMaxPrecomputedBlocks = 128;

// Rows [r, r + R) x tokens [t0, t0 + NT): y for each. `precomputed`: null, or (NT = 1) the
// token's Activations64 of every block.
template <bool kNm, int R, int NT>
void tile(const Int8MatmulArgs& a, size_t r, size_t t0, const Activations64* precomputed) {
  const TokenRows<NT> tokens(a, t0);
  const SparseRowLayout layout = sparse_row_layout(a.n);
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
  // A tile reads its rows' masks, scales and values as 3 R short streams, too short for the
  // hardware prefetchers to find (a 2:4 row of 2048 weights has 4 lines of masks): measured
  // out of cache, that halved the bytes per second of dense Q8_0's single stream. So each step
  // prefetches its share of the rows kPrefetchTiles tiles ahead (a contiguous range; prefetches
  // past the matrix are harmless).
  constexpr size_t kPrefetchTiles = 8;
  const size_t prefetch_step = ((R * a.w_row_bytes + layout.blocks - 1) / layout.blocks + 63) / 64 * 64;
  const uint8_t* prefetch = row[0] + kPrefetchTiles * R * a.w_row_bytes;
  const __m512i pruned = _mm512_set1_epi8(static_cast<char>(kSparseValueBias));
  auto step = [&](size_t b, size_t chunk_first) __attribute__((always_inline)) {
    for (size_t line = 0; line < prefetch_step; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(prefetch + line), _MM_HINT_T1);
    prefetch += prefetch_step;
    Activations64 x[NT];
    if (NT == 1 && precomputed)
      x[0] = precomputed[b];
    else
      unrolled<NT>([&](auto t) __attribute__((always_inline)) { x[t] = load_activations(tokens.x[t], 2 * b); });
    unrolled<R>([&](auto i) __attribute__((always_inline)) {
      const uint64_t mask = load_u64(row[i] + 8 * b);
      const __m512 d = _mm512_set1_ps(scale[i][b - chunk_first]);
      const uint8_t* values = row[i] + offset[i];
      __m512i biased;
      if constexpr (kNm) {
        // 32 values: a 32-byte load never leaves the row; the expand reads only its low half.
        biased = _mm512_mask_expand_epi8(pruned, mask,
                                         _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(values))));
        offset[i] += kNmBlockKept;
      } else {
        // One 64-byte load and a register expand while the load stays inside the row (nearly
        // every block; the memory form of vpexpandb is slower), else the fault-suppressing
        // expanding load, which reads only the kept bytes.
        biased = __builtin_expect(offset[i] <= last_full_load, 1)
                     ? _mm512_mask_expand_epi8(pruned, mask, _mm512_loadu_si512(values))
                     : _mm512_mask_expandloadu_epi8(pruned, mask, values);
        offset[i] += std::popcount(mask);
      }
      const __m512i w = prepare_weights(biased);
      unrolled<NT>([&](auto t) __attribute__((always_inline)) {
        const __m512 lanes = _mm512_cvtepi32_ps(weight_dot(w, x[t]));
        acc[i][t] = _mm512_fmadd_ps(lanes, _mm512_mul_ps(d, x[t].scale), acc[i][t]);
      });
    });
  };
  for (size_t chunk_first = 0; chunk_first < layout.blocks; chunk_first += kScaleChunk) {
    const size_t in_chunk = std::min(kScaleChunk, layout.blocks - chunk_first);
    unrolled<R>([&](auto i) __attribute__((always_inline)) {
      const __m256i halves = _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << in_chunk) - 1),
                                                      row[i] + layout.scales_offset() + 2 * chunk_first);
      _mm512_store_ps(scale[i], _mm512_cvtph_ps(halves));
    });
    for (size_t b = chunk_first; b < chunk_first + in_chunk; ++b) step(b, chunk_first);
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
void rows_tile_of(const Int8MatmulArgs& a, size_t t0, const Activations64* precomputed) {
  size_t r = a.row_begin;
  for (; r + 4 <= a.row_end; r += 4) tile<kNm, 4, NT>(a, r, t0, precomputed);
  for (; r < a.row_end; ++r) tile<kNm, 1, NT>(a, r, t0, precomputed);
}

template <int NT>
void rows_tile_with(const Int8MatmulArgs& a, size_t t0, const Activations64* precomputed) {
  if (a.type == kJisuNmQ8)
    rows_tile_of<true, NT>(a, t0, precomputed);
  else
    rows_tile_of<false, NT>(a, t0, precomputed);
}

template <int NT>
void rows_tile(const Int8MatmulArgs& a, size_t t0) {
  const size_t blocks = a.n / kSparseBlockElements;
  if (NT == 1 && blocks <= kMaxPrecomputedBlocks) {
    Activations64 precomputed[kMaxPrecomputedBlocks];
    const TokenRows<1> token(a, t0);
    for (size_t b = 0; b < blocks; ++b) precomputed[b] = load_activations(token.x[0], 2 * b);
    rows_tile_with<NT>(a, t0, precomputed);
  } else {
    rows_tile_with<NT>(a, t0, nullptr);
  }
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
// (first + popcount(mask16) <= 16, so first = 16 only when mask16 is 0).
JISU_AI __m128i expand16(__m128i values, uint32_t mask16, uint32_t first) {
  const uint32_t low = mask16 & 0xFF, high = mask16 >> 8;
  const uint64_t high_first = first + static_cast<uint32_t>(std::popcount(low));
  const __m128i indices = _mm_set_epi64x(static_cast<long long>(kExpandIndices[high]), static_cast<long long>(kExpandIndices[low]));
  const __m128i offsets = _mm_set_epi64x(static_cast<long long>(high_first * kEveryByte), static_cast<long long>(first * kEveryByte));
  // 0x80 + offset (<= 0x90) keeps its top bit: pruned positions stay 0.
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
// ends at row_end), their bias removed (sparse_blocks.h): signed, 0 where pruned.
JISU_AI __m256i expand32(uint32_t mask32, const uint8_t* values, const uint8_t* row_end) {
  const uint32_t low = mask32 & 0xFFFF, high = mask32 >> 16;
  const __m128i bias = _mm_set1_epi8(static_cast<char>(kSparseValueBias));
  if (std::popcount(mask32) <= 16 && row_end - values >= 16) {  // one load serves both halves
    const __m128i bytes = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values)), bias);
    return _mm256_set_m128i(expand16(bytes, high, static_cast<uint32_t>(std::popcount(low))), expand16(bytes, low, 0));
  }
  const __m128i first = expand16(_mm_xor_si128(load16_before(values, row_end), bias), low, 0);
  const __m128i second = expand16(_mm_xor_si128(load16_before(values + std::popcount(low), row_end), bias), high, 0);
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
  const SparseRowLayout layout = sparse_row_layout(a.n);
  const uint8_t* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
  const uint8_t* row_end = row + row_bytes(a.type, a.n);
  const uint8_t* values = row + layout.values_offset();
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (size_t run = 0; run < a.n / 32; ++run) {
    const size_t b = run / 2;  // two activation blocks per 64-weight block
    const auto mask32 = static_cast<uint32_t>(load_u64(row + 8 * b) >> (32 * (run % 2)));
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
