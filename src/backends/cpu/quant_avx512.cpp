// AVX-512 weight kernels (compiled with -mavx512f/bw/vl/dq/vnni, run only after CPUID says so).
//
// Every type has a decoder that turns a block into 32-float chunks (two zmm: elements
// [32c, 32c+16) and [32c+16, 32c+32)) entirely in registers. The matmul multiplies each chunk
// into per-(row, token) accumulators: the first zmm of every chunk goes to acc0, the second to
// acc1, in block order; at the end of the row acc0 + acc1 is reduced in one fixed order.
// A tile of NT tokens shares each decoded chunk, and the instruction sequence applied to one
// token's accumulators is the same for every NT and every row slice, which is what makes the
// result of (row, token) independent of batch size, tile position and threading.
#include "backends/cpu/simd_prelude.h"

#include <cstring>
#include <utility>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && \
    defined(__FMA__) && defined(__F16C__)

namespace jisu::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers.

JISU_AI float load_half(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }
JISU_AI __m512i widen_u8(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
JISU_AI __m512i widen_i8(const uint8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
JISU_AI __m512 to_float(__m512i v) { return _mm512_cvtepi32_ps(v); }
JISU_AI __m512i splat(int v) { return _mm512_set1_epi32(v); }

// Shift of a 32-bit lane by a compile-time amount, left for S > 0, right for S < 0.
template <int S>
JISU_AI __m512i shift_lanes(__m512i v) {
  if constexpr (S > 0) return _mm512_slli_epi32(v, S);
  else if constexpr (S < 0) return _mm512_srli_epi32(v, -S);
  else return v;
}

// Fixed-order horizontal sum (part of the determinism contract: always this sequence).
JISU_AI float reduce(__m512 a0, __m512 a1) {
  const __m512 v = _mm512_add_ps(a0, a1);
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

// ---------------------------------------------------------------------------------------------
// Decoders. Interface:
//   kElems / kBytes: elements and bytes of one block (plain types: a 32-element group)
//   kChunks: 32-element chunks per block; kPlain: plain type (row may end in a partial group)
//   State prep(const uint8_t* block); template <int C> chunk(const State&, w0, w1)
//   plain types also: tail(const uint8_t* p, __mmask16 m0, __mmask16 m1, w0, w1)

struct DecF32 {
  static constexpr size_t kElems = 32, kBytes = 128;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = true;
  struct State {
    const float* p;
  };
  static JISU_AI State prep(const uint8_t* p) { return {reinterpret_cast<const float*>(p)}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    w0 = _mm512_loadu_ps(s.p);
    w1 = _mm512_loadu_ps(s.p + 16);
  }
  static JISU_AI void tail(const uint8_t* p, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
    const float* f = reinterpret_cast<const float*>(p);
    w0 = _mm512_maskz_loadu_ps(m0, f);
    w1 = _mm512_maskz_loadu_ps(m1, f + 16);
  }
};

struct DecF16 {
  static constexpr size_t kElems = 32, kBytes = 64;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = true;
  struct State {
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) { return {p}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.p)));
    w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.p + 32)));
  }
  static JISU_AI void tail(const uint8_t* p, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
    w0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, p));
    w1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, p + 32));
  }
};

struct DecBF16 {
  static constexpr size_t kElems = 32, kBytes = 64;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = true;
  struct State {
    const uint8_t* p;
  };
  static JISU_AI __m512 expand(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static JISU_AI State prep(const uint8_t* p) { return {p}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    w0 = expand(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.p)));
    w1 = expand(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.p + 32)));
  }
  static JISU_AI void tail(const uint8_t* p, __mmask16 m0, __mmask16 m1, __m512& w0, __m512& w1) {
    w0 = expand(_mm256_maskz_loadu_epi16(m0, p));
    w1 = expand(_mm256_maskz_loadu_epi16(m1, p + 32));
  }
};

// 4-bit types with a 16-entry value table per block: one vpermps per 16 weights.
// Q4_0: (q - 8) * d, Q4_1: q * d + m, IQ4_NL: d * kvalues[q].
template <int Kind>  // 0 = Q4_0, 1 = Q4_1, 2 = IQ4_NL
struct DecTable4 {
  static constexpr size_t kElems = 32, kBytes = Kind == 1 ? 20 : 18;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m512 table;
    __m512i q;
  };
  static JISU_AI State prep(const uint8_t* p) {
    const __m512 d = _mm512_set1_ps(load_half(p));
    State s;
    if constexpr (Kind == 0) {
      s.table = _mm512_mul_ps(d, _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7));
      s.q = widen_u8(p + 2);
    } else if constexpr (Kind == 1) {
      const __m512 m = _mm512_set1_ps(load_half(p + 2));
      s.table = _mm512_fmadd_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), d, m);
      s.q = widen_u8(p + 4);
    } else {
      s.table = _mm512_mul_ps(d, to_float(_mm512_cvtepi8_epi32(
                                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl)))));
      s.q = widen_u8(p + 2);
    }
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    w0 = _mm512_permutexvar_ps(s.q, s.table);  // vpermps reads only index bits 0-3
    w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(s.q, 4), s.table);
  }
};
using DecQ4_0 = DecTable4<0>;
using DecQ4_1 = DecTable4<1>;
using DecIQ4_NL = DecTable4<2>;

// Q5_0: (q - 16) * d, Q5_1: q * d + m, with a 32-entry table (two zmm, vpermt2ps).
template <bool HasMin>
struct DecQ5 {
  static constexpr size_t kElems = 32, kBytes = HasMin ? 24 : 22;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m512 t0, t1;
    __m512i q;
    __mmask16 k0, k1;
  };
  static JISU_AI State prep(const uint8_t* p) {
    const __m512 d = _mm512_set1_ps(load_half(p));
    const __m512 lo = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 hi = _mm512_add_ps(lo, _mm512_set1_ps(16.0f));
    constexpr size_t kQh = HasMin ? 4 : 2;
    State s;
    if constexpr (HasMin) {
      const __m512 m = _mm512_set1_ps(load_half(p + 2));
      s.t0 = _mm512_fmadd_ps(lo, d, m);
      s.t1 = _mm512_fmadd_ps(hi, d, m);
    } else {
      s.t0 = _mm512_mul_ps(_mm512_sub_ps(lo, _mm512_set1_ps(16.0f)), d);
      s.t1 = _mm512_mul_ps(lo, d);
    }
    const uint32_t qh = load_u32(p + kQh);
    s.k0 = static_cast<__mmask16>(qh & 0xffffu);
    s.k1 = static_cast<__mmask16>(qh >> 16);
    s.q = widen_u8(p + kQh + 4);
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    const __m512i sixteen = splat(16);
    const __m512i i0 = _mm512_mask_or_epi32(_mm512_and_si512(s.q, splat(15)), s.k0, _mm512_and_si512(s.q, splat(15)), sixteen);
    const __m512i i1 = _mm512_mask_or_epi32(_mm512_srli_epi32(s.q, 4), s.k1, _mm512_srli_epi32(s.q, 4), sixteen);
    w0 = _mm512_permutex2var_ps(s.t0, i0, s.t1);
    w1 = _mm512_permutex2var_ps(s.t0, i1, s.t1);
  }
};
using DecQ5_0 = DecQ5<false>;
using DecQ5_1 = DecQ5<true>;

struct DecQ8_0 {
  static constexpr size_t kElems = 32, kBytes = 34;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m512 d;
    const uint8_t* q;
  };
  static JISU_AI State prep(const uint8_t* p) { return {_mm512_set1_ps(load_half(p)), p + 2}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    w0 = _mm512_mul_ps(to_float(widen_i8(s.q)), s.d);
    w1 = _mm512_mul_ps(to_float(widen_i8(s.q + 16)), s.d);
  }
};

// Q2_K: element 128h + 32j + l = dl[8h+2j+l/16] * ((qs[32h+l] >> 2j) & 3) - ml[...].
struct DecQ2_K {
  static constexpr size_t kElems = 256, kBytes = 84;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float dl[16];
    alignas(64) float ml[16];
    const uint8_t* qs;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const __m512i sc = widen_u8(p);
    _mm512_store_ps(s.dl, _mm512_mul_ps(_mm512_set1_ps(load_half(p + 80)), to_float(_mm512_and_si512(sc, splat(15)))));
    _mm512_store_ps(s.ml, _mm512_mul_ps(_mm512_set1_ps(load_half(p + 82)), to_float(_mm512_srli_epi32(sc, 4))));
    s.qs = p + 16;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    constexpr int h = C / 4, j = C % 4;
    const __m512i q0 = _mm512_and_si512(_mm512_srli_epi32(widen_u8(s.qs + 32 * h), 2 * j), splat(3));
    const __m512i q1 = _mm512_and_si512(_mm512_srli_epi32(widen_u8(s.qs + 32 * h + 16), 2 * j), splat(3));
    constexpr int is = 8 * h + 2 * j;
    w0 = _mm512_fmsub_ps(to_float(q0), _mm512_set1_ps(s.dl[is]), _mm512_set1_ps(s.ml[is]));
    w1 = _mm512_fmsub_ps(to_float(q1), _mm512_set1_ps(s.dl[is + 1]), _mm512_set1_ps(s.ml[is + 1]));
  }
};

// Q3_K: element 128h + 32j + l = dl[8h+2j+l/16] * (((qs[32h+l] >> 2j) & 3) - (hmask bit ? 0 : 4)).
struct DecQ3_K {
  static constexpr size_t kElems = 256, kBytes = 110;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float dl[16];
    __m512i hm0, hm1;
    const uint8_t* qs;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    alignas(16) int8_t sc[16];
    q3k_unpack_scales(p + 96, sc);
    const __m512 scales = to_float(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(sc))));
    _mm512_store_ps(s.dl, _mm512_mul_ps(_mm512_set1_ps(load_half(p + 108)), scales));
    s.hm0 = widen_u8(p);
    s.hm1 = widen_u8(p + 16);
    s.qs = p + 32;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    constexpr int h = C / 4, j = C % 4;
    const __m512i bit = splat(1 << (4 * h + j)), four = splat(4);
    __m512i q0 = _mm512_and_si512(_mm512_srli_epi32(widen_u8(s.qs + 32 * h), 2 * j), splat(3));
    __m512i q1 = _mm512_and_si512(_mm512_srli_epi32(widen_u8(s.qs + 32 * h + 16), 2 * j), splat(3));
    q0 = _mm512_mask_sub_epi32(q0, _mm512_testn_epi32_mask(s.hm0, bit), q0, four);
    q1 = _mm512_mask_sub_epi32(q1, _mm512_testn_epi32_mask(s.hm1, bit), q1, four);
    constexpr int is = 8 * h + 2 * j;
    w0 = _mm512_mul_ps(_mm512_set1_ps(s.dl[is]), to_float(q0));
    w1 = _mm512_mul_ps(_mm512_set1_ps(s.dl[is + 1]), to_float(q1));
  }
};

// Q4_K / Q5_K scales: d1[s] = d * scale_s, m1[s] = dmin * min_s for the 8 sub-blocks.
JISU_AI void k4_prep_scales(const uint8_t* p, float* d1m1) {
  alignas(16) uint8_t sm[16];
  k4_unpack_scales(p + 4, sm);
  const __m512 mult = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(load_half(p)), _mm512_set1_ps(load_half(p + 2)));
  _mm512_store_ps(d1m1, _mm512_mul_ps(mult, to_float(widen_u8(sm))));
}

// Q4_K: element 32s + l (s = 2g + hi) = d1[s] * nibble_hi(qs[32g + l]) - m1[s].
// Q5_K: the same plus bit s of qh[l] as bit 4.
template <bool Five>
struct DecQK45 {
  static constexpr size_t kElems = 256, kBytes = Five ? 176 : 144;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float d1m1[16];  // d1[0..8), m1 in [8..16)
    __m512i qh0, qh1;
    const uint8_t* qs;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    k4_prep_scales(p, s.d1m1);
    if constexpr (Five) {
      s.qh0 = widen_u8(p + 16);
      s.qh1 = widen_u8(p + 32);
      s.qs = p + 48;
    } else {
      s.qh0 = s.qh1 = _mm512_setzero_si512();
      s.qs = p + 16;
    }
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    constexpr int g = C / 2;
    const __m512i r0 = widen_u8(s.qs + 32 * g), r1 = widen_u8(s.qs + 32 * g + 16);
    __m512i q0, q1;
    if constexpr (C % 2 == 0) {
      q0 = _mm512_and_si512(r0, splat(15));
      q1 = _mm512_and_si512(r1, splat(15));
    } else {
      q0 = _mm512_srli_epi32(r0, 4);
      q1 = _mm512_srli_epi32(r1, 4);
    }
    if constexpr (Five) {
      const __m512i bit = splat(1 << C), sixteen = splat(16);
      q0 = _mm512_mask_or_epi32(q0, _mm512_test_epi32_mask(s.qh0, bit), q0, sixteen);
      q1 = _mm512_mask_or_epi32(q1, _mm512_test_epi32_mask(s.qh1, bit), q1, sixteen);
    }
    const __m512 d = _mm512_set1_ps(s.d1m1[C]), m = _mm512_set1_ps(s.d1m1[8 + C]);
    w0 = _mm512_fmsub_ps(to_float(q0), d, m);
    w1 = _mm512_fmsub_ps(to_float(q1), d, m);
  }
};
using DecQ4_K = DecQK45<false>;
using DecQ5_K = DecQK45<true>;

// Q6_K: chunk C = 4h + c, element l of the chunk (l < 32):
//   ((ql[64h + 32(c&1) + l] >> (c < 2 ? 0 : 4)) & 15) | (((qh[32h + l] >> 2c) & 3) << 4), minus 32,
//   times ds[8h + 2c + l/16] (ds = d * scales).
struct DecQ6_K {
  static constexpr size_t kElems = 256, kBytes = 210;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float ds[16];
    alignas(64) float bias[16];  // -32 * ds (exact)
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const __m512 ds = _mm512_mul_ps(_mm512_set1_ps(load_half(p + 208)), to_float(widen_i8(p + 192)));
    _mm512_store_ps(s.ds, ds);
    _mm512_store_ps(s.bias, _mm512_mul_ps(ds, _mm512_set1_ps(-32.0f)));
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m512& w0, __m512& w1) {
    constexpr int h = C / 4, c = C % 4;
    const uint8_t* ql = s.p + 64 * h + 32 * (c & 1);
    const uint8_t* qh = s.p + 128 + 32 * h;
    __m512i l0 = widen_u8(ql), l1 = widen_u8(ql + 16);
    if constexpr (c < 2) {
      l0 = _mm512_and_si512(l0, splat(15));
      l1 = _mm512_and_si512(l1, splat(15));
    } else {
      l0 = _mm512_srli_epi32(l0, 4);
      l1 = _mm512_srli_epi32(l1, 4);
    }
    const __m512i h0 = shift_lanes<4 - 2 * c>(widen_u8(qh));
    const __m512i h1 = shift_lanes<4 - 2 * c>(widen_u8(qh + 16));
    const __m512i v0 = _mm512_ternarylogic_epi32(l0, h0, splat(0x30), 0xf8);  // l | (h & 0x30)
    const __m512i v1 = _mm512_ternarylogic_epi32(l1, h1, splat(0x30), 0xf8);
    constexpr int is = 8 * h + 2 * c;
    w0 = _mm512_fmadd_ps(to_float(v0), _mm512_set1_ps(s.ds[is]), _mm512_set1_ps(s.bias[is]));
    w1 = _mm512_fmadd_ps(to_float(v1), _mm512_set1_ps(s.ds[is + 1]), _mm512_set1_ps(s.bias[is + 1]));
  }
};

// ---------------------------------------------------------------------------------------------
// Drivers.

template <class D>
void dequantize_impl(const uint8_t* src, float* dst, size_t n) {
  const size_t nb = n / D::kElems;
  for (size_t b = 0; b < nb; ++b) {
    const typename D::State st = D::prep(src + b * D::kBytes);
    float* out = dst + b * D::kElems;
    static_for<D::kChunks>([&](auto c) __attribute__((always_inline)) {
      constexpr int C = decltype(c)::value;
      __m512 w0, w1;
      D::template chunk<C>(st, w0, w1);
      _mm512_storeu_ps(out + 32 * C, w0);
      _mm512_storeu_ps(out + 32 * C + 16, w1);
    });
  }
  if constexpr (D::kPlain) {
    const size_t rem = n - nb * D::kElems;
    if (rem != 0) {
      const __mmask16 m0 = static_cast<__mmask16>(rem >= 16 ? 0xffffu : (1u << rem) - 1);
      const __mmask16 m1 = static_cast<__mmask16>(rem > 16 ? (1u << (rem - 16)) - 1 : 0u);
      __m512 w0, w1;
      D::tail(src + nb * D::kBytes, m0, m1, w0, w1);
      _mm512_mask_storeu_ps(dst + nb * D::kElems, m0, w0);
      _mm512_mask_storeu_ps(dst + nb * D::kElems + 16, m1, w1);
    }
  }
}

// One tile: NR consecutive rows starting at r0, NT consecutive tokens starting at t0.
template <class D, int NR, int NT>
void tile(const MatmulArgs& a, size_t r0, size_t t0) {
  const uint8_t* w[NR];
  for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
  __m512 acc0[NR][NT], acc1[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc0[i][t] = acc1[i][t] = _mm512_setzero_ps();

  const size_t nb = a.n / D::kElems;
  for (size_t b = 0; b < nb; ++b) {
    typename D::State st[NR];
    for (int i = 0; i < NR; ++i) st[i] = D::prep(w[i] + b * D::kBytes);
    const size_t k0 = b * D::kElems;
    static_for<D::kChunks>([&](auto c) __attribute__((always_inline)) {
      constexpr int C = decltype(c)::value;
      __m512 w0[NR], w1[NR];
      for (int i = 0; i < NR; ++i) D::template chunk<C>(st[i], w0[i], w1[i]);
      for (int t = 0; t < NT; ++t) {
        const __m512 x0 = _mm512_loadu_ps(x[t] + k0 + 32 * C);
        const __m512 x1 = _mm512_loadu_ps(x[t] + k0 + 32 * C + 16);
        for (int i = 0; i < NR; ++i) {
          acc0[i][t] = _mm512_fmadd_ps(w0[i], x0, acc0[i][t]);
          acc1[i][t] = _mm512_fmadd_ps(w1[i], x1, acc1[i][t]);
        }
      }
    });
  }
  if constexpr (D::kPlain) {
    const size_t rem = a.n - nb * D::kElems;
    if (rem != 0) {
      const size_t k0 = nb * D::kElems;
      const __mmask16 m0 = static_cast<__mmask16>(rem >= 16 ? 0xffffu : (1u << rem) - 1);
      const __mmask16 m1 = static_cast<__mmask16>(rem > 16 ? (1u << (rem - 16)) - 1 : 0u);
      __m512 w0[NR], w1[NR];
      for (int i = 0; i < NR; ++i) D::tail(w[i] + nb * D::kBytes, m0, m1, w0[i], w1[i]);
      for (int t = 0; t < NT; ++t) {
        const __m512 x0 = _mm512_maskz_loadu_ps(m0, x[t] + k0);
        const __m512 x1 = _mm512_maskz_loadu_ps(m1, x[t] + k0 + 16);
        for (int i = 0; i < NR; ++i) {
          acc0[i][t] = _mm512_fmadd_ps(w0[i], x0, acc0[i][t]);
          acc1[i][t] = _mm512_fmadd_ps(w1[i], x1, acc1[i][t]);
        }
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int i = 0; i < NR; ++i) a.y[(t0 + t) * a.y_stride + r0 + i] = reduce(acc0[i][t], acc1[i][t]);
}

constexpr int kTokenTile = 8;         // tokens sharing one decoded block
constexpr size_t kRowBlockBytes = 1 << 18;  // weights kept hot while token tiles sweep them

template <class D, int NT>
void rows_tile(const MatmulArgs& a, size_t r_begin, size_t r_end, size_t t0) {
  for (size_t r = r_begin; r < r_end; ++r) tile<D, 1, NT>(a, r, t0);
}

template <class D>
void partial_tokens(const MatmulArgs& a, size_t r_begin, size_t r_end, size_t t0, size_t left) {
  switch (left) {
    case 1: return rows_tile<D, 1>(a, r_begin, r_end, t0);
    case 2: return rows_tile<D, 2>(a, r_begin, r_end, t0);
    case 3: return rows_tile<D, 3>(a, r_begin, r_end, t0);
    case 4: return rows_tile<D, 4>(a, r_begin, r_end, t0);
    case 5: return rows_tile<D, 5>(a, r_begin, r_end, t0);
    case 6: return rows_tile<D, 6>(a, r_begin, r_end, t0);
    case 7: return rows_tile<D, 7>(a, r_begin, r_end, t0);
    default: return;
  }
}

template <class D>
void matmul_impl(const MatmulArgs& a) {
  if (a.row_end <= a.row_begin || a.n_tokens == 0) return;
  size_t block_rows = a.w_row_bytes == 0 ? a.row_end - a.row_begin : kRowBlockBytes / a.w_row_bytes;
  if (block_rows == 0) block_rows = 1;
  for (size_t rb = a.row_begin; rb < a.row_end; rb += block_rows) {
    const size_t re = a.row_end - rb < block_rows ? a.row_end : rb + block_rows;
    size_t t0 = 0;
    for (; t0 + kTokenTile <= a.n_tokens; t0 += kTokenTile) rows_tile<D, kTokenTile>(a, rb, re, t0);
    if (t0 < a.n_tokens) partial_tokens<D>(a, rb, re, t0, a.n_tokens - t0);
  }
}

}  // namespace

void dequantize_row_avx512(DType type, const void* src, float* dst, size_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  switch (type) {
    case DType::F32: return dequantize_impl<DecF32>(s, dst, n);
    case DType::F16: return dequantize_impl<DecF16>(s, dst, n);
    case DType::BF16: return dequantize_impl<DecBF16>(s, dst, n);
    case DType::Q4_0: return dequantize_impl<DecQ4_0>(s, dst, n);
    case DType::Q4_1: return dequantize_impl<DecQ4_1>(s, dst, n);
    case DType::Q5_0: return dequantize_impl<DecQ5_0>(s, dst, n);
    case DType::Q5_1: return dequantize_impl<DecQ5_1>(s, dst, n);
    case DType::Q8_0: return dequantize_impl<DecQ8_0>(s, dst, n);
    case DType::Q2_K: return dequantize_impl<DecQ2_K>(s, dst, n);
    case DType::Q3_K: return dequantize_impl<DecQ3_K>(s, dst, n);
    case DType::Q4_K: return dequantize_impl<DecQ4_K>(s, dst, n);
    case DType::Q5_K: return dequantize_impl<DecQ5_K>(s, dst, n);
    case DType::Q6_K: return dequantize_impl<DecQ6_K>(s, dst, n);
    case DType::IQ4_NL: return dequantize_impl<DecIQ4_NL>(s, dst, n);
    default: throw_unsupported_weight_type(type);
  }
}

void matmul_rows_avx512(const MatmulArgs& a) {
  switch (a.type) {
    case DType::F32: return matmul_impl<DecF32>(a);
    case DType::F16: return matmul_impl<DecF16>(a);
    case DType::BF16: return matmul_impl<DecBF16>(a);
    case DType::Q4_0: return matmul_impl<DecQ4_0>(a);
    case DType::Q4_1: return matmul_impl<DecQ4_1>(a);
    case DType::Q5_0: return matmul_impl<DecQ5_0>(a);
    case DType::Q5_1: return matmul_impl<DecQ5_1>(a);
    case DType::Q8_0: return matmul_impl<DecQ8_0>(a);
    case DType::Q2_K: return matmul_impl<DecQ2_K>(a);
    case DType::Q3_K: return matmul_impl<DecQ3_K>(a);
    case DType::Q4_K: return matmul_impl<DecQ4_K>(a);
    case DType::Q5_K: return matmul_impl<DecQ5_K>(a);
    case DType::Q6_K: return matmul_impl<DecQ6_K>(a);
    case DType::IQ4_NL: return matmul_impl<DecIQ4_NL>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu

#else  // built without the AVX-512 flags: the dispatcher never selects this path

namespace jisu::cpu {
void dequantize_row_avx512(DType type, const void* src, float* dst, size_t n) {
  dequantize_row_scalar(type, src, dst, n);
}
void matmul_rows_avx512(const MatmulArgs& a) { matmul_rows_scalar(a); }
}  // namespace jisu::cpu

#endif
