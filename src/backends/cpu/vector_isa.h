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

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "every per-ISA kernel build has at least AVX2, FMA and F16C"
#endif

#include <cstdint>
#include <cstring>

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

}  // namespace jisu::cpu::JISU_KERNEL_ISA
