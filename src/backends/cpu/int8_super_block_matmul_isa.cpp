// Kernels of the super-block integer path, compiled once per ISA (vector_isa.h; contract and
// reference arithmetic in int8_super_block_matmul.h / _scalar.cpp; these reproduce it bit for
// bit).
//
// Per chunk of 32: maddubs(unsigned weights, activations) gives int16 pair sums, madd with the
// chunk's int16 sub-scales gives int32 lanes of 4 elements, added over the 8 chunks. Bounds
// (no saturation, no overflow): Q4_K pairs <= 2 * 15 * 127, lanes <= 8 * 63 * 4 * 15 * 127;
// Q6_K pairs <= 2 * 63 * 127 = 16002 < 32767, lanes <= 8 * 128 * 4 * 63 * 127 (~3.3e7);
// Q2_K / Q3_K pairs <= 2 * 7 * 127, lanes <= 8 * 32 * 4 * 7 * 127.
#include "backends/cpu/vector_isa.h"

#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/int8_tile_driver.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

JISU_AI __m256i load_256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
JISU_AI __m128i load_128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Weight decoders: Block = what a super-block needs decoded once (scales); chunk<C>() gives the
// unsigned weights of chunk C and its int16 sub-scale vector; correction() gives the int32
// lanes subtracted before conversion (Q6_K's offset) and min_lanes() the minimum term (Q4_K).
// Q4_K, and Q5_K (kFifthBit: bit C of qh[l] is bit 4 of element l of chunk C).
template <bool kFifthBit>
struct WQ45_K {
  static constexpr size_t kBytes = kFifthBit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  static constexpr size_t kQs = kFifthBit ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  static constexpr bool kHasMin = true;
  struct Block {
    const uint8_t* p;
    alignas(16) uint8_t unpacked[16];  // scales 0..7, mins 8..15
  };
  static JISU_AI Block prepare(const uint8_t* p) {
    Block b;
    b.p = p;
    k4_unpack_scales(p + offsetof(BlockQ4_K, scales), b.unpacked);
    return b;
  }
  template <int C>
  static JISU_AI void chunk(const Block& b, __m256i& u, __m256i& scale) {
    const __m256i q = load_256(b.p + kQs + 32 * (C / 2));
    u = _mm256_and_si256(C % 2 == 0 ? q : _mm256_srli_epi16(q, 4), _mm256_set1_epi8(15));
    if constexpr (kFifthBit) {
      // Bit C of each qh byte moved to bit 4 (16-bit shifts by at most 4 keep it in its byte).
      const __m256i qh = load_256(b.p + offsetof(BlockQ5_K, qh));
      const __m256i moved = C <= 4 ? _mm256_slli_epi16(qh, 4 - C) : _mm256_srli_epi16(qh, C - 4);
      u = _mm256_or_si256(u, _mm256_and_si256(moved, _mm256_set1_epi8(0x10)));
    }
    scale = _mm256_set1_epi16(b.unpacked[C]);
  }
  // Lane c = min_c * (sums[2c] + sums[2c + 1]).
  static JISU_AI __m256i min_lanes(const Block& b, __m256i sums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.unpacked + 8)));
    const __m256i pairs = _mm256_set_m128i(_mm_unpackhi_epi16(mins, mins), _mm_unpacklo_epi16(mins, mins));
    return _mm256_madd_epi16(pairs, sums);
  }
  static JISU_AI __m256i corrected(const Block&, __m256i lanes, __m256i) { return lanes; }
  static JISU_AI float d(const Block& b) { return _cvtsh_ss(load_u16(b.p)); }
  static JISU_AI float dmin(const Block& b) { return _cvtsh_ss(load_u16(b.p + 2)); }
};

struct WQ6_K {
  static constexpr size_t kBytes = sizeof(BlockQ6_K);
  static constexpr bool kHasMin = false;
  struct Block {
    const uint8_t* p;
    __m128i scales;  // the 16 int8 sub-scales
  };
  static JISU_AI Block prepare(const uint8_t* p) { return {p, load_128(p + offsetof(BlockQ6_K, scales))}; }
  template <int C>
  static JISU_AI void chunk(const Block& b, __m256i& u, __m256i& scale) {
    constexpr int h = C / 4, c = C % 4;
    const __m256i ql = load_256(b.p + 64 * h + 32 * (c & 1));
    const __m256i qh = load_256(b.p + offsetof(BlockQ6_K, qh) + 32 * h);
    const __m256i low = _mm256_and_si256(c < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(15));
    __m256i high;
    if constexpr (c < 2) high = _mm256_slli_epi16(qh, 4 - 2 * c);
    else if constexpr (c == 2) high = qh;
    else high = _mm256_srli_epi16(qh, 2);
    u = _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
    const __m128i pick = _mm_setr_epi8(2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C + 1, 2 * C + 1,
                                       2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1);
    scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(b.scales, pick));
  }
  static JISU_AI __m256i min_lanes(const Block&, __m256i) { return _mm256_setzero_si256(); }
  // lanes - 32 * (s_2l * sums[2l] + s_2l+1 * sums[2l+1]): the +32 offset of the unsigned weights.
  static JISU_AI __m256i corrected(const Block& b, __m256i lanes, __m256i sums) {
    return _mm256_sub_epi32(lanes, _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(b.scales), sums), 5));
  }
  static JISU_AI float d(const Block& b) { return _cvtsh_ss(load_u16(b.p + offsetof(BlockQ6_K, d))); }
  static JISU_AI float dmin(const Block&) { return 0.0f; }
};

// Q2_K / Q3_K (see the scalar reference): chunk C = 4h + j takes bits 2j..2j+1 of qs[32h + l],
// 16-element sub-scales 2C and 2C + 1 in the two halves of the madd scale vector.
template <bool kThreeBits>
struct WQ23_K {
  static constexpr size_t kBytes = kThreeBits ? sizeof(BlockQ3_K) : sizeof(BlockQ2_K);
  static constexpr size_t kQs = kThreeBits ? offsetof(BlockQ3_K, qs) : offsetof(BlockQ2_K, qs);
  static constexpr bool kHasMin = !kThreeBits;
  struct Block {
    const uint8_t* p;
    __m128i scales;  // 16 sub-scales as int8 (Q3_K: signed, already minus 32; Q2_K: 0..15)
    __m128i mins;    // Q2_K: 16 mins (0..15)
  };
  static JISU_AI Block prepare(const uint8_t* p) {
    Block b;
    b.p = p;
    if constexpr (kThreeBits) {
      alignas(16) int8_t unpacked[16];
      q3k_unpack_scales(p + offsetof(BlockQ3_K, scales), unpacked);
      b.scales = _mm_load_si128(reinterpret_cast<const __m128i*>(unpacked));
    } else {
      const __m128i packed = load_128(p + offsetof(BlockQ2_K, scales));
      b.scales = _mm_and_si128(packed, _mm_set1_epi8(15));
      b.mins = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15));
    }
    return b;
  }
  template <int C>
  static JISU_AI void chunk(const Block& b, __m256i& u, __m256i& scale) {
    constexpr int h = C / 4, j = C % 4;
    const __m256i q = load_256(b.p + kQs + 32 * h);
    u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), _mm256_set1_epi8(3));
    if constexpr (kThreeBits) {
      // Bit C of each hmask byte moved to bit 2 (16-bit shifts that keep it inside its byte).
      const __m256i hm = load_256(b.p + offsetof(BlockQ3_K, hmask));
      const __m256i moved = C <= 2 ? _mm256_slli_epi16(hm, 2 - C) : _mm256_srli_epi16(hm, C - 2);
      u = _mm256_or_si256(u, _mm256_and_si256(moved, _mm256_set1_epi8(4)));
    }
    const __m128i pick = _mm_setr_epi8(2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C, 2 * C + 1, 2 * C + 1,
                                       2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1, 2 * C + 1);
    scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(b.scales, pick));
  }
  // Lane j = m_2j * sums[2j] + m_2j+1 * sums[2j+1].
  static JISU_AI __m256i min_lanes(const Block& b, __m256i sums) {
    if constexpr (kThreeBits) return _mm256_setzero_si256();
    else return _mm256_madd_epi16(_mm256_cvtepu8_epi16(b.mins), sums);
  }
  // Q3_K: lanes - 4 * (s_2l * sums[2l] + s_2l+1 * sums[2l+1]), the -4 offset of the weights.
  static JISU_AI __m256i corrected(const Block& b, __m256i lanes, __m256i sums) {
    if constexpr (kThreeBits)
      return _mm256_sub_epi32(lanes, _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(b.scales), sums), 2));
    else
      return lanes;
  }
  static JISU_AI float d(const Block& b) {
    return _cvtsh_ss(load_u16(b.p + (kThreeBits ? offsetof(BlockQ3_K, d) : offsetof(BlockQ2_K, d))));
  }
  static JISU_AI float dmin(const Block& b) { return kThreeBits ? 0.0f : _cvtsh_ss(load_u16(b.p + offsetof(BlockQ2_K, dmin))); }
};

// An empty asm that "changes" v, so GCC keeps each accumulation chain of a multi-token tile in
// its register instead of reassociating the chains and spilling the products (as in
// int8_repacked_matmul_isa.cpp).
JISU_AI void pin(__m256i& v) { __asm__("" : "+x"(v)); }

// NR rows x NT tokens: each decoded weight chunk serves NT tokens, each activation chunk NR rows.
template <class W, int NR, int NT, bool kPrefetch>
void tile(const Int8MatmulArgs& a, size_t r0, size_t t0) {
  const uint8_t* w[NR];
  for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
  const ActivationSuperBlock* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = super_block_row(a, t0 + t);
  __m256 acc[NR][NT], acc_min[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc[i][t] = acc_min[i][t] = _mm256_setzero_ps();

  const size_t blocks = a.n / kActivationSuperBlockElements;
  for (size_t b = 0; b < blocks; ++b) {
    typename W::Block block[NR];
    for (int i = 0; i < NR; ++i) {
      if constexpr (kPrefetch) prefetch_block_ahead<W::kBytes>(w[i] + b * W::kBytes);
      block[i] = W::prepare(w[i] + b * W::kBytes);
    }
    __m256i lanes[NR][NT];
    for (int i = 0; i < NR; ++i)
      for (int t = 0; t < NT; ++t) lanes[i][t] = _mm256_setzero_si256();
    static_for<8>([&](auto chunk) __attribute__((always_inline)) {
      constexpr int C = decltype(chunk)::value;
      __m256i u[NR], scale[NR];
      for (int i = 0; i < NR; ++i) W::template chunk<C>(block[i], u[i], scale[i]);
      for (int t = 0; t < NT; ++t) {
        const __m256i q = load_256(x[t][b].qs + 32 * C);
        for (int i = 0; i < NR; ++i) {
          lanes[i][t] = IntDot::madd_add(lanes[i][t], _mm256_maddubs_epi16(u[i], q), scale[i]);
          if constexpr (NT > 1) pin(lanes[i][t]);
        }
      }
    });
    for (int t = 0; t < NT; ++t) {
      const __m256i sums = load_256(x[t][b].sums);
      const float dx = x[t][b].d;
      for (int i = 0; i < NR; ++i) {
        const __m256i total = W::corrected(block[i], lanes[i][t], sums);
        acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_set1_ps(W::d(block[i]) * dx), acc[i][t]);
        if constexpr (W::kHasMin)
          acc_min[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(W::min_lanes(block[i], sums)),
                                          _mm256_set1_ps(W::dmin(block[i]) * dx), acc_min[i][t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int i = 0; i < NR; ++i) {
      float& out = a.y[(t0 + t) * a.y_stride + r0 + i];
      if constexpr (W::kHasMin)
        out = horizontal_sum(acc[i][t]) - horizontal_sum(acc_min[i][t]);
      else
        out = horizontal_sum(acc[i][t]);
    }
}

template <class W>
struct Kernel {
  template <int NR, int NT, bool kPrefetch>
  static void tile(const Int8MatmulArgs& a, size_t r0, size_t t0) { JISU_KERNEL_ISA::tile<W, NR, NT, kPrefetch>(a, r0, t0); }
};

// 2 rows x 4 tokens measured best for prefill (with the accumulators pinned).
template <class W>
void matmul_impl(const Int8MatmulArgs& a) {
  matmul_tiles<Kernel<W>, 4, 2, 4>(a);
}

}  // namespace

void quantize_activations_super_blocks(const float* x, size_t n, ActivationSuperBlock* out) {
  for (size_t b = 0; b < n / kActivationSuperBlockElements; ++b) {
    const float* p = x + b * kActivationSuperBlockElements;
    const float d = absolute_max(p, kActivationSuperBlockElements) / 127.0f;
    const __m256 inverse = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    for (int g = 0; g < 8; ++g) {
      __m256i q[4];
      round_and_pack_32(p + 32 * g, inverse, out[b].qs + 32 * g, q);
      // Sums of elements 0..15 and 16..31 of the group.
      __m256i s = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      s = _mm256_hadd_epi32(s, s);
      const __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      out[b].sums[2 * g] = static_cast<int16_t>(_mm_cvtsi128_si32(s2));
      out[b].sums[2 * g + 1] = static_cast<int16_t>(_mm_extract_epi32(s2, 1));
    }
    out[b].d = d;
  }
}

void matmul_rows_int8_super_blocks(const Int8MatmulArgs& a) {
  switch (a.type) {
    case DType::Q2_K: return matmul_impl<WQ23_K<false>>(a);
    case DType::Q3_K: return matmul_impl<WQ23_K<true>>(a);
    case DType::Q4_K: return matmul_impl<WQ45_K<false>>(a);
    case DType::Q5_K: return matmul_impl<WQ45_K<true>>(a);
    case DType::Q6_K: return matmul_impl<WQ6_K>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
