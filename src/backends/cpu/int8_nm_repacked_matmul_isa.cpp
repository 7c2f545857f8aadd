// The repacked 2:4 kernels (nm_repacked.h), compiled once per ISA (vector_isa.h); only the
// AVX-512 builds define them (with AVX512-VBMI: vpermb, vpmultishiftqb; nm_repacked.cpp checks
// the CPU). They reproduce matmul_nm_repacked_scalar bit for bit.
//
// Per group of 8 rows and 64-weight block, for each of the 4 weight vectors (16 lanes: row r,
// half h, 4 kept weights each):
//  - the gather indices: the vector's 16 code bytes broadcast to the 4 128-bit lanes, one
//    vpmultishiftqb (constant control) moves each weight's 2-bit code to the bottom of its byte,
//    one vpternlog keeps those 2 bits and adds the group's first position (a constant per
//    vector, a multiple of 4);
//  - per token, vpermb gathers the activation bytes at those positions from the block's 64
//    activation bytes, and one vpdpbusd adds the 4 products of each lane. With VNNI the
//    activations are gathered biased (x + 128, unsigned) against the signed weights, and
//    vpdpbusd(128, w) (the same for every token) removes the bias; without VNNI, abs and a
//    masked negation feed maddubs + madd (pairs of |x| * |w| <= 32258: no saturation);
//  - after the two vectors of an activation block, the two halves of each row are added (exact
//    int32), converted, and acc = fma(float(isum), d_row * x.d, acc) on 8 float lanes (one per
//    row): the scalar reference's order.
// Tiles are one group x up to 4 tokens; with one token (decode) the activation bytes of every
// block are prepared once per call (on the stack for rows up to 8192). A group is one sequential
// stream, prefetched 16 KiB ahead into L2 as dense Q8_0's: without it the kernel read 8.9 GB/s
// out of cache on one thread against dense's 10.1 (sparse_kernel_bench, load 7), with it the same
// as dense (12.4 and 12.4).
#include "backends/cpu/vector_isa.h"

#if defined(__AVX512F__)
#pragma GCC target("avx512vbmi")

#include <array>
#include <cstring>
#include <utility>

#include "backends/cpu/nm_repacked.h"
#include "backends/cpu/sparse_blocks.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

// simd_prelude.h's static_for, defined again after the `#pragma GCC target` (an always_inline
// function compiled without that target cannot inline lambdas that use vpermb).
template <int N, class F>
JISU_AI void unrolled(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// vpmultishiftqb control: byte B takes the 8 bits from bit 16 (Q / 2) + 2 (B % 8) of its qword
// (Q = B / 8; the broadcast 16 code bytes give qword Q the code bytes 8 (Q % 2) ..).
constexpr std::array<uint8_t, 64> make_shift_control() {
  std::array<uint8_t, 64> control{};
  for (size_t byte = 0; byte < 64; ++byte) control[byte] = static_cast<uint8_t>(nm_repacked_code_bit(byte) % 64);
  return control;
}
// The first position of kept weight nm_repacked_kept(i, B)'s group, for vector i.
constexpr std::array<uint8_t, 256> make_group_starts() {
  std::array<uint8_t, 256> starts{};
  for (size_t i = 0; i < 4; ++i)
    for (size_t byte = 0; byte < 64; ++byte) starts[64 * i + byte] = static_cast<uint8_t>(4 * (nm_repacked_kept(i, byte) / 2));
  return starts;
}
alignas(64) constexpr std::array<uint8_t, 64> kShiftControl = make_shift_control();
alignas(64) constexpr std::array<uint8_t, 256> kGroupStarts = make_group_starts();

// One token's 64 activation bytes of block b (as the dot takes them) and the scales of its two
// activation blocks.
struct Block64 {
  __m512i x;  // VNNI: x + 128 (unsigned); else x
  float d[2];
};

JISU_AI Block64 load_block(const ActivationBlock* x, size_t b) {
  const __m512i v = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[2 * b].qs))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[2 * b + 1].qs)), 1);
#if defined(__AVX512VNNI__)
  return {_mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(kSparseValueBias))), {x[2 * b].d, x[2 * b + 1].d}};
#else
  return {v, {x[2 * b].d, x[2 * b + 1].d}};
#endif
}

// The exact int32 lane sums of the gathered activations times the weights, added to acc.
JISU_AI __m512i gathered_dot(__m512i acc, __m512i gathered, __m512i w) {
#if defined(__AVX512VNNI__)
  return _mm512_dpbusd_epi32(acc, gathered, w);
#else
  const __m512i signed_w = _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(gathered), _mm512_setzero_si512(), w);
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(gathered), signed_w),
                                                 _mm512_set1_epi16(1)));
#endif
}

// As dense Q8_0's repacked kernels (int8_repacked_matmul_isa.cpp, where the distance and the
// L2 hint were measured): the first tile to read a group prefetches its lines this far ahead.
constexpr size_t kPrefetchBytes = 16384;
JISU_AI void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T1); }

// Rows 8g .. 8g + 7 x tokens [t0, t0 + NT). `precomputed`: null, or (NT = 1) the token's
// Block64 of every block.
template <int NT>
void group_tile(const NmRepackedArgs& a, size_t g, size_t t0, const Block64* precomputed) {
  const bool first_tile = t0 == 0;
  const size_t blocks = a.n / kSparseBlockElements;
  const uint8_t* group = a.w + g * a.group_bytes;
  const uint8_t* scales = group + blocks * kNmRepackedBlockBytes;
  const ActivationBlock* x[NT];
  unrolled<NT>([&](auto t) __attribute__((always_inline)) {
    x[t] = activation_row<ActivationBlock>(a, t0 + t);
  });
  const __m512i control = _mm512_load_si512(kShiftControl.data());
  const __m512i code_bits = _mm512_set1_epi8(3);
  __m512i starts[4];
  unrolled<4>([&](auto i) __attribute__((always_inline)) { starts[i] = _mm512_load_si512(kGroupStarts.data() + 64 * i); });
#if defined(__AVX512VNNI__)
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(kSparseValueBias));
#endif
  __m256 acc[NT];
  unrolled<NT>([&](auto t) __attribute__((always_inline)) { acc[t] = _mm256_setzero_ps(); });
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * kNmRepackedBlockBytes;
    if (first_tile) {
      for (size_t offset = 0; offset < kNmRepackedBlockBytes; offset += 64) prefetch(block + offset);
      if (b % 4 == 0) prefetch(scales + 16 * b);
    }
    Block64 xb[NT];
    if (NT == 1 && precomputed)
      xb[0] = precomputed[b];
    else
      unrolled<NT>([&](auto t) __attribute__((always_inline)) { xb[t] = load_block(x[t], b); });
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * b)));
    unrolled<2>([&](auto h) __attribute__((always_inline)) {
      __m512i isum[NT];
      unrolled<NT>([&](auto t) __attribute__((always_inline)) { isum[t] = _mm512_setzero_si512(); });
#if defined(__AVX512VNNI__)
      __m512i correction = _mm512_setzero_si512();  // 128 * (sum of each lane's 4 weights)
#endif
      unrolled<2>([&](auto v) __attribute__((always_inline)) {
        constexpr int i = 2 * h + v;
        const __m512i codes = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)));
        // (shifted & 3) | start: the start is a multiple of 4 (0xEA: (A & B) | C).
        const __m512i index = _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(control, codes), code_bits, starts[i], 0xEA);
        const __m512i w = _mm512_load_si512(block + kNmRepackedCodeBytes + 64 * i);
#if defined(__AVX512VNNI__)
        correction = _mm512_dpbusd_epi32(correction, bias, w);
#endif
        unrolled<NT>([&](auto t) __attribute__((always_inline)) {
          isum[t] = gathered_dot(isum[t], _mm512_permutexvar_epi8(index, xb[t].x), w);
        });
      });
      unrolled<NT>([&](auto t) __attribute__((always_inline)) {
#if defined(__AVX512VNNI__)
        const __m512i lanes = _mm512_sub_epi32(isum[t], correction);
#else
        const __m512i lanes = isum[t];
#endif
        const __m256i rows = _mm256_add_epi32(_mm512_castsi512_si256(lanes), _mm512_extracti64x4_epi64(lanes, 1));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), _mm256_mul_ps(d, _mm256_set1_ps(xb[t].d[h])), acc[t]);
      });
    });
  }
  unrolled<NT>([&](auto t) __attribute__((always_inline)) {
    _mm256_storeu_ps(a.y + (t0 + t) * a.y_stride + g * kNmRepackedRows, acc[t]);
  });
}

// One token's Block64 of every block is prepared once per call up to this many blocks (8192
// weights: 16 KiB on the stack).
inline constexpr size_t kMaxPrecomputedBlocks = 128;

template <int NT>
void groups_tile(const NmRepackedArgs& a, size_t t0) {
  const size_t g_begin = a.row_begin / kNmRepackedRows, g_end = a.row_end / kNmRepackedRows;
  const size_t blocks = a.n / kSparseBlockElements;
  if (NT == 1 && blocks <= kMaxPrecomputedBlocks) {
    Block64 precomputed[kMaxPrecomputedBlocks];
    const auto* x = activation_row<ActivationBlock>(a, t0);
    for (size_t b = 0; b < blocks; ++b) precomputed[b] = load_block(x, b);
    for (size_t g = g_begin; g < g_end; ++g) group_tile<1>(a, g, t0, precomputed);
    return;
  }
  for (size_t g = g_begin; g < g_end; ++g) group_tile<NT>(a, g, t0, nullptr);
}

}  // namespace

void matmul_nm_repacked(const NmRepackedArgs& a) {
  size_t t = 0;
  for (; t + 4 <= a.n_tokens; t += 4) groups_tile<4>(a, t);
  switch (a.n_tokens - t) {
    case 3: groups_tile<3>(a, t); break;
    case 2: groups_tile<2>(a, t); break;
    case 1: groups_tile<1>(a, t); break;
    default: break;
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA

#endif  // __AVX512F__
