// AVX2 kernels of the repacked integer path (contract in int8_repacked_matmul.h, layout in
// int8_repacked_weights.h). Lane r of every vector is row r of the 8-row group, so a block
// costs, per token, 8 maddubs steps (4 weight bytes of each row x the token's 4 activation
// bytes, broadcast) and then ONE int32 -> float conversion and ONE fmadd for all 8 rows.
// A tile of 8 rows x NT tokens loads and unpacks each weight block once for its NT tokens.
#include "backends/cpu/simd_prelude.h"

#include <cstdint>
#include <cstring>

#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

namespace jisu::cpu {
namespace {

JISU_AI __m256i load_aligned(const uint8_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

// Activation bytes 4j..4j+3 in every 32-bit lane (one vpbroadcastd from memory).
JISU_AI __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// An empty asm that "changes" v: GCC otherwise reassociates the integer accumulation chains
// into trees that keep every product live and spill them to the stack (seen with 4 tokens);
// pinning each partial sum keeps one accumulator per token in a register.
JISU_AI void pin(__m256i& v) { __asm__("" : "+x"(v)); }

// Q4_0: unsigned nibbles u times the activations; the -8 offset is applied once per block as
// isum = sum(u * x) - 8 * x.sum (exact integers). The 8 maddubs steps accumulate in int16:
// a pair sum is at most 2 * 15 * 127 = 3810 in magnitude (|x| <= 127), so 8 of them stay within
// 30480 < 32767 and neither maddubs nor the adds saturate; one madd with ones then adds each
// row lane's two int16 halves into int32.
struct RQ4_0 {
  static constexpr size_t kQuantBytes = 128;
  template <int NT>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    const __m256i mask = _mm256_set1_epi8(15);
    __m256i acc[NT];
    static_for<NT>([&](auto t) __attribute__((always_inline)) { acc[t] = _mm256_setzero_si256(); });
    static_for<4>([&](auto k) __attribute__((always_inline)) {
      const __m256i v = load_aligned(q + 32 * k);
      const __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        acc[t] = _mm256_add_epi16(acc[t], _mm256_maddubs_epi16(lo, broadcast4(xb[t]->qs + 4 * k)));
        pin(acc[t]);
        acc[t] = _mm256_add_epi16(acc[t], _mm256_maddubs_epi16(hi, broadcast4(xb[t]->qs + 16 + 4 * k)));
        pin(acc[t]);
      });
    });
    static_for<NT>([&](auto t) __attribute__((always_inline)) {
      // 8 * x.sum: broadcast straight from memory (a load, not the GPR -> vector moves GCC
      // emits for set1 of a computed value), then one shift.
      const __m256i sum = _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(&xb[t]->sum)));
      isum[t] = _mm256_sub_epi32(_mm256_madd_epi16(acc[t], _mm256_set1_epi16(1)), _mm256_slli_epi32(sum, 3));
    });
  }
};

// Signed weights w (|w| <= 128): maddubs(|w|, sign(x, w)) gives pairs of w * x, at most
// 2 * 128 * 127 = 32512 in magnitude, so two steps cannot share an int16: each step is widened
// by madd with ones and added in int32.
template <int NT>
JISU_AI void signed_step(__m256i w, const ActivationBlock* const* xb, int offset, __m256i* acc) {
  const __m256i magnitude = _mm256_abs_epi8(w);
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    const __m256i p = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(broadcast4(xb[t]->qs + offset), w));
    acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
    pin(acc[t]);
  });
}

struct RQ8_0 {
  static constexpr size_t kQuantBytes = 256;
  template <int NT>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_setzero_si256(); });
    static_for<8>([&](auto k) __attribute__((always_inline)) { signed_step<NT>(load_aligned(q + 32 * k), xb, 4 * k, isum); });
  }
};

// IQ4_NL: the nibbles index the 16-entry table (values in [-127, 113]), then as Q8_0.
struct RIQ4_NL {
  static constexpr size_t kQuantBytes = 128;
  template <int NT>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    const __m256i mask = _mm256_set1_epi8(15);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl)));
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_setzero_si256(); });
    static_for<4>([&](auto k) __attribute__((always_inline)) {
      const __m256i v = load_aligned(q + 32 * k);
      signed_step<NT>(_mm256_shuffle_epi8(table, _mm256_and_si256(v, mask)), xb, 4 * k, isum);
      signed_step<NT>(_mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), mask)), xb, 16 + 4 * k, isum);
    });
  }
};

// The weights stream from DRAM once per pass; the hardware prefetcher alone is weak on the
// machines measured (see int8_matmul_avx2.cpp), so the first tile to read a group prefetches
// the lines kPrefetchBytes ahead of both of its streams (quants and scales), once per line.
constexpr size_t kPrefetchBytes = 16384;

JISU_AI void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0); }

// Rows 8g..8g+7 for tokens t0..t0+NT-1.
template <class W, int NT, bool kPrefetch>
void group_tile(const RepackedMatmulArgs& a, size_t g, size_t t0) {
  const size_t nb = a.n / kActivationBlockElements;
  const uint8_t* quants = a.w + g * a.group_bytes;
  const uint8_t* scales = quants + nb * W::kQuantBytes;  // 16-byte aligned: the quants are 128-byte multiples
  const ActivationBlock* x[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const uint8_t*>(a.xq) + (t0 + t) * a.xq_stride_bytes);
    acc[t] = _mm256_setzero_ps();
  }
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* q = quants + b * W::kQuantBytes;
    if constexpr (kPrefetch) {
      for (size_t offset = 0; offset < W::kQuantBytes; offset += 64) prefetch(q + offset);
      if (b % 4 == 0) prefetch(scales + b * 2 * kRepackRows);
    }
    const ActivationBlock* xb[NT];
    static_for<NT>([&](auto t) __attribute__((always_inline)) { xb[t] = x[t] + b; });
    __m256i isum[NT];
    W::template dot<NT>(q, xb, isum);
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales + b * 2 * kRepackRows)));
    static_for<NT>([&](auto t) __attribute__((always_inline)) {
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
    });
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(a.y + (t0 + t) * a.y_stride + g * kRepackRows, acc[t]);
}

template <class W, int NT, bool kPrefetch = false>
void groups_tile(const RepackedMatmulArgs& a, size_t g_begin, size_t g_end, size_t t0) {
  for (size_t g = g_begin; g < g_end; ++g) group_tile<W, NT, kPrefetch>(a, g, t0);
}

// Tokens per tile when there are several: the weights of a block are loaded and unpacked once
// for this many tokens.
constexpr int kTileTokens = 4;
// With several tokens, groups are walked in blocks of about 256 KiB of weights so that a block
// stays in L2 (1 MiB here) while every token tile passes over it.
constexpr size_t kRowBlockBytes = 1 << 18;

template <class W>
void matmul_impl(const RepackedMatmulArgs& a) {
  const size_t g_begin = a.row_begin / kRepackRows, g_end = a.row_end / kRepackRows;
  if (g_end <= g_begin || a.n_tokens == 0) return;
  if (a.n_tokens == 1) return groups_tile<W, 1, true>(a, g_begin, g_end, 0);
  const size_t block_groups = a.group_bytes >= kRowBlockBytes ? 1 : kRowBlockBytes / a.group_bytes;
  for (size_t gb = g_begin; gb < g_end; gb += block_groups) {
    const size_t ge = g_end - gb < block_groups ? g_end : gb + block_groups;
    // Full tiles, then one tile of the remaining tokens; the first tile over the block prefetches.
    size_t t0 = 0;
    for (; t0 + kTileTokens <= a.n_tokens; t0 += kTileTokens)
      t0 == 0 ? groups_tile<W, kTileTokens, true>(a, gb, ge, t0) : groups_tile<W, kTileTokens>(a, gb, ge, t0);
    static_for<kTileTokens>([&](auto rest) {
      constexpr int kRest = decltype(rest)::value;
      if constexpr (kRest > 0)
        if (a.n_tokens - t0 == kRest)
          t0 == 0 ? groups_tile<W, kRest, true>(a, gb, ge, t0) : groups_tile<W, kRest>(a, gb, ge, t0);
    });
  }
}

}  // namespace

void matmul_repacked_int8_avx2(const RepackedMatmulArgs& a) {
  switch (a.type) {
    case DType::Q4_0: return matmul_impl<RQ4_0>(a);
    case DType::Q8_0: return matmul_impl<RQ8_0>(a);
    case DType::IQ4_NL: return matmul_impl<RIQ4_NL>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu

#else  // built without the AVX2 flags: the dispatcher never selects this path

namespace jisu::cpu {
void matmul_repacked_int8_avx2(const RepackedMatmulArgs& a) { matmul_repacked_int8_scalar(a); }
}  // namespace jisu::cpu

#endif
