// Kernels of the repacked integer path, compiled once per ISA (vector_isa.h; contract in
// int8_repacked_matmul.h, layout in int8_repacked_weights.h). Lane r of every vector is row r
// of the 8-row group, so a block costs, per token, 8 dot-product steps (4 weight bytes of each
// row x the token's 4 activation bytes, broadcast: maddubs on AVX2, vpdpbusd on VNNI) and then
// ONE int32 -> float conversion and ONE fmadd for all 8 rows. With AVX-512 VNNI every type's
// tiles beyond the decode forms run two adjacent groups in the 16 lanes of a zmm (kTwoGroupTiles).
// A tile of 8 rows x NT tokens loads and unpacks each weight block once for its NT tokens.
#include "backends/cpu/vector_isa.h"

#include <cstdint>
#include <cstring>

#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
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

// The weights stream from DRAM once per pass; the hardware prefetcher alone is weak on the
// machines measured (see simd_prelude.h), so the first tile to read a group prefetches
// the lines kPrefetchBytes ahead of both of its streams (quants and scales), once per line.
constexpr size_t kPrefetchBytes = 16384;

// Into L2 only (prefetcht1): a prefetcht0 holds one of the core's few L1 fill buffers for the
// whole trip from DRAM, and with the stream as far ahead as this they were all taken: perf put
// 64 % of the Q8_0 decode kernel's samples on its prefetch instructions (Sapphire Rapids), and
// prefetcht1 decoded 1.12-1.13x faster (docs/performance.md). The loads then hit L2, where the
// L1 streamer picks the lines up. Not measured on AMD Zen, where the 16 KiB distance was chosen.
JISU_AI void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T1); }

// The same prefetch where it stands in the code: GCC gathers the plain intrinsic's prefetches of
// an unrolled loop into one burst; a volatile asm is a scheduling barrier, so each one stays
// between the steps it was written between.
JISU_AI void prefetch_here(const uint8_t* p) {
  __asm__ volatile("prefetcht1 %0" : : "m"(*reinterpret_cast<const char*>(p + kPrefetchBytes)));
}

// Token counts (decode and the remainder of a small batch) that take the VNNI decode forms:
// the steps' own spread prefetches, Q4_0's and Q4_K's unshifted high nibbles, the K-quants'
// int32 sub-block lanes. More tokens share each weight load, so the extra per-token work of
// those forms costs more than it saves there (measured for Q4_0 at 8 tokens, docs/performance.md).
constexpr int kVnniDecodeTokens = 2;

// The lanes of a tile: one 8-row group in a ymm (TileLanes<1>), or, with AVX-512 VNNI and more
// tokens than the decode forms take, two adjacent groups in a zmm (TileLanes<2>): lanes 0-7 are
// rows 8g..8g+7, lanes 8-15 rows 8g+8..8g+15, each group's block read from its own place in the
// layout (which stays the same for every path), and the two groups' rows adjacent in y. One
// 512-bit vpdpbusd then does the work of two 256-bit ones, and Sapphire Rapids issues nearly two
// of either per cycle (a loop of independent ones: 0.16 against 0.14 ns each), where the batched
// decode is bound by their count (docs/performance.md). Zen 4 splits a 512-bit operation in two,
// so there the pair saves only front-end work. The VNNI forms below are written once for both,
// and so are the super-block types' maddubs tiles (Q4_K, Q5_K, Q6_K), whose per-row scale bytes
// reach lanes 8-15 from group g + 1's (broadcast16, spread_rows).
template <int kGroups>
struct TileLanes;

// The operations spelled alike at both widths (mm: _mm256 or _mm512; si: si256 or si512).
#define JISU_TILE_LANE_OPS(mm, si)                                                                        \
  static JISU_AI I splat(int32_t v) { return mm##_set1_epi32(v); }                                       \
  static JISU_AI I splat_bytes(uint8_t v) { return mm##_set1_epi8(static_cast<char>(v)); }                \
  static JISU_AI I and_bits(I a, I b) { return mm##_and_##si(a, b); }                                     \
  static JISU_AI I xor_bits(I a, I b) { return mm##_xor_##si(a, b); }                                     \
  static JISU_AI I or_bits(I a, I b) { return mm##_or_##si(a, b); }                                       \
  static JISU_AI I high_nibbles_down(I v) { return mm##_srli_epi16(v, 4); }                               \
  static JISU_AI I lookup(I table, I index) { return mm##_shuffle_epi8(table, index); }                   \
  static JISU_AI F zero() { return mm##_setzero_ps(); }                                                   \
  static JISU_AI F fmadd_scaled(F acc, I isum, F dw, const float* d) {                                    \
    return mm##_fmadd_ps(mm##_cvtepi32_ps(isum), mm##_mul_ps(dw, mm##_set1_ps(*d)), acc);                 \
  }                                                                                                       \
  static JISU_AI void store(float* y, F v) { mm##_storeu_ps(y, v); }                                      \
  /* For the super-block types (maddubs into exact int16 sums, then madd into int32): */                  \
  static JISU_AI F fnmadd_scaled(F acc, I isum, F dw, const float* d) {                                   \
    return mm##_fnmadd_ps(mm##_cvtepi32_ps(isum), mm##_mul_ps(dw, mm##_set1_ps(*d)), acc);                \
  }                                                                                                       \
  static JISU_AI I add16(I a, I b) { return mm##_add_epi16(a, b); }                                       \
  static JISU_AI I sub32(I a, I b) { return mm##_sub_epi32(a, b); }                                       \
  template <int kBits>                                                                                    \
  static JISU_AI I shift_left16(I v) { return mm##_slli_epi16(v, kBits); }                                \
  template <int kBits>                                                                                    \
  static JISU_AI I shift_right16(I v) { return mm##_srli_epi16(v, kBits); }                               \
  template <int kBits>                                                                                    \
  static JISU_AI I shift_right_signed16(I v) { return mm##_srai_epi16(v, kBits); }                        \
  template <int kBits>                                                                                    \
  static JISU_AI I shift_left32(I v) { return mm##_slli_epi32(v, kBits); }                                \
  static JISU_AI I shift_left16(I v, __m128i bits) { return mm##_sll_epi16(v, bits); }                    \
  static JISU_AI I shift_right16(I v, __m128i bits) { return mm##_srl_epi16(v, bits); }                   \
  static JISU_AI I maddubs(I u, I s) { return mm##_maddubs_epi16(u, s); }                                 \
  static JISU_AI I madd_add(I acc, I a, I b) { return mm##_add_epi32(acc, mm##_madd_epi16(a, b)); }

JISU_AI __m128i load16(const uint8_t* p) { return _mm_load_si128(reinterpret_cast<const __m128i*>(p)); }

template <>
struct TileLanes<1> {
  using I = __m256i;
  using F = __m256;
  JISU_TILE_LANE_OPS(_mm256, si256)
  static JISU_AI I load(const uint8_t* p, size_t /*group_bytes*/) { return load_aligned(p); }
  static JISU_AI I table(const int8_t* values16) { return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values16))); }
  static JISU_AI I dot_add4(I acc, I u, const int8_t* x) { return IntDot::dot_add(acc, u, broadcast4(x)); }
  static JISU_AI F scales(const uint8_t* s, size_t /*group_bytes*/) { return _mm256_cvtph_ps(load16(s)); }
  static JISU_AI I splat4(const int8_t* x) { return broadcast4(x); }
  static JISU_AI I broadcast16(const uint8_t* p, size_t /*group_bytes*/) { return _mm256_broadcastsi128_si256(load16(p)); }
  static JISU_AI I repeat(__m256i v) { return v; }
};

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
constexpr bool kTwoGroupTiles = true;

JISU_AI void pin(__m512i& v) { __asm__("" : "+v"(v)); }

template <>
struct TileLanes<2> {
  using I = __m512i;
  using F = __m512;
  JISU_TILE_LANE_OPS(_mm512, si512)
  static JISU_AI I load(const uint8_t* p, size_t group_bytes) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_aligned(p)), load_aligned(p + group_bytes), 1);
  }
  static JISU_AI I table(const int8_t* values16) { return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values16))); }
  static JISU_AI I splat4(const int8_t* x) {
    int32_t v;
    std::memcpy(&v, x, sizeof v);
    return _mm512_set1_epi32(v);
  }
  static JISU_AI I dot_add4(I acc, I u, const int8_t* x) { return _mm512_dpbusd_epi32(acc, u, splat4(x)); }
  static JISU_AI F scales(const uint8_t* s, size_t group_bytes) {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(load16(s)), load16(s + group_bytes), 1));
  }
  // Group g's 16 bytes in the 128-bit lanes 0-1, group g + 1's in lanes 2-3.
  static JISU_AI I broadcast16(const uint8_t* p, size_t group_bytes) {
    return _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(load16(p)), 0xff00, load16(p + group_bytes));
  }
  static JISU_AI I repeat(__m256i v) { return _mm512_broadcast_i64x4(v); }
};
#else
constexpr bool kTwoGroupTiles = false;
#endif
#undef JISU_TILE_LANE_OPS

// Token counts whose tiles take two groups (kTwoGroupTiles): those that do not take the decode forms.
template <int NT>
constexpr bool kTwoGroupTokens = kTwoGroupTiles && NT > kVnniDecodeTokens;

// Q4_0: unsigned nibbles u times the activations. Each row's two int16 lanes start at the -8
// offset's share (x.q4_0_offsets) and add the 8 maddubs steps of u * x, ending at
// sum((u - 8) * x) over their 16 elements, at most 16 * 8 * 127 = 16256 in magnitude. maddubs
// cannot saturate (a pair is at most 2 * 15 * 127 = 3810) and the adds wrap, so the partial
// sums may leave the int16 range but the final ones, exact modulo 2^16 and within range, are
// exact. One madd with ones then adds each row lane's two int16 halves into int32.
// With VNNI each step adds straight into int32 lanes (vpdpbusd), starting from the whole offset.
struct RQ4_0 {
  static constexpr size_t kQuantBytes = 128;
  // Whether dot<NT, true> prefetches the quants itself (spread over its steps).
  template <int NT>
  static constexpr bool kPrefetchesQuants = IntDot::kVnni && NT <= kVnniDecodeTokens;
  template <int NT, bool kPrefetch = false>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    const __m256i mask = _mm256_set1_epi8(15);
    if constexpr (IntDot::kVnni && NT <= kVnniDecodeTokens) {
      // Decode: the high nibbles go in unshifted (v & 0xf0 = 16 u) on a second chain, whose sum,
      // an exact multiple of 16, is shifted back once per block (one shift and add per token
      // instead of a shift per 32 bytes; at most 16 * 240 * 127 before the shift).
      __m256i high[NT];
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        isum[t] = _mm256_set1_epi32(xb[t]->q4_0_offsets[0] + xb[t]->q4_0_offsets[1]);
        high[t] = _mm256_setzero_si256();
      });
      static_for<4>([&](auto k) __attribute__((always_inline)) {
        if constexpr (kPrefetch && decltype(k)::value % 2 == 0) prefetch_here(q + 32 * k);
        const __m256i v = load_aligned(q + 32 * k);
        const __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(0xf0)));
        static_for<NT>([&](auto t) __attribute__((always_inline)) {
          isum[t] = IntDot::dot_add(isum[t], lo, broadcast4(xb[t]->qs + 4 * k));
          high[t] = IntDot::dot_add(high[t], hi, broadcast4(xb[t]->qs + 16 + 4 * k));
        });
      });
      static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_add_epi32(isum[t], _mm256_srai_epi32(high[t], 4)); });
      return;
    }
    if constexpr (IntDot::kVnni) return vnni_dot<NT, TileLanes<1>>(q, 0, xb, isum);
    __m256i acc[NT];
    static_for<NT>([&](auto t) __attribute__((always_inline)) {
      acc[t] = broadcast4(reinterpret_cast<const int8_t*>(xb[t]->q4_0_offsets));
    });
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
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_madd_epi16(acc[t], _mm256_set1_epi16(1)); });
  }
  // The VNNI form for more tokens than decode, on one group or two (TileLanes).
  template <int NT, class L>
  static JISU_AI void vnni_dot(const uint8_t* q, size_t group_bytes, const ActivationBlock* const* xb, typename L::I* isum) {
    const auto mask = L::splat_bytes(15);
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = L::splat(xb[t]->q4_0_offsets[0] + xb[t]->q4_0_offsets[1]); });
    static_for<4>([&](auto k) __attribute__((always_inline)) {
      const auto v = L::load(q + 32 * k, group_bytes);
      const auto lo = L::and_bits(v, mask), hi = L::and_bits(L::high_nibbles_down(v), mask);
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        isum[t] = L::dot_add4(isum[t], lo, xb[t]->qs + 4 * k);
        pin(isum[t]);
        isum[t] = L::dot_add4(isum[t], hi, xb[t]->qs + 16 + 4 * k);
        pin(isum[t]);
      });
    });
  }
};

// Signed weights w (|w| <= 128): maddubs(|w|, sign(x, w)) gives pairs of w * x, at most
// 2 * 128 * 127 = 32512 in magnitude, so two steps cannot share an int16: each step is widened
// by madd with ones and added in int32 (IntDot::dot_add; one vpdpbusd on VNNI).
template <int NT>
JISU_AI void signed_step(__m256i w, const ActivationBlock* const* xb, int offset, __m256i* acc) {
  const __m256i magnitude = _mm256_abs_epi8(w);
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    acc[t] = IntDot::dot_add(acc[t], magnitude, _mm256_sign_epi8(broadcast4(xb[t]->qs + offset), w));
    pin(acc[t]);
  });
}

// With VNNI the signed weights go in biased instead: u = w + 128 (w xor 0x80, in [0, 255]) is
// vpdpbusd's unsigned operand, so sum(u * x) = sum(w * x) + 128 * sum(x), and each row lane
// starts at -128 * sum(x) = 16 * (x.q4_0_offsets[0] + x.q4_0_offsets[1]) (each offset is -8 times
// a part of the sum): one xor per step instead of abs and sign, and the same exact int32 sums
// (at most 32 * 255 * 127 + 128 * 32 * 127 < 2^31). Not on AVX2: maddubs would saturate.
template <int NT, class L>
JISU_AI void biased_start(const ActivationBlock* const* xb, typename L::I* isum) {
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    isum[t] = L::splat(16 * (xb[t]->q4_0_offsets[0] + xb[t]->q4_0_offsets[1]));
  });
}

template <int NT, class L>
JISU_AI void biased_step(typename L::I u, const ActivationBlock* const* xb, int offset, typename L::I* acc) {
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    acc[t] = L::dot_add4(acc[t], u, xb[t]->qs + offset);
    pin(acc[t]);
  });
}

struct RQ8_0 {
  static constexpr size_t kQuantBytes = 256;
  // Decode on VNNI: dot<NT, true> prefetches the block's four lines between its steps (as Q4_0).
  template <int NT>
  static constexpr bool kPrefetchesQuants = IntDot::kVnni && NT <= kVnniDecodeTokens;
  template <int NT, bool kPrefetch = false>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    if constexpr (IntDot::kVnni) return vnni_dot<NT, TileLanes<1>, kPrefetch && kPrefetchesQuants<NT>>(q, 0, xb, isum);
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_setzero_si256(); });
    static_for<8>([&](auto k) __attribute__((always_inline)) { signed_step<NT>(load_aligned(q + 32 * k), xb, 4 * k, isum); });
  }
  template <int NT, class L, bool kPrefetchSteps = false>
  static JISU_AI void vnni_dot(const uint8_t* q, size_t group_bytes, const ActivationBlock* const* xb, typename L::I* isum) {
    const auto bias = L::splat_bytes(0x80);
    biased_start<NT, L>(xb, isum);
    static_for<8>([&](auto k) __attribute__((always_inline)) {
      if constexpr (kPrefetchSteps && decltype(k)::value % 2 == 0) prefetch_here(q + 32 * k);
      biased_step<NT, L>(L::xor_bits(L::load(q + 32 * k, group_bytes), bias), xb, 4 * k, isum);
    });
  }
};

// IQ4_NL: the nibbles index the 16-entry table (values in [-127, 113]), then as Q8_0 (with VNNI
// the table holds the biased values, so the lookup gives u directly).
struct RIQ4_NL {
  static constexpr size_t kQuantBytes = 128;
  template <int NT>
  static constexpr bool kPrefetchesQuants = false;
  template <int NT, bool kPrefetch = false>
  static JISU_AI void dot(const uint8_t* q, const ActivationBlock* const* xb, __m256i* isum) {
    if constexpr (IntDot::kVnni) return vnni_dot<NT, TileLanes<1>>(q, 0, xb, isum);
    const __m256i mask = _mm256_set1_epi8(15);
    const __m256i table = TileLanes<1>::table(kValuesIq4nl);
    static_for<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm256_setzero_si256(); });
    static_for<4>([&](auto k) __attribute__((always_inline)) {
      const __m256i v = load_aligned(q + 32 * k);
      signed_step<NT>(_mm256_shuffle_epi8(table, _mm256_and_si256(v, mask)), xb, 4 * k, isum);
      signed_step<NT>(_mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), mask)), xb, 16 + 4 * k, isum);
    });
  }
  template <int NT, class L>
  static JISU_AI void vnni_dot(const uint8_t* q, size_t group_bytes, const ActivationBlock* const* xb, typename L::I* isum) {
    const auto mask = L::splat_bytes(15);
    const auto biased_table = L::xor_bits(L::table(kValuesIq4nl), L::splat_bytes(0x80));
    biased_start<NT, L>(xb, isum);
    static_for<4>([&](auto k) __attribute__((always_inline)) {
      const auto v = L::load(q + 32 * k, group_bytes);
      biased_step<NT, L>(L::lookup(biased_table, L::and_bits(v, mask)), xb, 4 * k, isum);
      biased_step<NT, L>(L::lookup(biased_table, L::and_bits(L::high_nibbles_down(v), mask)), xb, 16 + 4 * k, isum);
    });
  }
};

// Rows 8g .. 8(g + kGroups) - 1 (kGroups adjacent groups, TileLanes) for tokens t0..t0+NT-1.
template <class W, int NT, bool kPrefetch, int kGroups = 1>
void group_tile(const RepackedMatmulArgs& a, size_t g, size_t t0) {
  using L = TileLanes<kGroups>;
  const size_t nb = a.n / kActivationBlockElements;
  const uint8_t* quants = a.w + g * a.group_bytes;
  const uint8_t* scales = quants + nb * W::kQuantBytes;  // 16-byte aligned: the quants are 128-byte multiples
  const ActivationBlock* x[NT];
  typename L::F acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = activation_row<ActivationBlock>(a, t0 + t);
    acc[t] = L::zero();
  }
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* q = quants + b * W::kQuantBytes;
    const uint8_t* s = scales + b * 2 * kRepackRows;
    if constexpr (kPrefetch) {
      for (int h = 0; h < kGroups; ++h) {
        if constexpr (!W::template kPrefetchesQuants<NT>)
          for (size_t offset = 0; offset < W::kQuantBytes; offset += 64) prefetch(q + h * a.group_bytes + offset);
        if (b % 4 == 0) prefetch(s + h * a.group_bytes);
      }
    }
    const ActivationBlock* xb[NT];
    static_for<NT>([&](auto t) __attribute__((always_inline)) { xb[t] = x[t] + b; });
    typename L::I isum[NT];
    if constexpr (kGroups == 1)
      W::template dot<NT, kPrefetch>(q, xb, isum);
    else
      W::template vnni_dot<NT, L>(q, a.group_bytes, xb, isum);
    const auto dw = L::scales(s, a.group_bytes);
    static_for<NT>([&](auto t) __attribute__((always_inline)) { acc[t] = L::fmadd_scaled(acc[t], isum[t], dw, &xb[t]->d); });
  }
  for (int t = 0; t < NT; ++t) L::store(a.y + (t0 + t) * a.y_stride + g * kRepackRows, acc[t]);
}

// Q4_K, Q5_K (layout in int8_repacked_weights.h): per super-block and token, the minimum term first
// (acc -= msum * dmin * x.d), then per sub-block of 32 the 8 maddubs steps accumulate in int16
// exactly as Q4_0's (at most 30480) and ONE madd multiplies each row lane by its 6-bit scale
// (at most 63 * 60960 per sub-block, 8 sub-blocks: 3.1e7 < 2^31); one conversion and one fma
// per super-block of 256 then serve the 8 rows, instead of one per 32 elements.

// Each 128-bit lane of `bytes` holds 16 bytes b[0..15] (L::broadcast16: in a zmm, lanes 0-1 group
// g's and lanes 2-3 group g + 1's); dword lane r (row r of the group) of the result is the int16
// pair (b[8 * kOdd + r], b[8 * kOdd + r]), the multiplier madd needs for row r.
template <class L, int kOdd>
JISU_AI typename L::I spread_rows(typename L::I bytes) {
  constexpr char o = 8 * kOdd, z = -1;  // -1 (bit 7 set): pshufb writes a zero byte
  const __m256i pattern = _mm256_setr_epi8(o, z, o, z, o + 1, z, o + 1, z, o + 2, z, o + 2, z, o + 3, z, o + 3, z,  //
                                           o + 4, z, o + 4, z, o + 5, z, o + 5, z, o + 6, z, o + 6, z, o + 7, z, o + 7, z);
  return L::lookup(bytes, L::repeat(pattern));
}

// kSteps maddubs steps of the unsigned weights weights(k) (k = 0 .. kSteps - 1) against each
// token's 4 activation bytes at activations[t] + 4k, summed in int16 (the caller bounds kSteps
// so that the sum cannot saturate), then ONE madd with the row lanes' int16 scale pairs added
// to lanes[t].
template <class L, int NT, int kSteps, class Weights>
JISU_AI void scaled_steps(Weights weights, const int8_t* const* activations, typename L::I scale, typename L::I* lanes) {
  typename L::I acc[NT];
  static_for<kSteps>([&](auto k) __attribute__((always_inline)) {
    const auto u = weights(k);
    static_for<NT>([&](auto t) __attribute__((always_inline)) {
      const auto p = L::maddubs(u, L::splat4(activations[t] + 4 * k));
      acc[t] = k == 0 ? p : L::add16(acc[t], p);
      pin(acc[t]);
    });
  });
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    lanes[t] = L::madd_add(lanes[t], acc[t], scale);
    pin(lanes[t]);
  });
}

// The activation pointers of NT tokens' super-block s, each advanced by `offset` bytes of qs.
template <int NT>
JISU_AI void super_block_activations(const ActivationSuperBlock* const* xs, size_t offset, const int8_t** out) {
  static_for<NT>([&](auto t) __attribute__((always_inline)) { out[t] = xs[t]->qs + offset; });
}

// Sub-block c = 2h + kHigh of the super-block at sb for NT tokens, added to lanes[t]. Q5_K's
// fifth bit (bit c of the qh byte, moved to bit 4) makes pairs of up to 2 * 31 * 127, so its
// int16 sums take 4 steps (31496) instead of 8, and the scale is applied twice. On kGroups of
// lanes (TileLanes): each group's vectors at their place, group_bytes apart.
template <class L, bool kFifthBit, int NT, int kHigh>
JISU_AI void q45_k_sub_block(const uint8_t* sb, size_t group_bytes, int h, typename L::I scales, const ActivationSuperBlock* const* xs,
                             typename L::I* lanes) {
  constexpr int kSteps = kFifthBit ? 4 : 8;
  const int c = 2 * h + kHigh;
  const auto scale = spread_rows<L, kHigh>(scales);
  static_for<8 / kSteps>([&](auto part) __attribute__((always_inline)) {
    constexpr int k0 = kSteps * decltype(part)::value;
    const int8_t* activations[NT];
    super_block_activations<NT>(xs, 64 * h + 32 * kHigh + 4 * k0, activations);
    const auto weights = [&](auto step) __attribute__((always_inline)) {
      constexpr int k = k0 + decltype(step)::value;
      const auto v = L::load(sb + 256 * h + 32 * k, group_bytes);
      const auto u = L::and_bits(kHigh ? L::high_nibbles_down(v) : v, L::splat_bytes(15));
      if constexpr (!kFifthBit) return u;
      const auto qh = L::load(sb + kRepackedQ5K.high + 32 * k, group_bytes);
      // 16-bit shifts by at most 4 keep bit c inside its byte.
      const auto moved = c <= 4 ? L::shift_left16(qh, _mm_cvtsi32_si128(4 - c)) : L::shift_right16(qh, _mm_cvtsi32_si128(c - 4));
      return L::or_bits(u, L::and_bits(moved, L::splat_bytes(0x10)));
    };
    scaled_steps<L, NT, kSteps>(weights, activations, scale, lanes);
  });
}

// Pointers to NT tokens' activation rows from token t0, and float accumulators set to zero:
// the start of every super-block tile.
template <class L, int NT>
JISU_AI void start_super_block_tile(const RepackedMatmulArgs& a, size_t t0, const ActivationSuperBlock** x, typename L::F* acc) {
  for (int t = 0; t < NT; ++t) {
    x[t] = activation_row<ActivationSuperBlock>(a, t0 + t);
    acc[t] = L::zero();
  }
}

// Q4_K decode on VNNI (one or two tokens: the weights are read once, so the instructions per
// weight byte decide whether the core keeps up with the stream). Per pair of sub-blocks 2h and
// 2h + 1 (the low and high nibbles of the same 8 vectors), each step is one load, two ands and one
// vpdpbusd per token and nibble half, straight into int32 lanes per sub-block; the high nibbles
// go in unshifted (v & 0xf0 = 16 u), so their lanes hold 16 times the sum. Each sub-block's lanes
// are then multiplied (vpmulld) by the rows' 6-bit scales, zero-extended from the repacked
// scale bytes. The sum over the four high sub-blocks is an exact multiple of 16, so one
// arithmetic shift recovers it: the int32 result is the same exact integer as the maddubs path's
// (bit for bit, the scalar reference's isum). Bounds: a low sub-block <= 32 * 15 * 127 = 60960,
// a high one <= 32 * 240 * 127 = 975360, times 63 and four of each: < 2.5e8 < 2^31.
// The weight lines are prefetched one per step over the first 19 of the 32 steps instead of 19 in
// a row at the super-block's start: perf put 54 % of the maddubs kernel's decode samples on the
// instruction after that burst of prefetcht1 (the queue full), with the arithmetic after it
// leaving the queue idle.
template <int NT, bool kPrefetch>
JISU_AI void q4_k_lanes_vnni(const uint8_t* sb, const ActivationSuperBlock* const* xs, __m256i* lanes) {
  constexpr size_t kLines = (kRepackedQ4K.bytes + 63) / 64;  // 19
  const __m256i low_mask = _mm256_set1_epi8(0x0f), high_mask = _mm256_set1_epi8(static_cast<char>(0xf0));
  __m256i high_lanes[NT];
  static_for<NT>([&](auto t) __attribute__((always_inline)) {
    lanes[t] = _mm256_setzero_si256();
    high_lanes[t] = _mm256_setzero_si256();
  });
  static_for<4>([&](auto hh) __attribute__((always_inline)) {
    constexpr int h = decltype(hh)::value;
    // Two chains per half (even and odd steps): vpdpbusd's 5-cycle latency on one chain of 8.
    __m256i low_sum[2][NT], high_sum[2][NT];
    static_for<8>([&](auto kk) __attribute__((always_inline)) {
      constexpr int k = decltype(kk)::value, chain = k % 2;
      if constexpr (kPrefetch && 8 * h + k < static_cast<int>(kLines)) prefetch_here(sb + 64 * (8 * h + k));
      const __m256i v = load_aligned(sb + 256 * h + 32 * k);
      const __m256i low = _mm256_and_si256(v, low_mask), high = _mm256_and_si256(v, high_mask);
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        const int8_t* q = xs[t]->qs + 64 * h + 4 * k;
        if constexpr (k < 2) {
          low_sum[chain][t] = IntDot::dot(low, broadcast4(q));
          high_sum[chain][t] = IntDot::dot(high, broadcast4(q + 32));
        } else {
          low_sum[chain][t] = IntDot::dot_add(low_sum[chain][t], low, broadcast4(q));
          high_sum[chain][t] = IntDot::dot_add(high_sum[chain][t], high, broadcast4(q + 32));
        }
      });
    });
    const auto scales = [&](int c) __attribute__((always_inline)) {
      return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sb + kRepackedQ4K.scales + 8 * c)));
    };
    const __m256i low_scale = scales(2 * h), high_scale = scales(2 * h + 1);
    static_for<NT>([&](auto t) __attribute__((always_inline)) {
      const __m256i low_total = _mm256_add_epi32(low_sum[0][t], low_sum[1][t]);
      const __m256i high_total = _mm256_add_epi32(high_sum[0][t], high_sum[1][t]);
      lanes[t] = _mm256_add_epi32(lanes[t], _mm256_mullo_epi32(low_total, low_scale));
      high_lanes[t] = _mm256_add_epi32(high_lanes[t], _mm256_mullo_epi32(high_total, high_scale));
    });
  });
  static_for<NT>([&](auto t) __attribute__((always_inline)) { lanes[t] = _mm256_add_epi32(lanes[t], _mm256_srai_epi32(high_lanes[t], 4)); });
}

template <bool kFifthBit>
struct TilesQ45_K {
  static constexpr size_t kElements = kActivationSuperBlockElements;
  static constexpr const RepackedK45Layout& kLayout = repacked_k45_layout(kFifthBit);
  // Tokens per tile of one group (kTileTokens). Kernel bench, 128 tokens, best of 8, 2 rounds
  // (GFLOP/s), for 4 / 6 / 8: Q4_K 186 / 193 / 159, Q5_K 147 / 141 / 131 (its fifth bit takes
  // registers too). With two groups per zmm (kTwoGroupTileTokens) more tokens paid
  // (avx512_vnni, 128 tokens, 2 rounds alternating): Q4_K 6 -> 8 tokens 235 -> 252-253, Q5_K
  // 4 -> 6 205 -> 210-212.
  static constexpr int kTileTokens = kFifthBit ? 4 : 6;
  static constexpr int kTwoGroupTileTokens = kFifthBit ? 6 : 8;
  // Rows 8g .. 8(g + kGroups) - 1 (TileLanes) for tokens t0 .. t0 + NT - 1.
  template <int NT, bool kPrefetch, int kGroups = 1>
  static void tile(const RepackedMatmulArgs& a, size_t g, size_t t0) {
    using L = TileLanes<kGroups>;
    const uint8_t* group = a.w + g * a.group_bytes;
    const size_t gb = a.group_bytes;
    const ActivationSuperBlock* x[NT];
    typename L::F acc[NT];
    start_super_block_tile<L, NT>(a, t0, x, acc);
    for (size_t s = 0; s < a.n / kElements; ++s) {
      const uint8_t* sb = group + s * kLayout.bytes;
      constexpr bool kVnniDecode = IntDot::kVnni && !kFifthBit && NT <= kVnniDecodeTokens;
      static_assert(kGroups == 1 || !kVnniDecode, "the decode form is one group's");
      if constexpr (kPrefetch && !kVnniDecode)
        for (int k = 0; k < kGroups; ++k)
          for (size_t offset = 0; offset < kLayout.bytes; offset += 64) prefetch(sb + k * gb + offset);
      const ActivationSuperBlock* xs[NT];
      static_for<NT>([&](auto t) __attribute__((always_inline)) { xs[t] = x[t] + s; });
      {
        // Lane r: sum_c m_c,r * (sums[2c] + sums[2c + 1]), one madd per sub-block.
        typename L::I minimums[NT];
        static_for<NT>([&](auto t) __attribute__((always_inline)) { minimums[t] = L::splat(0); });
        static_for<4>([&](auto pair) __attribute__((always_inline)) {
          const auto bytes = L::broadcast16(sb + kLayout.mins + 16 * pair, gb);
          const auto even = spread_rows<L, 0>(bytes), odd = spread_rows<L, 1>(bytes);
          static_for<NT>([&](auto t) __attribute__((always_inline)) {
            const auto* sums = reinterpret_cast<const int8_t*>(xs[t]->sums + 4 * pair);
            minimums[t] = L::madd_add(minimums[t], even, L::splat4(sums));
            minimums[t] = L::madd_add(minimums[t], odd, L::splat4(sums + 4));
          });
        });
        const auto dmin = L::scales(sb + kLayout.dmin, gb);
        static_for<NT>([&](auto t) __attribute__((always_inline)) { acc[t] = L::fnmadd_scaled(acc[t], minimums[t], dmin, &xs[t]->d); });
      }
      typename L::I lanes[NT];
      if constexpr (kVnniDecode) {
        q4_k_lanes_vnni<NT, kPrefetch>(sb, xs, lanes);
      } else {
        static_for<NT>([&](auto t) __attribute__((always_inline)) { lanes[t] = L::splat(0); });
        static_for<4>([&](auto h) __attribute__((always_inline)) {
          const auto scales = L::broadcast16(sb + kLayout.scales + 16 * h, gb);
          q45_k_sub_block<L, kFifthBit, NT, 0>(sb, gb, h, scales, xs, lanes);
          q45_k_sub_block<L, kFifthBit, NT, 1>(sb, gb, h, scales, xs, lanes);
        });
      }
      const auto d = L::scales(sb + kLayout.d, gb);
      static_for<NT>([&](auto t) __attribute__((always_inline)) { acc[t] = L::fmadd_scaled(acc[t], lanes[t], d, &xs[t]->d); });
    }
    for (int t = 0; t < NT; ++t) L::store(a.y + (t0 + t) * a.y_stride + g * kRepackRows, acc[t]);
  }
};

// Q6_K (layout in int8_repacked_weights.h): unsigned 6-bit quants u = w + 32. A maddubs pair
// is at most 2 * 63 * 127 = 16002, so two steps (8 elements) share an int16 before one madd
// with the signed scale of their 16-element sub-block; the +32 offset comes off once per
// super-block: lanes -= 32 * sum_q s_q * x.sums[q] (bounds: |lanes| <= 16 * 128 * (64008 +
// 32 * 2032) < 2^28).

// As spread_rows, for the signed scales: lane r gets (b[8 * kOdd + r], b[8 * kOdd + r]), or with
// kPairs (b[r], b[8 + r]), each byte sign-extended to int16 (placed in the high byte, then an
// arithmetic shift).
template <class L, int kOdd, bool kPairs = false>
JISU_AI typename L::I spread_rows_signed(typename L::I bytes) {
  constexpr char o = 8 * kOdd, p = kPairs ? 8 : 0, z = -1;
  const __m256i pattern =
      _mm256_setr_epi8(z, o, z, o + p, z, o + 1, z, o + 1 + p, z, o + 2, z, o + 2 + p, z, o + 3, z, o + 3 + p,  //
                       z, o + 4, z, o + 4 + p, z, o + 5, z, o + 5 + p, z, o + 6, z, o + 6 + p, z, o + 7, z, o + 7 + p);
  return L::template shift_right_signed16<8>(L::lookup(bytes, L::repeat(pattern)));
}

// Step k of chunk C = 4h + c of the Q6_K super-block at sb: 32 unsigned 6-bit quants (4 per row
// lane), the low nibbles from ql and the two high bits from qh moved to bits 4-5; on kGroups of
// lanes (TileLanes), each group's at its place, group_bytes apart.
template <int h, int c, int k, class L = TileLanes<1>>
JISU_AI typename L::I q6_k_step_quants(const uint8_t* sb, size_t group_bytes = 0) {
  const auto ql = L::load(sb + 32 * (16 * h + 8 * (c % 2) + k), group_bytes);
  const auto qh = L::load(sb + kRepackedQ6KHigh + 32 * (8 * h + k), group_bytes);
  const auto low = L::and_bits(c < 2 ? ql : L::high_nibbles_down(ql), L::splat_bytes(15));
  typename L::I high;
  if constexpr (c < 2) high = L::template shift_left16<4 - 2 * c>(qh);
  else if constexpr (c == 2) high = qh;
  else high = L::template shift_right16<2>(qh);
  return L::or_bits(low, L::and_bits(high, L::splat_bytes(0x30)));
}

// Chunk C = 4h + c (elements 128h + 32c .. +31) of the super-block at sb for NT tokens: four
// pairs of steps, each pair one madd with the scale of its 16-element sub-block.
template <class L, int NT, int C>
JISU_AI void q6_k_chunk(const uint8_t* sb, size_t group_bytes, const ActivationSuperBlock* const* xs, typename L::I* lanes) {
  constexpr int h = C / 4, c = C % 4;
  const auto scales = L::broadcast16(sb + kRepackedQ6KScales + 16 * (4 * h + c), group_bytes);
  static_for<4>([&](auto pair) __attribute__((always_inline)) {
    constexpr int k0 = 2 * decltype(pair)::value;  // elements 4k0 .. 4k0 + 7 of the chunk
    const int8_t* activations[NT];
    super_block_activations<NT>(xs, 32 * C + 4 * k0, activations);
    const auto weights = [&](auto step) __attribute__((always_inline)) {
      return q6_k_step_quants<h, c, k0 + decltype(step)::value, L>(sb, group_bytes);
    };
    scaled_steps<L, NT, 2>(weights, activations, spread_rows_signed<L, (k0 >= 4)>(scales), lanes);
  });
}

// Q6_K decode on VNNI (one or two tokens), as q4_k_lanes_vnni: each 16-element sub-block q is
// four vpdpbusd steps of the unsigned 6-bit quants straight into int32 lanes, then one vpmulld by
// the rows' int8 scales (sign-extended from the repacked scale bytes) instead of maddubs, add and
// a madd per pair of steps. The same exact int32 lanes as q6_k_chunk's (a sub-block <= 16 * 63 *
// 127 = 128016, times 128, sixteen: < 3.3e8 < 2^31). Prefetches one line per step over the
// first 26 of the 64 steps (see q4_k_lanes_vnni).
template <int NT, bool kPrefetch>
JISU_AI void q6_k_lanes_vnni(const uint8_t* sb, const ActivationSuperBlock* const* xs, __m256i* lanes) {
  constexpr int kLines = (kRepackedQ6KBytes + 63) / 64;  // 26
  static_for<NT>([&](auto t) __attribute__((always_inline)) { lanes[t] = _mm256_setzero_si256(); });
  static_for<8>([&](auto chunk) __attribute__((always_inline)) {
    constexpr int C = decltype(chunk)::value, h = C / 4, c = C % 4;
    __m256i sum[2][NT];  // sub-blocks 2C and 2C + 1
    static_for<8>([&](auto step) __attribute__((always_inline)) {
      constexpr int k = decltype(step)::value, half = k / 4;
      if constexpr (kPrefetch && 8 * C + k < kLines) prefetch_here(sb + 64 * (8 * C + k));
      const __m256i u = q6_k_step_quants<h, c, k>(sb);
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        const int8_t* q = xs[t]->qs + 32 * C + 4 * k;
        if constexpr (k % 4 == 0) sum[half][t] = IntDot::dot(u, broadcast4(q));
        else sum[half][t] = IntDot::dot_add(sum[half][t], u, broadcast4(q));
      });
    });
    static_for<2>([&](auto hf) __attribute__((always_inline)) {
      constexpr int q = 2 * C + decltype(hf)::value;
      const __m256i scale =
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sb + kRepackedQ6KScales + 8 * q)));
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        lanes[t] = _mm256_add_epi32(lanes[t], _mm256_mullo_epi32(sum[decltype(hf)::value][t], scale));
      });
    });
  });
}

struct TilesQ6_K {
  static constexpr size_t kElements = kActivationSuperBlockElements;
  // Tokens per tile: 6 and 8 measured slower on ymm (kernel bench, 128 tokens: 139 / 129 / 99
  // GFLOP/s for 4 / 6 / 8); with two groups per zmm (kTwoGroupTileTokens) 8 is faster (avx512_vnni,
  // 128 tokens, 2 rounds alternating: 177-179 / 181-183 / 200-201 for 4 / 6 / 8).
  static constexpr int kTileTokens = 4;
  static constexpr int kTwoGroupTileTokens = 8;
  // Rows 8g .. 8(g + kGroups) - 1 (TileLanes) for tokens t0 .. t0 + NT - 1.
  template <int NT, bool kPrefetch, int kGroups = 1>
  static void tile(const RepackedMatmulArgs& a, size_t g, size_t t0) {
    using L = TileLanes<kGroups>;
    const size_t super_blocks = a.n / kElements, gb = a.group_bytes;
    const uint8_t* group = a.w + g * gb;
    const uint8_t* scales_d = group + super_blocks * kRepackedQ6KBytes;
    const ActivationSuperBlock* x[NT];
    typename L::F acc[NT];
    start_super_block_tile<L, NT>(a, t0, x, acc);
    for (size_t s = 0; s < super_blocks; ++s) {
      const uint8_t* sb = group + s * kRepackedQ6KBytes;
      constexpr bool kVnniDecode = IntDot::kVnni && NT <= kVnniDecodeTokens;
      static_assert(kGroups == 1 || !kVnniDecode, "the decode form is one group's");
      if constexpr (kPrefetch) {
        for (int k = 0; k < kGroups; ++k) {
          if constexpr (!kVnniDecode)
            for (size_t offset = 0; offset < kRepackedQ6KBytes; offset += 64) prefetch(sb + k * gb + offset);
          if (s % 4 == 0) prefetch(scales_d + k * gb + s * 2 * kRepackRows);
        }
      }
      const ActivationSuperBlock* xs[NT];
      static_for<NT>([&](auto t) __attribute__((always_inline)) { xs[t] = x[t] + s; });
      typename L::I lanes[NT];
      if constexpr (kVnniDecode) {
        q6_k_lanes_vnni<NT, kPrefetch>(sb, xs, lanes);
      } else {
        static_for<NT>([&](auto t) __attribute__((always_inline)) { lanes[t] = L::splat(0); });
        static_for<8>([&](auto chunk) __attribute__((always_inline)) { q6_k_chunk<L, NT, decltype(chunk)::value>(sb, gb, xs, lanes); });
      }
      // The offset: lane r -= 32 * sum_q s_q,r * sums[q], one madd per pair of sub-blocks.
      typename L::I offset[NT];
      static_for<NT>([&](auto t) __attribute__((always_inline)) { offset[t] = L::splat(0); });
      static_for<8>([&](auto pair) __attribute__((always_inline)) {
        const auto scale_pairs = spread_rows_signed<L, 0, true>(L::broadcast16(sb + kRepackedQ6KScales + 16 * pair, gb));
        static_for<NT>([&](auto t) __attribute__((always_inline)) {
          const auto* sums = reinterpret_cast<const int8_t*>(xs[t]->sums + 2 * pair);
          offset[t] = L::madd_add(offset[t], scale_pairs, L::splat4(sums));
        });
      });
      const auto d = L::scales(scales_d + s * 2 * kRepackRows, gb);
      static_for<NT>([&](auto t) __attribute__((always_inline)) {
        acc[t] = L::fmadd_scaled(acc[t], L::sub32(lanes[t], L::template shift_left32<5>(offset[t])), d, &xs[t]->d);
      });
    }
    for (int t = 0; t < NT; ++t) L::store(a.y + (t0 + t) * a.y_stride + g * kRepackRows, acc[t]);
  }
};

// The 32-element block types.
template <class W>
struct TilesBlocks32 {
  // Tokens per tile: 8, whose float accumulators wait on the stack (an fma from memory and a
  // store per block), which costs less than unpacking every block for only 4 tokens (kernel
  // bench, 128 tokens, best of 8, 2 rounds: Q4_0 185 -> 193 GFLOP/s, Q8_0 119 -> 124; 6
  // tokens, which keep them in registers, measured in between). A batched decode of up to 8
  // tokens is then one pass over the weights. The same with two groups per zmm.
  static constexpr int kTileTokens = 8;
  static constexpr int kTwoGroupTileTokens = 8;
  template <int NT, bool kPrefetch, int kGroups = 1>
  static void tile(const RepackedMatmulArgs& a, size_t g, size_t t0) { group_tile<W, NT, kPrefetch, kGroups>(a, g, t0); }
};

template <class Tiles, int NT, bool kPrefetch = false, bool kTwoGroups = false>
void groups_tile(const RepackedMatmulArgs& a, size_t g_begin, size_t g_end, size_t t0) {
  size_t g = g_begin;
  // With two groups per tile (for the token counts that have them, kTwoGroupTokens) the groups
  // go two at a time, the odd one alone.
  if constexpr (kTwoGroups && kTwoGroupTokens<NT>)
    for (; g + 2 <= g_end; g += 2) Tiles::template tile<NT, kPrefetch, 2>(a, g, t0);
  for (; g < g_end; ++g) Tiles::template tile<NT, kPrefetch>(a, g, t0);
}

// Groups are walked in blocks of about 256 KiB of weights so that, with more tokens than one
// tile takes, a block stays in L2 (1 MiB here) while every token tile passes over it.
constexpr size_t kRowBlockBytes = 1 << 18;

// Calls f(std::integral_constant<int, count>) for the runtime count in [1, kMax]: the tile
// functions take their token count as a template argument.
template <int kMax, class F>
JISU_AI void with_token_count(size_t count, F f) {
  static_for<kMax + 1>([&](auto c) {
    if constexpr (decltype(c)::value > 0)
      if (count == decltype(c)::value) f(c);
  });
}

// kTileTokens tokens per tile (the tile size of the form, one or two groups per tile).
template <class Tiles, int kTileTokens, bool kTwoGroups>
void walk_tiles(const RepackedMatmulArgs& a) {
  const size_t g_begin = a.row_begin / kRepackRows, g_end = a.row_end / kRepackRows;
  if (g_end <= g_begin || a.n_tokens == 0) return;
  const size_t block_groups = a.group_bytes >= kRowBlockBytes ? 1 : kRowBlockBytes / a.group_bytes;
  for (size_t gb = g_begin; gb < g_end; gb += block_groups) {
    const size_t ge = g_end - gb < block_groups ? g_end : gb + block_groups;
    // Full tiles, then one tile of the remaining tokens. The first tile over the block streams it
    // from DRAM, prefetching; with at most kTileTokens tokens (decode, batched decode) that is
    // the only pass, so the stream overlaps every token's arithmetic.
    size_t t0 = 0;
    for (; t0 + kTileTokens <= a.n_tokens; t0 += kTileTokens)
      t0 == 0 ? groups_tile<Tiles, kTileTokens, true, kTwoGroups>(a, gb, ge, t0)
              : groups_tile<Tiles, kTileTokens, false, kTwoGroups>(a, gb, ge, t0);
    with_token_count<kTileTokens - 1>(a.n_tokens - t0, [&](auto count) {
      constexpr int kRest = decltype(count)::value;
      t0 == 0 ? groups_tile<Tiles, kRest, true, kTwoGroups>(a, gb, ge, t0) : groups_tile<Tiles, kRest, false, kTwoGroups>(a, gb, ge, t0);
    });
  }
}

// Two groups per tile where the kernels have them, unless the caller asks for one
// (RepackedMatmulArgs::one_group_tiles: the same bits, each form with its own tile size).
template <class Tiles>
void matmul_impl(const RepackedMatmulArgs& a) {
  if constexpr (kTwoGroupTiles)
    if (!a.one_group_tiles) return walk_tiles<Tiles, Tiles::kTwoGroupTileTokens, true>(a);
  walk_tiles<Tiles, Tiles::kTileTokens, false>(a);
}

}  // namespace

void matmul_repacked_int8(const RepackedMatmulArgs& a) {
  switch (a.type) {
    case DType::Q4_0: return matmul_impl<TilesBlocks32<RQ4_0>>(a);
    case DType::Q8_0: return matmul_impl<TilesBlocks32<RQ8_0>>(a);
    case DType::IQ4_NL: return matmul_impl<TilesBlocks32<RIQ4_NL>>(a);
    case DType::Q4_K: return matmul_impl<TilesQ45_K<false>>(a);
    case DType::Q5_K: return matmul_impl<TilesQ45_K<true>>(a);
    case DType::Q6_K: return matmul_impl<TilesQ6_K>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
