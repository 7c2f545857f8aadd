#pragma once
// The small vector layer of the kernel sources compiled once per instruction set (*_isa.cpp).
//
// CMakeLists.txt compiles each *_isa.cpp several times: each time with one ISA's -m flags and
// JISU_KERNEL_ISA set to that ISA's namespace (avx2, avx_vnni, avx512, avx512_vnni), so one
// source yields jisu::cpu::avx2::matmul_rows_int8, jisu::cpu::avx512_vnni::matmul_rows_int8, ...
// kernel_table.cpp collects them and the dispatchers pick one by active_isa() (CPUID or JISU_ISA).
// What differs between the ISAs is confined to this header:
//   - IntDot: the integer dot products of the int8 kernels (AVX2: maddubs + madd; AVX-VNNI and
//     AVX512-VNNI: vpdpbusd / vpdpwssd). Every variant computes the same exact int32 lane sums,
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

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define JISU_VNNI_DOT(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define JISU_VNNI_MADD(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#elif defined(__AVXVNNI__)
#define JISU_VNNI_DOT(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define JISU_VNNI_MADD(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#endif

namespace jisu::cpu::JISU_KERNEL_ISA {

// ---------------------------------------------------------------------------------------------
// Integer dot products on 256-bit vectors (8 int32 lanes; lane l covers bytes 4l .. 4l + 3).

struct IntDot {
#if defined(JISU_VNNI_DOT)
  static constexpr bool kVnni = true;
#else
  static constexpr bool kVnni = false;
#endif

  // Lane l: sum_{j in lane} u_j * s_j with u unsigned and s signed bytes. The AVX2 form goes
  // through int16 pair sums (maddubs saturates them), so callers keep each pair's |sum| <=
  // 32767 (they do: |u| <= 128 or u <= 15, |s| <= 127); then both forms are exact.
  static JISU_AI __m256i dot(__m256i u, __m256i s) {
#if defined(JISU_VNNI_DOT)
    return JISU_VNNI_DOT(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
  }
  // acc + dot(u, s).
  static JISU_AI __m256i dot_add(__m256i acc, __m256i u, __m256i s) {
#if defined(JISU_VNNI_DOT)
    return JISU_VNNI_DOT(acc, u, s);
#else
    return _mm256_add_epi32(acc, dot(u, s));
#endif
  }
  // acc + madd(a, b): lane l += a_2l * b_2l + a_2l+1 * b_2l+1 (int16 pairs, int32 sum).
  static JISU_AI __m256i madd_add(__m256i acc, __m256i a, __m256i b) {
#if defined(JISU_VNNI_MADD)
    return JISU_VNNI_MADD(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
  }

  // Nibble weights with Q4_0's -8 offset: lane l = sum_{j in lane} (u_j - 8) * s_j for nibbles
  // u_j <= 15, as dot(u, s) - dot(8, s). NibbleOffset is dot(8, s) in the form each variant
  // subtracts (AVX2: int16 pairs, before widening; VNNI: negated int32 lanes, the starting sum),
  // computed once per activation block and shared by every weight row.
  static JISU_AI __m256i nibble_offset(__m256i s) {
#if defined(JISU_VNNI_DOT)
    return _mm256_sub_epi32(_mm256_setzero_si256(), dot(_mm256_set1_epi8(8), s));
#else
    return _mm256_maddubs_epi16(_mm256_set1_epi8(8), s);
#endif
  }
  static JISU_AI __m256i dot_minus_offset(__m256i u, __m256i s, __m256i offset) {
#if defined(JISU_VNNI_DOT)
    return JISU_VNNI_DOT(offset, u, s);
#else
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(u, s), offset), _mm256_set1_epi16(1));
#endif
  }
};

// ---------------------------------------------------------------------------------------------
// Float vectors of the weight-decoding kernels: the widest registers the ISA has. kLanes is 8
// (AVX2) or 16 (AVX-512); a 32-element block is 32 / kLanes vectors, and a vector never
// straddles two 16-element sub-blocks. Integer lanes are int32.

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)

struct FloatVec {
  using F = __m512;
  using I = __m512i;
  static constexpr int kLanes = 16;

  static JISU_AI F zero() { return _mm512_setzero_ps(); }
  static JISU_AI F set1(float v) { return _mm512_set1_ps(v); }
  static JISU_AI F load(const float* p) { return _mm512_loadu_ps(p); }
  static JISU_AI void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  // Lanes [0, count) from p, the others 0; count < kLanes.
  static JISU_AI F load_first(const float* p, size_t count) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
  }
  static JISU_AI F add(F a, F b) { return _mm512_add_ps(a, b); }
  static JISU_AI F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static JISU_AI F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static JISU_AI F fmsub(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }
  static JISU_AI F from_half(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static JISU_AI F from_bfloat(const uint8_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // ((a0 + a8) + ...) : the upper half added onto the lower, then horizontal_sum's fixed order.
  static JISU_AI float sum(F v) {
    return horizontal_sum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
  }

  static JISU_AI I splat(int v) { return _mm512_set1_epi32(v); }
  static JISU_AI F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static JISU_AI I widen_u8(const uint8_t* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static JISU_AI I widen_i8(const uint8_t* p) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // 16 int8 values -> the 16 / kLanes vectors of their int32 values.
  static JISU_AI void widen_i8x16(__m128i bytes, I* out) { out[0] = _mm512_cvtepi8_epi32(bytes); }
  static JISU_AI I bit_and(I a, I b) { return _mm512_and_si512(a, b); }
  static JISU_AI I bit_or(I a, I b) { return _mm512_or_si512(a, b); }
  static JISU_AI I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static JISU_AI I shift_right(I v, unsigned s) { return _mm512_srli_epi32(v, s); }
  static JISU_AI I shift_left(I v, unsigned s) { return _mm512_slli_epi32(v, s); }
  // Lane l: 1 << (kFirst + l), a constant.
  template <int kFirst>
  static JISU_AI I lane_bits() {
    return [&]<int... L>(std::integer_sequence<int, L...>) __attribute__((always_inline)) {
      return _mm512_set_epi32(static_cast<int>(1u << (kFirst + kLanes - 1 - L))...);  // highest lane first
    }(std::make_integer_sequence<int, kLanes>{});
  }
  // value where v has every bit of `bits` set (all_set) or none of them (!all_set), else 0.
  static JISU_AI I value_where_all(I v, I bits, I value) {
    return _mm512_maskz_mov_epi32(_mm512_cmpeq_epi32_mask(_mm512_and_si512(v, bits), bits), value);
  }
  static JISU_AI I value_where_none(I v, I bits, I value) {
    return _mm512_maskz_mov_epi32(_mm512_testn_epi32_mask(v, bits), value);
  }
};

#else

struct FloatVec {
  using F = __m256;
  using I = __m256i;
  static constexpr int kLanes = 8;

  static JISU_AI F zero() { return _mm256_setzero_ps(); }
  static JISU_AI F set1(float v) { return _mm256_set1_ps(v); }
  static JISU_AI F load(const float* p) { return _mm256_loadu_ps(p); }
  static JISU_AI void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static JISU_AI F load_first(const float* p, size_t count) {
    const __m256i lanes_below =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(p, lanes_below);
  }
  static JISU_AI F add(F a, F b) { return _mm256_add_ps(a, b); }
  static JISU_AI F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static JISU_AI F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static JISU_AI F fmsub(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }
  static JISU_AI F from_half(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static JISU_AI F from_bfloat(const uint8_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static JISU_AI float sum(F v) { return horizontal_sum(v); }

  static JISU_AI I splat(int v) { return _mm256_set1_epi32(v); }
  static JISU_AI F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static JISU_AI I widen_u8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static JISU_AI I widen_i8(const uint8_t* p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static JISU_AI void widen_i8x16(__m128i bytes, I* out) {
    out[0] = _mm256_cvtepi8_epi32(bytes);
    out[1] = _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(bytes, bytes));
  }
  static JISU_AI I bit_and(I a, I b) { return _mm256_and_si256(a, b); }
  static JISU_AI I bit_or(I a, I b) { return _mm256_or_si256(a, b); }
  static JISU_AI I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static JISU_AI I shift_right(I v, unsigned s) { return _mm256_srli_epi32(v, s); }
  static JISU_AI I shift_left(I v, unsigned s) { return _mm256_slli_epi32(v, s); }
  template <int kFirst>
  static JISU_AI I lane_bits() {
    return [&]<int... L>(std::integer_sequence<int, L...>) __attribute__((always_inline)) {
      return _mm256_setr_epi32(static_cast<int>(1u << (kFirst + L))...);
    }(std::make_integer_sequence<int, kLanes>{});
  }
  static JISU_AI I value_where_all(I v, I bits, I value) {
    return _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(v, bits), bits), value);
  }
  static JISU_AI I value_where_none(I v, I bits, I value) {
    return _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(v, bits), _mm256_setzero_si256()), value);
  }
};

#endif

}  // namespace jisu::cpu::JISU_KERNEL_ISA
