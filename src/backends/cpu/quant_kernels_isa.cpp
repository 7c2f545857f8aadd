// AVX2 + FMA + F16C weight kernels.
//
// Quantized types: a decoder turns a block into 32-float chunks (four ymm: elements
// [32c + 8v, 32c + 8v + 8) for v = 0..3) in registers. The matmul multiplies each chunk into
// per-(row, token) accumulators: vectors 0 and 2 go to acc0, 1 and 3 to acc1, in this order,
// block after block; at the end of the row acc0 + acc1 is reduced in one fixed order. A tile
// of NT tokens shares each decoded chunk.
// Plain types (F32, F16, BF16): one accumulator per (row, token), 8 elements per FMA (see
// PlainKernel).
// Either way the instruction sequence applied to one (row, token) is the same for every tile
// shape and row slice, so results are independent of batch size, tile position and threading.
#include "backends/cpu/vector_isa.h"
#include "backends/cpu/matmul_tile_walk.h"
#include "backends/cpu/simd_math.h"

#include <cstring>
#include <utility>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers.

JISU_AI float load_half(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }
// 8 bytes -> 8 x int32.
JISU_AI __m256i widen_u8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
JISU_AI __m256i widen_i8(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
JISU_AI __m256 to_float(__m256i v) { return _mm256_cvtepi32_ps(v); }
JISU_AI __m256i splat(int v) { return _mm256_set1_epi32(v); }

template <int S>
JISU_AI __m256i shift_lanes(__m256i v) {
  if constexpr (S > 0) return _mm256_slli_epi32(v, S);
  else if constexpr (S < 0) return _mm256_srli_epi32(v, -S);
  else return v;
}

// Fixed-order horizontal sum (part of the determinism contract: always this sequence).
JISU_AI float reduce(__m256 a0, __m256 a1) { return horizontal_sum(_mm256_add_ps(a0, a1)); }

using Chunk = __m256[4];

// ---------------------------------------------------------------------------------------------
// Decoders. Interface:
//   kElems / kBytes: elements and bytes of one block (plain types: a 32-element group)
//   kChunks: 32-element chunks per block; kPlain: plain type (row may end in a partial group)
//   State prep(const uint8_t* block); template <int C> chunk(const State&, __m256 w[4])
//   plain types also: float scalar(const uint8_t* p, size_t i) for the elements past the last group

// Plain element types: kSize bytes per element, eight(p) = the 8 elements from p as floats,
// scalar(p, i) = element i.
struct F32Elements {
  static constexpr size_t kSize = 4;
  static JISU_AI __m256 eight(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static JISU_AI float scalar(const uint8_t* p, size_t i) {
    float f;
    std::memcpy(&f, p + 4 * i, sizeof f);
    return f;
  }
};

struct F16Elements {
  static constexpr size_t kSize = 2;
  static JISU_AI __m256 eight(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return _cvtsh_ss(load_u16(p + 2 * i)); }
};

struct BF16Elements {
  static constexpr size_t kSize = 2;
  static JISU_AI __m256 eight(const uint8_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return bfloat_to_float(load_u16(p + 2 * i)); }
};

// Decoder of a plain type (used by dequantize; the matmul has its own PlainKernel).
template <class E>
struct DecPlain {
  static constexpr size_t kElems = 32, kBytes = 32 * E::kSize;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = true;
  struct State {
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) { return {p}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    for (int v = 0; v < 4; ++v) w[v] = E::eight(s.p + 8 * v * E::kSize);
  }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return E::scalar(p, i); }
};
using DecF32 = DecPlain<F32Elements>;
using DecF16 = DecPlain<F16Elements>;
using DecBF16 = DecPlain<BF16Elements>;

// Q4_0: (q - 8) * d computed as fma(q, d, -8d) (exact: -8d is exact, one rounding).
// Q4_1: fma(q, d, m).
template <bool HasMin>
struct DecQ4 {
  static constexpr size_t kElems = 32, kBytes = HasMin ? 20 : 18;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m256 d, b;
    __m256i q0, q1;
  };
  static JISU_AI State prep(const uint8_t* p) {
    const float d = load_half(p);
    constexpr size_t kQs = HasMin ? 4 : 2;
    State s;
    s.d = _mm256_set1_ps(d);
    s.b = HasMin ? _mm256_set1_ps(load_half(p + 2)) : _mm256_set1_ps(-8.0f * d);
    s.q0 = widen_u8(p + kQs);
    s.q1 = widen_u8(p + kQs + 8);
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    const __m256i m = splat(15);
    w[0] = _mm256_fmadd_ps(to_float(_mm256_and_si256(s.q0, m)), s.d, s.b);
    w[1] = _mm256_fmadd_ps(to_float(_mm256_and_si256(s.q1, m)), s.d, s.b);
    w[2] = _mm256_fmadd_ps(to_float(_mm256_srli_epi32(s.q0, 4)), s.d, s.b);
    w[3] = _mm256_fmadd_ps(to_float(_mm256_srli_epi32(s.q1, 4)), s.d, s.b);
  }
};
using DecQ4_0 = DecQ4<false>;
using DecQ4_1 = DecQ4<true>;

// Q5_0: fma(q, d, -16d) (exact), Q5_1: fma(q, d, m); bit e of qh is bit 4 of element e.
template <bool HasMin>
struct DecQ5 {
  static constexpr size_t kElems = 32, kBytes = HasMin ? 24 : 22;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m256 d, b;
    __m256i q0, q1, qh;
  };
  static JISU_AI State prep(const uint8_t* p) {
    const float d = load_half(p);
    constexpr size_t kQh = HasMin ? 4 : 2;
    State s;
    s.d = _mm256_set1_ps(d);
    s.b = HasMin ? _mm256_set1_ps(load_half(p + 2)) : _mm256_set1_ps(-16.0f * d);
    s.qh = _mm256_set1_epi32(static_cast<int>(load_u32(p + kQh)));
    s.q0 = widen_u8(p + kQh + 4);
    s.q1 = widen_u8(p + kQh + 12);
    return s;
  }
  template <int V>
  static JISU_AI __m256 one(const State& s, __m256i nib) {
    constexpr auto bit = [](int k) { return static_cast<int>(1u << (8 * V + k)); };
    const __m256i bits = _mm256_setr_epi32(bit(0), bit(1), bit(2), bit(3), bit(4), bit(5), bit(6), bit(7));
    const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(s.qh, bits), bits);
    const __m256i q = _mm256_or_si256(nib, _mm256_and_si256(set, splat(16)));
    return _mm256_fmadd_ps(to_float(q), s.d, s.b);
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    const __m256i m = splat(15);
    w[0] = one<0>(s, _mm256_and_si256(s.q0, m));
    w[1] = one<1>(s, _mm256_and_si256(s.q1, m));
    w[2] = one<2>(s, _mm256_srli_epi32(s.q0, 4));
    w[3] = one<3>(s, _mm256_srli_epi32(s.q1, 4));
  }
};
using DecQ5_0 = DecQ5<false>;
using DecQ5_1 = DecQ5<true>;

struct DecQ8_0 {
  static constexpr size_t kElems = 32, kBytes = 34;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m256 d;
    const uint8_t* q;
  };
  static JISU_AI State prep(const uint8_t* p) { return {_mm256_set1_ps(load_half(p)), p + 2}; }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    for (int v = 0; v < 4; ++v) w[v] = _mm256_mul_ps(to_float(widen_i8(s.q + 8 * v)), s.d);
  }
};

// IQ4_NL: d * kvalues[nibble], looked up with pshufb.
struct DecIQ4_NL {
  static constexpr size_t kElems = 32, kBytes = 18;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    __m256 d;
    __m128i lo, hi;  // int8 values of elements 0..15 and 16..31
  };
  static JISU_AI State prep(const uint8_t* p) {
    const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i m = _mm_set1_epi8(15);
    State s;
    s.d = _mm256_set1_ps(load_half(p));
    s.lo = _mm_shuffle_epi8(table, _mm_and_si128(q, m));
    s.hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m));
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    w[0] = _mm256_mul_ps(s.d, to_float(_mm256_cvtepi8_epi32(s.lo)));
    w[1] = _mm256_mul_ps(s.d, to_float(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(s.lo, s.lo))));
    w[2] = _mm256_mul_ps(s.d, to_float(_mm256_cvtepi8_epi32(s.hi)));
    w[3] = _mm256_mul_ps(s.d, to_float(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(s.hi, s.hi))));
  }
};

// Q2_K: element 128h + 32j + l = dl[8h+2j+l/16] * ((qs[32h+l] >> 2j) & 3) - ml[...].
struct DecQ2_K {
  static constexpr size_t kElems = 256, kBytes = 84;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(32) float dl[16];
    alignas(32) float ml[16];
    const uint8_t* qs;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const __m256 d = _mm256_set1_ps(load_half(p + 80)), dmin = _mm256_set1_ps(load_half(p + 82));
    for (int v = 0; v < 2; ++v) {
      const __m256i sc = widen_u8(p + 8 * v);
      _mm256_store_ps(s.dl + 8 * v, _mm256_mul_ps(d, to_float(_mm256_and_si256(sc, splat(15)))));
      _mm256_store_ps(s.ml + 8 * v, _mm256_mul_ps(dmin, to_float(_mm256_srli_epi32(sc, 4))));
    }
    s.qs = p + 16;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    constexpr int h = C / 4, j = C % 4;
    for (int v = 0; v < 4; ++v) {
      const __m256i q = _mm256_and_si256(_mm256_srli_epi32(widen_u8(s.qs + 32 * h + 8 * v), 2 * j), splat(3));
      const int is = 8 * h + 2 * j + v / 2;
      w[v] = _mm256_fmsub_ps(to_float(q), _mm256_set1_ps(s.dl[is]), _mm256_set1_ps(s.ml[is]));
    }
  }
};

// Q3_K: element 128h + 32j + l = dl[8h+2j+l/16] * (((qs[32h+l] >> 2j) & 3) - (hmask bit ? 0 : 4)).
struct DecQ3_K {
  static constexpr size_t kElems = 256, kBytes = 110;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(32) float dl[16];
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    alignas(16) int8_t sc[16];
    q3k_unpack_scales(p + 96, sc);
    const __m256 d = _mm256_set1_ps(load_half(p + 108));
    _mm256_store_ps(s.dl, _mm256_mul_ps(d, to_float(widen_i8(reinterpret_cast<const uint8_t*>(sc)))));
    _mm256_store_ps(s.dl + 8, _mm256_mul_ps(d, to_float(widen_i8(reinterpret_cast<const uint8_t*>(sc) + 8))));
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    constexpr int h = C / 4, j = C % 4;
    const __m256i bit = splat(1 << (4 * h + j));
    for (int v = 0; v < 4; ++v) {
      __m256i q = _mm256_and_si256(_mm256_srli_epi32(widen_u8(s.p + 32 + 32 * h + 8 * v), 2 * j), splat(3));
      const __m256i clear = _mm256_cmpeq_epi32(_mm256_and_si256(widen_u8(s.p + 8 * v), bit), _mm256_setzero_si256());
      q = _mm256_sub_epi32(q, _mm256_and_si256(clear, splat(4)));
      const int is = 8 * h + 2 * j + v / 2;
      w[v] = _mm256_mul_ps(_mm256_set1_ps(s.dl[is]), to_float(q));
    }
  }
};

// Q4_K: element 32s + l (s = 2g + hi) = d1[s] * nibble_hi(qs[32g + l]) - m1[s].
// Q5_K: the same plus bit s of qh[l] as bit 4.
template <bool Five>
struct DecQK45 {
  static constexpr size_t kElems = 256, kBytes = Five ? 176 : 144;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(32) float d1m1[16];  // d1[0..8), m1 in [8..16)
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    alignas(16) uint8_t sm[16];
    k4_unpack_scales(p + 4, sm);
    _mm256_store_ps(s.d1m1, _mm256_mul_ps(_mm256_set1_ps(load_half(p)), to_float(widen_u8(sm))));
    _mm256_store_ps(s.d1m1 + 8, _mm256_mul_ps(_mm256_set1_ps(load_half(p + 2)), to_float(widen_u8(sm + 8))));
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    constexpr int g = C / 2;
    constexpr size_t kQs = Five ? 48 : 16;
    const __m256 d = _mm256_set1_ps(s.d1m1[C]), m = _mm256_set1_ps(s.d1m1[8 + C]);
    for (int v = 0; v < 4; ++v) {
      const __m256i r = widen_u8(s.p + kQs + 32 * g + 8 * v);
      __m256i q = C % 2 == 0 ? _mm256_and_si256(r, splat(15)) : _mm256_srli_epi32(r, 4);
      if constexpr (Five) {
        const __m256i hb = _mm256_and_si256(widen_u8(s.p + 16 + 8 * v), splat(1 << C));
        q = _mm256_or_si256(q, shift_lanes<4 - C>(hb));
      }
      w[v] = _mm256_fmsub_ps(to_float(q), d, m);
    }
  }
};
using DecQ4_K = DecQK45<false>;
using DecQ5_K = DecQK45<true>;

// Q6_K: chunk C = 4h + c, element l of the chunk (l < 32):
//   ((ql[64h + 32(c&1) + l] >> (c < 2 ? 0 : 4)) & 15) | (((qh[32h + l] >> 2c) & 3) << 4), minus 32,
//   times ds[8h + 2c + l/16] (ds = d * scales); computed as fma(v, ds, -32ds), which is exact.
struct DecQ6_K {
  static constexpr size_t kElems = 256, kBytes = 210;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(32) float ds[16];
    alignas(32) float bias[16];
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const __m256 d = _mm256_set1_ps(load_half(p + 208));
    for (int v = 0; v < 2; ++v) {
      const __m256 ds = _mm256_mul_ps(d, to_float(widen_i8(p + 192 + 8 * v)));
      _mm256_store_ps(s.ds + 8 * v, ds);
      _mm256_store_ps(s.bias + 8 * v, _mm256_mul_ps(ds, _mm256_set1_ps(-32.0f)));
    }
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, __m256* w) {
    constexpr int h = C / 4, c = C % 4;
    const uint8_t* ql = s.p + 64 * h + 32 * (c & 1);
    const uint8_t* qh = s.p + 128 + 32 * h;
    for (int v = 0; v < 4; ++v) {
      const __m256i l = widen_u8(ql + 8 * v);
      const __m256i nib = c < 2 ? _mm256_and_si256(l, splat(15)) : _mm256_srli_epi32(l, 4);
      const __m256i hb = _mm256_and_si256(shift_lanes<4 - 2 * c>(widen_u8(qh + 8 * v)), splat(0x30));
      const __m256i q = _mm256_or_si256(nib, hb);
      const int is = 8 * h + 2 * c + v / 2;
      w[v] = _mm256_fmadd_ps(to_float(q), _mm256_set1_ps(s.ds[is]), _mm256_set1_ps(s.bias[is]));
    }
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
      __m256 w[4];
      D::template chunk<C>(st, w);
      for (int v = 0; v < 4; ++v) _mm256_storeu_ps(out + 32 * C + 8 * v, w[v]);
    });
  }
  if constexpr (D::kPlain) {
    const size_t rem = n - nb * D::kElems;
    for (size_t i = 0; i < rem; ++i) dst[nb * D::kElems + i] = D::scalar(src + nb * D::kBytes, i);
  }
}

template <class D, int NR, int NT>
void tile(const MatmulArgs& a, size_t r0, size_t t0) {
  static_assert(!D::kPlain, "plain types multiply in PlainKernel");
  const uint8_t* w[NR];
  for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
  __m256 acc0[NR][NT], acc1[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc0[i][t] = acc1[i][t] = _mm256_setzero_ps();

  const size_t nb = a.n / D::kElems;
  for (size_t b = 0; b < nb; ++b) {
    typename D::State st[NR];
    for (int i = 0; i < NR; ++i) st[i] = D::prep(w[i] + b * D::kBytes);
    const size_t k0 = b * D::kElems;
    static_for<D::kChunks>([&](auto c) __attribute__((always_inline)) {
      constexpr int C = decltype(c)::value;
      __m256 wv[NR][4];
      for (int i = 0; i < NR; ++i) D::template chunk<C>(st[i], wv[i]);
      for (int t = 0; t < NT; ++t) {
        const float* xp = x[t] + k0 + 32 * C;
        for (int v = 0; v < 4; v += 2) {
          const __m256 x0 = _mm256_loadu_ps(xp + 8 * v);
          const __m256 x1 = _mm256_loadu_ps(xp + 8 * v + 8);
          for (int i = 0; i < NR; ++i) {
            acc0[i][t] = _mm256_fmadd_ps(wv[i][v], x0, acc0[i][t]);
            acc1[i][t] = _mm256_fmadd_ps(wv[i][v + 1], x1, acc1[i][t]);
          }
        }
      }
    });
  }
  for (int t = 0; t < NT; ++t)
    for (int i = 0; i < NR; ++i) a.y[(t0 + t) * a.y_stride + r0 + i] = reduce(acc0[i][t], acc1[i][t]);
}

// Quantized types: per row block of about kRowBlockBytes, 1 x kTokenTile tiles, then 1 x 1..3.
constexpr int kTokenTile = 4;

template <class D, int NT>
void decoded_rows_tile(const MatmulArgs& a, size_t r_begin, size_t r_end, size_t t0) {
  for (size_t r = r_begin; r < r_end; ++r) tile<D, 1, NT>(a, r, t0);
}

template <class D>
void matmul_impl(const MatmulArgs& a) {
  if (a.row_end <= a.row_begin || a.n_tokens == 0) return;
  size_t block_rows = a.w_row_bytes == 0 ? a.row_end - a.row_begin : kRowBlockBytes / a.w_row_bytes;
  if (block_rows == 0) block_rows = 1;
  for (size_t rb = a.row_begin; rb < a.row_end; rb += block_rows) {
    const size_t re = a.row_end - rb < block_rows ? a.row_end : rb + block_rows;
    size_t t0 = 0;
    for (; t0 + kTokenTile <= a.n_tokens; t0 += kTokenTile) decoded_rows_tile<D, kTokenTile>(a, rb, re, t0);
    switch (a.n_tokens - t0) {
      case 1: decoded_rows_tile<D, 1>(a, rb, re, t0); break;
      case 2: decoded_rows_tile<D, 2>(a, rb, re, t0); break;
      case 3: decoded_rows_tile<D, 3>(a, rb, re, t0); break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Plain types (F32, F16, BF16): nothing to decode beyond a conversion, so the product is a
// float GEMM limited by FMA throughput once several tokens share each weight. Every (row, token)
// has ONE accumulator: acc = fma(w[k, k + 8), x[k, k + 8), acc) for k = 0, 8, 16, ..., then
// the last n % 8 elements as one zero-padded step, then the fixed horizontal sum. An NR x NT
// tile holds NR x NT accumulators, the NR converted weight vectors of the current step and one
// activation vector (3 x 4: 12 + 3 + 1 = the 16 ymm registers): each weight conversion serves
// NT FMAs and each activation load NR. The sequence per (row, token) is the same for every tile
// shape, so the walk (matmul_tile_walk.h) never changes a result.

// Lanes [0, count) set, count <= 8.
JISU_AI __m256i lanes_below(size_t count) {
  return _mm256_cmpgt_epi32(splat(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <class E>
struct PlainKernel {
  template <int NR, int NT, bool kPrefetch>
  static void tile(const MatmulArgs& a, size_t r0, size_t t0) {
    const uint8_t* w[NR];
    for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
    const float* x[NT];
    for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
    __m256 acc[NR][NT];
    for (int i = 0; i < NR; ++i)
      for (int t = 0; t < NT; ++t) acc[i][t] = _mm256_setzero_ps();

    const auto multiply = [&](const __m256 (&wv)[NR], auto&& load_x) __attribute__((always_inline)) {
      for (int t = 0; t < NT; ++t) {
        const __m256 xv = load_x(x[t]);
        for (int i = 0; i < NR; ++i) acc[i][t] = _mm256_fmadd_ps(wv[i], xv, acc[i][t]);
      }
    };
    const auto step = [&](size_t k) __attribute__((always_inline)) {
      __m256 wv[NR];
      for (int i = 0; i < NR; ++i) wv[i] = E::eight(w[i] + k * E::kSize);
      multiply(wv, [k](const float* xt) __attribute__((always_inline)) { return _mm256_loadu_ps(xt + k); });
    };
    size_t k = 0;
    for (; k + 32 <= a.n; k += 32) {
      if constexpr (kPrefetch)
        for (int i = 0; i < NR; ++i) prefetch_block_ahead<32 * E::kSize>(w[i] + k * E::kSize);
      step(k);
      step(k + 8);
      step(k + 16);
      step(k + 24);
    }
    for (; k + 8 <= a.n; k += 8) step(k);
    if (const size_t rem = a.n - k; rem != 0) {
      __m256 wv[NR];
      for (int i = 0; i < NR; ++i) {
        alignas(32) float padded[8] = {};
        for (size_t j = 0; j < rem; ++j) padded[j] = E::scalar(w[i] + k * E::kSize, j);
        wv[i] = _mm256_load_ps(padded);
      }
      const __m256i mask = lanes_below(rem);
      multiply(wv, [k, mask](const float* xt) __attribute__((always_inline)) { return _mm256_maskload_ps(xt + k, mask); });
    }
    for (int t = 0; t < NT; ++t)
      for (int i = 0; i < NR; ++i) a.y[(t0 + t) * a.y_stride + r0 + i] = horizontal_sum(acc[i][t]);
  }
};

// Decode (one token) is bound by the weight stream: 4 rows give 4 independent FMA chains.
template <class E>
void plain_matmul(const MatmulArgs& a) {
  matmul_tiles<PlainKernel<E>, 4, 3, 4>(a);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, size_t n) {
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

void matmul_rows(const MatmulArgs& a) {
  switch (a.type) {
    case DType::F32: return plain_matmul<F32Elements>(a);
    case DType::F16: return plain_matmul<F16Elements>(a);
    case DType::BF16: return plain_matmul<BF16Elements>(a);
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

}  // namespace jisu::cpu::JISU_KERNEL_ISA
