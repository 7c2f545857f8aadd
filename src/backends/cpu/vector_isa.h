#pragma once
// The small vector layer of the kernel sources compiled once per instruction set (*_isa.cpp).
//
// CMakeLists.txt compiles each *_isa.cpp several times: each time with one ISA's -m flags and
// JISU_KERNEL_ISA set to that ISA's namespace (avx2, avx_vnni, avx512, avx512_vnni), so one
// source yields jisu::cpu::avx2::matmul_rows_int8, jisu::cpu::avx512_vnni::matmul_rows_int8, ...
// kernel_table.cpp collects them and the dispatchers pick one by active_isa() (CPUID or JISU_ISA).
// What differs between the ISAs is confined to this header:
//   - IntDot: the integer dot products of the int8 kernels (AVX2: maddubs + madd; AVX-VNNI and
//     AVX512-VNNI: vpdpbusd). Every variant computes the same exact int32 lane sums,
//     so the kernels agree bit for bit across ISAs (and with the scalar references).
//   - FloatVec: the float vector of the weight-decoding kernels (AVX2: __m256, 8 lanes;
//     AVX-512: __m512, 16 lanes), with the integer lane operations the decoders need.
// Everything here is always_inline and lives in the ISA's namespace, so code compiled with one
// ISA's flags is never linked into another ISA's path.
#ifndef JISU_KERNEL_ISA
#error "vector_isa.h is for the *_isa.cpp kernel sources, which CMake compiles once per ISA"
#endif

#include "backends/cpu/simd_prelude.h"
#include "backends/cpu/simd_math.h"

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "every per-ISA kernel build has at least AVX2, FMA and F16C"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

// The integer multiply-add of the int8 kernels, per ISA (exact int32 lane sums):
//   JISU_DOT_ADD(acc, u, s): acc + sum over each lane's 4 bytes of u * s (u unsigned, s signed)
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define JISU_HAS_VNNI 1
#define JISU_DOT_ADD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#elif defined(__AVXVNNI__)
#define JISU_HAS_VNNI 1
#define JISU_DOT_ADD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#else  // AVX2: maddubs (int16 pairs, saturating) then madd with ones
#define JISU_HAS_VNNI 0
#define JISU_DOT_ADD(acc, u, s) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#endif

namespace jisu::cpu::JISU_KERNEL_ISA {

// ---------------------------------------------------------------------------------------------
// Integer dot products on 256-bit vectors (8 int32 lanes; lane l covers bytes 4l .. 4l + 3).

struct IntDot {
  static constexpr bool kVnni = JISU_HAS_VNNI;

  // Lane l: sum_{j in lane} u_j * s_j with u unsigned and s signed bytes. The AVX2 form goes
  // through int16 pair sums (maddubs saturates them), so callers keep each pair's |sum| <=
  // 32767 (they do: |u| <= 128 or u <= 15, |s| <= 127); then every form is exact.
  // (On AVX2 the add of zero folds away: the same instructions as maddubs + madd.)
  static JISU_AI __m256i dot(__m256i u, __m256i s) { return JISU_DOT_ADD(_mm256_setzero_si256(), u, s); }
  static JISU_AI __m256i dot_add(__m256i acc, __m256i u, __m256i s) { return JISU_DOT_ADD(acc, u, s); }
  // acc + madd(a, b): lane l += a_2l * b_2l + a_2l+1 * b_2l+1 (int16 pairs, int32 sum). Not
  // vpdpwssd on VNNI: it puts its 5-cycle latency on the accumulation chains the callers keep
  // (the add takes 1, the madd runs off the chain); measured 3-4 % slower on Q4_K decode
  // (repacked kernel, one token, 20 interleaved rounds).
  static JISU_AI __m256i madd_add(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }

  // Nibble weights with Q4_0's -8 offset: lane l = sum_{j in lane} (u_j - 8) * s_j for nibbles
  // u_j <= 15, as dot(u, s) - dot(8, s). The offset is dot(8, s) in the form each variant
  // subtracts (AVX2: int16 pairs, before widening; VNNI: negated int32 lanes, the starting sum),
  // computed once per activation block and shared by every weight row.
  static JISU_AI __m256i nibble_offset(__m256i s) {
    if constexpr (kVnni) return _mm256_sub_epi32(_mm256_setzero_si256(), dot(_mm256_set1_epi8(8), s));
    return _mm256_maddubs_epi16(_mm256_set1_epi8(8), s);
  }
  static JISU_AI __m256i dot_minus_offset(__m256i u, __m256i s, __m256i offset) {
    if constexpr (kVnni) return JISU_DOT_ADD(offset, u, s);
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(u, s), offset), _mm256_set1_epi16(1));
  }
};

#undef JISU_HAS_VNNI
#undef JISU_DOT_ADD

// ---------------------------------------------------------------------------------------------
// Float vectors of the weight-decoding kernels: the widest registers the ISA has. kLanes is 8
// (AVX2) or 16 (AVX-512); a 32-element block is 32 / kLanes vectors, and a vector never
// straddles two 16-element sub-blocks. Integer lanes are int32.

// One struct for both widths: JISU_PS / JISU_EPI32 / JISU_SI name the intrinsic of the width
// (_mm256_add_ps or _mm512_add_ps, ...); what has no common name is spelled out per width.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define JISU_FLOAT_LANES 16
#define JISU_PS(op) _mm512_##op##_ps
#define JISU_EPI32(op) _mm512_##op##_epi32
#define JISU_SI(op) _mm512_##op##_si512
#else
#define JISU_FLOAT_LANES 8
#define JISU_PS(op) _mm256_##op##_ps
#define JISU_EPI32(op) _mm256_##op##_epi32
#define JISU_SI(op) _mm256_##op##_si256
#endif

struct FloatVec {
  static constexpr int kLanes = JISU_FLOAT_LANES;
#if JISU_FLOAT_LANES == 16
  using F = __m512;
  using I = __m512i;
  using Half = __m256i;  // kLanes 16-bit values
  static JISU_AI Half load_halfwords(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  // kLanes bytes from p (a 128-bit load; AVX2 loads 64 bits).
  static JISU_AI __m128i load_bytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static JISU_AI F load_first(const float* p, size_t count) {  // lanes [0, count) from p, others 0
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
  }
  // The upper half added onto the lower, then horizontal_sum's fixed order.
  static JISU_AI float sum(F v) {
    return horizontal_sum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
  }
  static JISU_AI F bits_as_float(I v) { return _mm512_castsi512_ps(v); }
  static JISU_AI void widen_i8x16(__m128i bytes, I* out) { out[0] = _mm512_cvtepi8_epi32(bytes); }
  static JISU_AI I value_where_all(I v, I bits, I value) {
    return _mm512_maskz_mov_epi32(_mm512_cmpeq_epi32_mask(_mm512_and_si512(v, bits), bits), value);
  }
  static JISU_AI I value_where_none(I v, I bits, I value) {
    return _mm512_maskz_mov_epi32(_mm512_testn_epi32_mask(v, bits), value);
  }
  // Lanes where a < b: value; the others: otherwise.
  static JISU_AI F where_less(F a, F b, F value, F otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), otherwise, value);
  }
  static JISU_AI F round_nearest(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // The lower / upper kLanes / 2 int32 lanes as doubles (exact).
  using D = __m512d;
  static JISU_AI D low_lanes_as_doubles(I v) { return _mm512_cvtepi32_pd(_mm512_castsi512_si256(v)); }
  static JISU_AI D high_lanes_as_doubles(I v) { return _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)); }
#else
  using F = __m256;
  using I = __m256i;
  using Half = __m128i;
  static JISU_AI Half load_halfwords(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static JISU_AI __m128i load_bytes(const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }
  static JISU_AI F load_first(const float* p, size_t count) {
    const I lanes_below = _mm256_cmpgt_epi32(splat(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(p, lanes_below);
  }
  static JISU_AI float sum(F v) { return horizontal_sum(v); }
  static JISU_AI F bits_as_float(I v) { return _mm256_castsi256_ps(v); }
  static JISU_AI void widen_i8x16(__m128i bytes, I* out) {
    out[0] = _mm256_cvtepi8_epi32(bytes);
    out[1] = _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(bytes, bytes));
  }
  // value where v has every bit of `bits` set (where_all) or none of them (where_none), else 0.
  static JISU_AI I value_where_all(I v, I bits, I value) {
    return _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(v, bits), bits), value);
  }
  static JISU_AI I value_where_none(I v, I bits, I value) {
    return _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(v, bits), _mm256_setzero_si256()), value);
  }
  static JISU_AI F where_less(F a, F b, F value, F otherwise) {
    return _mm256_blendv_ps(otherwise, value, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static JISU_AI F round_nearest(F v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  using D = __m256d;
  static JISU_AI D low_lanes_as_doubles(I v) { return _mm256_cvtepi32_pd(_mm256_castsi256_si128(v)); }
  static JISU_AI D high_lanes_as_doubles(I v) { return _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1)); }
#endif

  static JISU_AI F zero() { return JISU_PS(setzero)(); }
  static JISU_AI F set1(float v) { return JISU_PS(set1)(v); }
  static JISU_AI F load(const float* p) { return JISU_PS(loadu)(p); }
  static JISU_AI void store(float* p, F v) { JISU_PS(storeu)(p, v); }
  static JISU_AI F add(F a, F b) { return JISU_PS(add)(a, b); }
  static JISU_AI F mul(F a, F b) { return JISU_PS(mul)(a, b); }
  static JISU_AI F fmadd(F a, F b, F c) { return JISU_PS(fmadd)(a, b, c); }
  static JISU_AI F fmsub(F a, F b, F c) { return JISU_PS(fmsub)(a, b, c); }
  static JISU_AI F sub(F a, F b) { return JISU_PS(sub)(a, b); }
  static JISU_AI F max(F a, F b) { return JISU_PS(max)(a, b); }
  static JISU_AI F min(F a, F b) { return JISU_PS(min)(a, b); }
  static JISU_AI F fnmadd(F a, F b, F c) { return JISU_PS(fnmadd)(a, b, c); }
  // 2^n for integral n in [-126, 127]: n + 127 in the exponent bits.
  static JISU_AI F exp2_integer(F n) { return bits_as_float(shift_left(JISU_EPI32(add)(JISU_EPI32(cvtps)(n), splat(127)), 23)); }
  // exp(x) for x clamped to [-87, 88]: simd_math.h's exp_clamped_lanes at this width (the one
  // definition, so the same values lane for lane): -inf and NaN give about 1e-38, never 0.
  static JISU_AI F exp_clamped(F x) { return exp_clamped_lanes<FloatVec>(x); }
  // kLanes fp16 / bf16 values from p.
  static JISU_AI F from_half(const uint8_t* p) { return JISU_PS(cvtph)(load_halfwords(p)); }
  static JISU_AI F from_bfloat(const uint8_t* p) {
    return bits_as_float(shift_left(JISU_EPI32(cvtepu16)(load_halfwords(p)), 16));
  }

  static JISU_AI I splat(int v) { return JISU_EPI32(set1)(v); }
  static JISU_AI F to_float(I v) { return JISU_PS(cvtepi32)(v); }
  // kLanes bytes from p, zero- or sign-extended to int32.
  static JISU_AI I widen_u8(const uint8_t* p) { return JISU_EPI32(cvtepu8)(load_bytes(p)); }
  static JISU_AI I widen_i8(const uint8_t* p) { return JISU_EPI32(cvtepi8)(load_bytes(p)); }
  static JISU_AI I bit_and(I a, I b) { return JISU_SI(and)(a, b); }
  static JISU_AI I bit_or(I a, I b) { return JISU_SI(or)(a, b); }
  static JISU_AI I sub(I a, I b) { return JISU_EPI32(sub)(a, b); }
  static JISU_AI I shift_right(I v, unsigned s) { return JISU_EPI32(srli)(v, s); }
  static JISU_AI I shift_left(I v, unsigned s) { return JISU_EPI32(slli)(v, s); }
  // Lane l: 1 << (kFirst + l), a constant.
  template <int kFirst>
  static JISU_AI I lane_bits() {
    return [&]<int... L>(std::integer_sequence<int, L...>) __attribute__((always_inline)) {
      return JISU_EPI32(set)(static_cast<int>(1u << (kFirst + kLanes - 1 - L))...);  // highest lane first
    }(std::make_integer_sequence<int, kLanes>{});
  }
};

#undef JISU_FLOAT_LANES
#undef JISU_PS
#undef JISU_EPI32
#undef JISU_SI

}  // namespace jisu::cpu::JISU_KERNEL_ISA
