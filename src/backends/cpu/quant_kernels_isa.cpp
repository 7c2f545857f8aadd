// Weight kernels over float activations, compiled once per vector width (vector_isa.h:
// FloatVec is __m256 for avx2, __m512 for avx512; the VNNI paths use these).
//
// Quantized types: a decoder turns a block into 32-float chunks (kVectors = 32 / kLanes
// vectors: vector v holds elements [32c + kLanes v, 32c + kLanes (v + 1))) in registers. The
// matmul multiplies each chunk into per-(row, token) accumulators: even vectors go to acc0, odd
// ones to acc1, in this order, block after block; at the end of the row acc0 + acc1 is reduced
// in one fixed order. A tile of NT tokens shares each decoded chunk.
// Plain types (F32, F16, BF16): one accumulator per (row, token), kLanes elements per FMA (see
// PlainKernel).
// Either way the instruction sequence applied to one (row, token) is the same for every tile
// shape and row slice, so results are independent of batch size, tile position and threading.
// (They differ between vector widths only by float summation order; tests bound that against
// the scalar reference.)
#include "backends/cpu/vector_isa.h"
#include "backends/cpu/block_decoders_isa.h"
#include "backends/cpu/matmul_tile_walk.h"

#include <cstring>
#include <utility>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

using V = FloatVec;
using F = V::F;
using I = V::I;
constexpr int kLanes = V::kLanes;
constexpr int kVectors = 32 / kLanes;  // vectors per 32-element chunk
constexpr int kHalf = 16 / kLanes;     // vectors per 16 elements (a K-quant sub-block)

// ---------------------------------------------------------------------------------------------
// Small helpers.

JISU_AI float load_half(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Shift of every 32-bit lane by a compile-time amount, left for S > 0, right for S < 0.
template <int S>
JISU_AI I shift_lanes(I v) {
  if constexpr (S > 0) return V::shift_left(v, S);
  else if constexpr (S < 0) return V::shift_right(v, -S);
  else return v;
}

// Fixed-order horizontal sum (part of the determinism contract: always this sequence).
JISU_AI float reduce(F a0, F a1) { return V::sum(V::add(a0, a1)); }

// The sub-block of 16 that vector v of a chunk falls in, counted from the chunk's first one.
constexpr int sub_block_of(int v) { return kLanes * v / 16; }

// ---------------------------------------------------------------------------------------------
// Decoders: block_decoders_isa.h has the interface and those of the KV cache types (F32, F16,
// BF16, Q4_0, Q4_1, Q8_0), which the attention kernels inline too; the other types' are here.
using block_decoders::DecBF16;
using block_decoders::DecF16;
using block_decoders::DecF32;
using block_decoders::DecQ4_0;
using block_decoders::DecQ4_1;
using block_decoders::DecQ8_0;
using block_decoders::dequantize_impl;
using block_decoders::F32Elements;
using block_decoders::F16Elements;
using block_decoders::BF16Elements;

// Q5_0: fma(q, d, -16d) (exact), Q5_1: fma(q, d, m); bit e of qh is bit 4 of element e.
template <bool HasMin>
struct DecQ5 {
  static constexpr size_t kElems = 32, kBytes = HasMin ? 24 : 22;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    F d, b;
    I q[kHalf], qh;
  };
  static JISU_AI State prep(const uint8_t* p) {
    const float d = load_half(p);
    constexpr size_t kQh = HasMin ? 4 : 2;
    State s;
    s.d = V::set1(d);
    s.b = HasMin ? V::set1(load_half(p + 2)) : V::set1(-16.0f * d);
    s.qh = V::splat(static_cast<int>(load_u32(p + kQh)));
    for (int k = 0; k < kHalf; ++k) s.q[k] = V::widen_u8(p + kQh + 4 + kLanes * k);
    return s;
  }
  // Vector kV of the block (elements kLanes kV ..): its nibbles plus the fifth bits.
  template <int kV>
  static JISU_AI F one(const State& s, I nib) {
    const I q = V::bit_or(nib, V::value_where_all(s.qh, V::template lane_bits<kLanes * kV>(), V::splat(16)));
    return V::fmadd(V::to_float(q), s.d, s.b);
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    const I m = V::splat(15);
    static_for<kHalf>([&](auto k) __attribute__((always_inline)) {
      constexpr int K = decltype(k)::value;
      w[K] = one<K>(s, V::bit_and(s.q[K], m));
      w[kHalf + K] = one<kHalf + K>(s, V::shift_right(s.q[K], 4));
    });
  }
};
using DecQ5_0 = DecQ5<false>;
using DecQ5_1 = DecQ5<true>;

// IQ4_NL: d * kvalues[nibble], looked up with pshufb.
struct DecIQ4_NL {
  static constexpr size_t kElems = 32, kBytes = 18;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    F d;
    I lo[kHalf], hi[kHalf];  // values of elements 0..15 and 16..31
  };
  static JISU_AI State prep(const uint8_t* p) {
    const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i m = _mm_set1_epi8(15);
    State s;
    s.d = V::set1(load_half(p));
    V::widen_i8x16(_mm_shuffle_epi8(table, _mm_and_si128(q, m)), s.lo);
    V::widen_i8x16(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m)), s.hi);
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    for (int k = 0; k < kHalf; ++k) {
      w[k] = V::mul(s.d, V::to_float(s.lo[k]));
      w[kHalf + k] = V::mul(s.d, V::to_float(s.hi[k]));
    }
  }
};

// IQ4_XS: chunk j = sub-block j: d * (sub-scale j) * kvalues[nibble], looked up with pshufb.
struct DecIQ4_XS {
  static constexpr size_t kElems = 256, kBytes = 136;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float dl[8];
    const uint8_t* qs;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const float d = load_half(p);
    for (int j = 0; j < 8; ++j) s.dl[j] = d * static_cast<float>(iq4_xs_sub_scale(p, j));
    s.qs = p + 8;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIq4nl));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.qs + 16 * C));
    const __m128i m = _mm_set1_epi8(15);
    I lo[kHalf], hi[kHalf];
    V::widen_i8x16(_mm_shuffle_epi8(table, _mm_and_si128(q, m)), lo);
    V::widen_i8x16(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m)), hi);
    const F dl = V::set1(s.dl[C]);
    for (int k = 0; k < kHalf; ++k) {
      w[k] = V::mul(dl, V::to_float(lo[k]));
      w[kHalf + k] = V::mul(dl, V::to_float(hi[k]));
    }
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
    const F d = V::set1(load_half(p + 80)), dmin = V::set1(load_half(p + 82));
    for (int v = 0; v < kHalf; ++v) {
      const I sc = V::widen_u8(p + kLanes * v);
      V::store(s.dl + kLanes * v, V::mul(d, V::to_float(V::bit_and(sc, V::splat(15)))));
      V::store(s.ml + kLanes * v, V::mul(dmin, V::to_float(V::shift_right(sc, 4))));
    }
    s.qs = p + 16;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    constexpr int h = C / 4, j = C % 4;
    for (int v = 0; v < kVectors; ++v) {
      const I q = V::bit_and(V::shift_right(V::widen_u8(s.qs + 32 * h + kLanes * v), 2 * j), V::splat(3));
      const int is = 8 * h + 2 * j + sub_block_of(v);
      w[v] = V::fmsub(V::to_float(q), V::set1(s.dl[is]), V::set1(s.ml[is]));
    }
  }
};

// Q3_K: element 128h + 32j + l = dl[8h+2j+l/16] * (((qs[32h+l] >> 2j) & 3) - (hmask bit ? 0 : 4)).
struct DecQ3_K {
  static constexpr size_t kElems = 256, kBytes = 110;
  static constexpr int kChunks = 8;
  static constexpr bool kPlain = false;
  struct State {
    alignas(64) float dl[16];
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    alignas(16) int8_t sc[16];
    q3k_unpack_scales(p + 96, sc);
    const F d = V::set1(load_half(p + 108));
    for (int v = 0; v < kHalf; ++v)
      V::store(s.dl + kLanes * v, V::mul(d, V::to_float(V::widen_i8(reinterpret_cast<const uint8_t*>(sc) + kLanes * v))));
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    constexpr int h = C / 4, j = C % 4;
    const I bit = V::splat(1 << (4 * h + j));
    for (int v = 0; v < kVectors; ++v) {
      I q = V::bit_and(V::shift_right(V::widen_u8(s.p + 32 + 32 * h + kLanes * v), 2 * j), V::splat(3));
      q = V::sub(q, V::value_where_none(V::widen_u8(s.p + kLanes * v), bit, V::splat(4)));
      const int is = 8 * h + 2 * j + sub_block_of(v);
      w[v] = V::mul(V::set1(s.dl[is]), V::to_float(q));
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
    alignas(64) float d1m1[16];  // d1[0..8), m1 in [8..16)
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    alignas(16) uint8_t sm[16];
    k4_unpack_scales(p + 4, sm);
    // The multiplier of each of the 16 unpacked values: d for the scales, dmin for the mins.
    alignas(64) float multiplier[16];
    for (int i = 0; i < 16; ++i) multiplier[i] = load_half(p + (i < 8 ? 0 : 2));
    for (int v = 0; v < kHalf; ++v)
      V::store(s.d1m1 + kLanes * v, V::mul(V::load(multiplier + kLanes * v), V::to_float(V::widen_u8(sm + kLanes * v))));
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    constexpr int g = C / 2;
    constexpr size_t kQs = Five ? 48 : 16;
    const F d = V::set1(s.d1m1[C]), m = V::set1(s.d1m1[8 + C]);
    for (int v = 0; v < kVectors; ++v) {
      const I r = V::widen_u8(s.p + kQs + 32 * g + kLanes * v);
      I q = C % 2 == 0 ? V::bit_and(r, V::splat(15)) : V::shift_right(r, 4);
      if constexpr (Five) {
        const I hb = V::bit_and(V::widen_u8(s.p + 16 + kLanes * v), V::splat(1 << C));
        q = V::bit_or(q, shift_lanes<4 - C>(hb));
      }
      w[v] = V::fmsub(V::to_float(q), d, m);
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
    alignas(64) float ds[16];
    alignas(64) float bias[16];
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) {
    State s;
    const F d = V::set1(load_half(p + 208));
    for (int v = 0; v < kHalf; ++v) {
      const F ds = V::mul(d, V::to_float(V::widen_i8(p + 192 + kLanes * v)));
      V::store(s.ds + kLanes * v, ds);
      V::store(s.bias + kLanes * v, V::mul(ds, V::set1(-32.0f)));
    }
    s.p = p;
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    constexpr int h = C / 4, c = C % 4;
    const uint8_t* ql = s.p + 64 * h + 32 * (c & 1);
    const uint8_t* qh = s.p + 128 + 32 * h;
    for (int v = 0; v < kVectors; ++v) {
      const I l = V::widen_u8(ql + kLanes * v);
      const I nib = c < 2 ? V::bit_and(l, V::splat(15)) : V::shift_right(l, 4);
      const I hb = V::bit_and(shift_lanes<4 - 2 * c>(V::widen_u8(qh + kLanes * v)), V::splat(0x30));
      const I q = V::bit_or(nib, hb);
      const int is = 8 * h + 2 * c + sub_block_of(v);
      w[v] = V::fmadd(V::to_float(q), V::set1(s.ds[is]), V::set1(s.bias[is]));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Drivers.

template <class D, int NR, int NT>
void tile(const MatmulArgs& a, size_t r0, size_t t0) {
  static_assert(!D::kPlain, "plain types multiply in PlainKernel");
  const uint8_t* w[NR];
  for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
  const float* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
  F acc0[NR][NT], acc1[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc0[i][t] = acc1[i][t] = V::zero();

  const size_t nb = a.n / D::kElems;
  for (size_t b = 0; b < nb; ++b) {
    typename D::State st[NR];
    for (int i = 0; i < NR; ++i) st[i] = D::prep(w[i] + b * D::kBytes);
    const size_t k0 = b * D::kElems;
    static_for<D::kChunks>([&](auto c) __attribute__((always_inline)) {
      constexpr int C = decltype(c)::value;
      F wv[NR][kVectors];
      for (int i = 0; i < NR; ++i) D::template chunk<C>(st[i], wv[i]);
      for (int t = 0; t < NT; ++t) {
        const float* xp = x[t] + k0 + 32 * C;
        for (int v = 0; v < kVectors; v += 2) {
          const F x0 = V::load(xp + kLanes * v);
          const F x1 = V::load(xp + kLanes * (v + 1));
          for (int i = 0; i < NR; ++i) {
            acc0[i][t] = V::fmadd(wv[i][v], x0, acc0[i][t]);
            acc1[i][t] = V::fmadd(wv[i][v + 1], x1, acc1[i][t]);
          }
        }
      }
    });
  }
  for (int t = 0; t < NT; ++t)
    for (int i = 0; i < NR; ++i) a.y[(t0 + t) * a.y_stride + r0 + i] = reduce(acc0[i][t], acc1[i][t]);
}

// Quantized types: per row block of about kRowBlockBytes, 1 x kTokenTile tiles, then one tile
// of the remaining tokens. Tokens per tile: 4 on AVX2 (16 ymm registers), 8 with AVX-512's 32
// (the values the two hand-written kernels used).
constexpr int kTokenTile = kLanes == 16 ? 8 : 4;

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
    const size_t rest = a.n_tokens - t0;
    static_for<kTokenTile>([&](auto count) {
      constexpr int kRest = decltype(count)::value;
      if constexpr (kRest > 0)
        if (rest == kRest) decoded_rows_tile<D, kRest>(a, rb, re, t0);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Plain types (F32, F16, BF16): nothing to decode beyond a conversion, so the product is a
// float GEMM limited by FMA throughput once several tokens share each weight. Every (row, token)
// has ONE accumulator: acc = fma(w[k, k + kLanes), x[k, k + kLanes), acc) for k = 0, kLanes, ...,
// then the last n % kLanes elements as one zero-padded step, then the fixed horizontal sum. An
// NR x NT tile holds NR x NT accumulators, the NR converted weight vectors of the current step
// and one activation vector (3 x 4: 12 + 3 + 1 = AVX2's 16 registers): each weight conversion
// serves NT FMAs and each activation load NR. The sequence per (row, token) is the same for
// every tile shape, so the walk (matmul_tile_walk.h) never changes a result.

template <class E>
struct PlainKernel {
  template <int NR, int NT, bool kPrefetch>
  static void tile(const MatmulArgs& a, size_t r0, size_t t0) {
    const uint8_t* w[NR];
    for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
    const float* x[NT];
    for (int t = 0; t < NT; ++t) x[t] = a.x + (t0 + t) * a.x_stride;
    F acc[NR][NT];
    for (int i = 0; i < NR; ++i)
      for (int t = 0; t < NT; ++t) acc[i][t] = V::zero();

    const auto multiply = [&](const F (&wv)[NR], auto&& load_x) __attribute__((always_inline)) {
      for (int t = 0; t < NT; ++t) {
        const F xv = load_x(x[t]);
        for (int i = 0; i < NR; ++i) acc[i][t] = V::fmadd(wv[i], xv, acc[i][t]);
      }
    };
    const auto step = [&](size_t k) __attribute__((always_inline)) {
      F wv[NR];
      for (int i = 0; i < NR; ++i) wv[i] = E::vec(w[i] + k * E::kSize);
      multiply(wv, [k](const float* xt) __attribute__((always_inline)) { return V::load(xt + k); });
    };
    size_t k = 0;
    for (; k + 32 <= a.n; k += 32) {
      if constexpr (kPrefetch)
        for (int i = 0; i < NR; ++i) prefetch_block_ahead<32 * E::kSize>(w[i] + k * E::kSize);
      static_for<kVectors>([&](auto v) __attribute__((always_inline)) { step(k + kLanes * decltype(v)::value); });
    }
    for (; k + kLanes <= a.n; k += kLanes) step(k);
    if (const size_t rem = a.n - k; rem != 0) {
      F wv[NR];
      for (int i = 0; i < NR; ++i) {
        alignas(64) float padded[kLanes] = {};
        for (size_t j = 0; j < rem; ++j) padded[j] = E::scalar(w[i] + k * E::kSize, j);
        wv[i] = V::load(padded);
      }
      multiply(wv, [k, rem](const float* xt) __attribute__((always_inline)) { return V::load_first(xt + k, rem); });
    }
    for (int t = 0; t < NT; ++t)
      for (int i = 0; i < NR; ++i) a.y[(t0 + t) * a.y_stride + r0 + i] = V::sum(acc[i][t]);
  }
};

// Decode (one token) is bound by the weight stream: 4 rows give 4 independent FMA chains.
// Several tokens: 3 x 4 tiles on AVX2 (16 registers); AVX-512's 32 hold 3 x 8 (24 accumulators,
// 3 weights, 1 activation), so a verify forward of up to 8 draft tokens reads each weight from
// cache once instead of twice (the demo model's 14 MiB of f32 weights stream from L3, which bounds
// its forwards: `jisu bench -p 1,4,8`).
constexpr int kPlainTileTokens = kLanes == 16 ? 8 : 4;

template <class E>
void plain_matmul(const MatmulArgs& a) {
  matmul_tiles<PlainKernel<E>, 4, 3, kPlainTileTokens>(a);
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
    case DType::IQ4_XS: return dequantize_impl<DecIQ4_XS>(s, dst, n);
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
    case DType::IQ4_XS: return matmul_impl<DecIQ4_XS>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
