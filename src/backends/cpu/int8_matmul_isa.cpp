// Integer dot-product kernels of the row-major path, compiled once per ISA (vector_isa.h; see
// int8_matmul.h for the contract and int8_matmul_scalar.cpp for the reference arithmetic they
// reproduce bit for bit).
//
// One weight block of 32 values times one activation block gives 8 int32 lane sums (lane l:
// elements 4l..4l+3) via IntDot (AVX2: maddubs, u8 x s8 -> pairs of int16, and madd with ones;
// VNNI: vpdpbusd). No int16 saturation can happen: |activation| <= 127 and |weight| <= 128
// (signed types) or a nibble <= 15 (Q4_0), so a pair sum stays below 2 * 128 * 127 = 32512.
//
// These serve the matrices that cannot be repacked (int8_repacked_weights.h: rows not a
// multiple of 8); the K-quants take int8_super_block_matmul.h.
//
// A tile of NR rows x NT tokens shares each decoded weight block across the NT tokens and
// each loaded activation block across the NR rows; every (row, token) accumulator still sees
// the same instruction sequence whatever NR and NT are.
#include "backends/cpu/vector_isa.h"

#include <utility>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_tile_driver.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

JISU_AI __m256i load_256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
JISU_AI __m128i load_128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// 16 packed nibble bytes -> 32 bytes: low nibbles (elements 0..15), then high nibbles.
// (One broadcast load, a per-half variable shift and a mask.)
JISU_AI __m256i unpack_nibbles(const uint8_t* p) {
  const __m256i q = _mm256_broadcastsi128_si256(load_128(p));
  return _mm256_and_si256(_mm256_srlv_epi32(q, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(15));
}

// One activation block in registers. `offset` (Q4_0 only): IntDot::nibble_offset(q), so that
// unsigned nibbles give the sum of (nibble - 8) * q.
struct XBlock {
  __m256i q;
  __m256i offset;
  __m256 d;  // broadcast scale
};

// What a tile reads once for the whole matrix: a cb4 tensor's 16 levels in both 128-bit
// halves (the shuffle table); unused by the other types.
struct MatrixContext {
  __m256i table;
};

// Weight decoders. kBytes / kChunks: bytes and 32-element chunks of one block; kScaleOffset:
// where the block's fp16 scale sits (the tile converts its rows' scales at once); kRowScale
// (i8_row): no block scale, the row's float32 scale (Int8MatmulArgs::row_scales) multiplies
// the row's sum at the end; prep<C>(block, context) -> State of chunk C; dot(State, XBlock) ->
// int32 lane sums, already times the chunk's integer sub-scales.
struct WQ4_0 {
  static constexpr size_t kBytes = 18, kScaleOffset = 0;
  static constexpr int kChunks = 1;
  static constexpr bool kOffset = true, kRowScale = false;
  struct State {
    __m256i u;
  };
  template <int C>
  static JISU_AI State prep(const uint8_t* p, const MatrixContext&) { return {unpack_nibbles(p + 2)}; }
  static JISU_AI __m256i dot(const State& s, const XBlock& x) {
    return IntDot::dot_minus_offset(s.u, x.q, x.offset);
  }
};

// Signed weights: dot(|w|, sign(x, w)) = sums of w * x (|x| <= 127, so negation is safe).
struct WSigned {
  static constexpr bool kOffset = false, kRowScale = false;
  static constexpr size_t kScaleOffset = 0;
  static constexpr int kChunks = 1;
  struct State {
    __m256i magnitude, w;
  };
  static JISU_AI State make(__m256i w) { return {_mm256_abs_epi8(w), w}; }
  static JISU_AI __m256i dot(const State& s, const XBlock& x) {
    return IntDot::dot(s.magnitude, _mm256_sign_epi8(x.q, s.w));
  }
};

struct WQ8_0 : WSigned {
  static constexpr size_t kBytes = 34;
  template <int C>
  static JISU_AI State prep(const uint8_t* p, const MatrixContext&) { return make(load_256(p + 2)); }
};

struct WIQ4_NL : WSigned {
  static constexpr size_t kBytes = 18;
  template <int C>
  static JISU_AI State prep(const uint8_t* p, const MatrixContext&) {
    const __m256i table = _mm256_broadcastsi128_si256(load_128(kValuesIq4nl));
    return make(_mm256_shuffle_epi8(table, unpack_nibbles(p + 2)));
  }
};

// cb4: IQ4_NL's shape with the tensor's learned levels as the shuffle table.
struct WCb4 : WSigned {
  static constexpr size_t kBytes = 18;
  template <int C>
  static JISU_AI State prep(const uint8_t* p, const MatrixContext& m) {
    return make(_mm256_shuffle_epi8(m.table, unpack_nibbles(p + 2)));
  }
};

// i8_row: 32 int8 values per block, one float32 scale per row (levels in [-127, 127]).
struct WI8Row : WSigned {
  static constexpr size_t kBytes = 32;
  static constexpr bool kRowScale = true;
  template <int C>
  static JISU_AI State prep(const uint8_t* p, const MatrixContext&) { return make(load_256(p)); }
};

template <class W>
JISU_AI XBlock load_x(const ActivationBlock& b) {
  XBlock x;
  x.q = load_256(b.qs);
  if constexpr (W::kOffset) x.offset = IntDot::nibble_offset(x.q);
  x.d = _mm256_set1_ps(b.d);
  return x;
}

// kPrefetch: this tile is the first to read its rows (later token tiles find them in cache).
template <class W, int NR, int NT, bool kPrefetch>
void tile(const Int8MatmulArgs& a, size_t r0, size_t t0) {
  const uint8_t* w[NR];
  for (int i = 0; i < NR; ++i) w[i] = static_cast<const uint8_t*>(a.w) + (r0 + i) * a.w_row_bytes;
  MatrixContext context{};
  if (a.codebook) context.table = _mm256_broadcastsi128_si256(load_128(a.codebook));
  const ActivationBlock* x[NT];
  for (int t = 0; t < NT; ++t)
    x[t] = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const uint8_t*>(a.xq) + (t0 + t) * a.xq_stride_bytes);
  __m256 acc[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc[i][t] = _mm256_setzero_ps();

  static_assert(NR <= 4);
  const size_t blocks = a.n / (kActivationBlockElements * W::kChunks);
  for (size_t b = 0; b < blocks; ++b) {
    if constexpr (kPrefetch)
      for (int i = 0; i < NR; ++i) prefetch_block_ahead<W::kBytes>(w[i] + b * W::kBytes);
    // The NR fp16 scales gathered with scalar integer ops into one register, converted at once.
    // (i8_row: d_w = 1, so the scale below is d_x exactly, as the reference's 1.0f * d_x.)
    __m256 dw = _mm256_set1_ps(1.0f);
    if constexpr (!W::kRowScale) {
      uint64_t halves = 0;
      for (int i = 0; i < NR; ++i) halves |= uint64_t(load_u16(w[i] + b * W::kBytes + W::kScaleOffset)) << (16 * i);
      dw = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(halves))));
    }
    static_for<W::kChunks>([&](auto chunk) __attribute__((always_inline)) {
      constexpr int C = decltype(chunk)::value;
      typename W::State st[NR];
      for (int i = 0; i < NR; ++i) st[i] = W::template prep<C>(w[i] + b * W::kBytes, context);
      for (int t = 0; t < NT; ++t) {
        const XBlock xb = load_x<W>(x[t][b * W::kChunks + C]);
        const __m256 scales = _mm256_mul_ps(dw, xb.d);  // lane i: d_w(row i) * d_x, as the reference
        for (int i = 0; i < NR; ++i) {
          const __m256 sums = _mm256_cvtepi32_ps(W::dot(st[i], xb));
          const __m256 scale = i == 0 ? _mm256_broadcastss_ps(_mm256_castps256_ps128(scales))
                                      : _mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(i));
          acc[i][t] = _mm256_fmadd_ps(sums, scale, acc[i][t]);
        }
      }
    });
  }
  for (int t = 0; t < NT; ++t)
    for (int i = 0; i < NR; ++i)
      a.y[(t0 + t) * a.y_stride + r0 + i] =
          W::kRowScale ? a.row_scales[r0 + i] * horizontal_sum(acc[i][t]) : horizontal_sum(acc[i][t]);
}

template <class W>
struct Kernel {
  template <int NR, int NT, bool kPrefetch>
  static void tile(const Int8MatmulArgs& a, size_t r0, size_t t0) { JISU_KERNEL_ISA::tile<W, NR, NT, kPrefetch>(a, r0, t0); }
};

}  // namespace

void quantize_activations(const float* x, size_t n, ActivationBlock* out) {
  for (size_t b = 0; b < n / kActivationBlockElements; ++b) {
    const float* p = x + b * kActivationBlockElements;
    const float d = absolute_max(p, kActivationBlockElements) / 127.0f;
    __m256i q[4];
    round_and_pack_32(p, _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f), out[b].qs, q);
    // Lane l of s4: the sum of q_j over j % 4 == l; lanes 0 and 2 then take in lanes 1 and 3.
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_mullo_epi32(_mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1))), _mm_set1_epi32(-8));
    out[b].d = d;
    out[b].q4_0_offsets[0] = static_cast<int16_t>(_mm_cvtsi128_si32(s4));
    out[b].q4_0_offsets[1] = static_cast<int16_t>(_mm_extract_epi32(s4, 2));
  }
}

void matmul_rows_int8(const Int8MatmulArgs& a) {
  if (a.type == kJisuCb4) return matmul_tiles<Kernel<WCb4>, 4, 2, 4>(a);
  if (a.type == kJisuI8Row) return matmul_tiles<Kernel<WI8Row>, 4, 2, 4>(a);
  switch (a.type) {
    case DType::Q4_0: return matmul_tiles<Kernel<WQ4_0>, 4, 2, 4>(a);
    case DType::Q8_0: return matmul_tiles<Kernel<WQ8_0>, 4, 2, 4>(a);
    case DType::IQ4_NL: return matmul_tiles<Kernel<WIQ4_NL>, 4, 2, 4>(a);
    default: throw_unsupported_weight_type(a.type);
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
