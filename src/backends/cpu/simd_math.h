#pragma once
// Vector math shared by the SIMD kernel files (include after simd_prelude.h, in files built
// with at least the AVX2 flags).
#include "backends/cpu/simd_prelude.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)

namespace jisu::cpu {

// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)): always this order, which the scalar
// references of the integer and float kernels spell out (part of their bit-exact contract).
inline __attribute__((always_inline)) float horizontal_sum(__m256 v) {
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

inline __attribute__((always_inline)) float horizontal_max(__m256 v) {
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  return _mm_cvtss_f32(m4);
}

// exp(x) within 2 ulp of std::exp over [-87, 88] (Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for exp(r), 2^n built in the exponent bits). Inputs are
// clamped to that range, so -inf (and NaN) give about 1e-38 instead of 0 and +inf about 1.6e38:
// callers either cannot tell (a sum that also holds exp(0) = 1) or divide by 1 + exp(x).
// The one definition for every vector width: V supplies the lane operations (Float256 below for
// __m256, vector_isa.h's FloatVec for its kernels' width). Each width runs this same sequence of
// operations, so every width gives the same value lane for lane.
template <class V>
inline __attribute__((always_inline)) typename V::F exp_clamped_lanes(typename V::F x) {
  using F = typename V::F;
  x = V::min(V::max(x, V::set1(-87.0f)), V::set1(88.0f));
  const F n = V::round_nearest(V::mul(x, V::set1(1.44269504088896341f)));
  F r = V::fnmadd(n, V::set1(0.693359375f), x);  // ln2 in two parts (Cody-Waite): n * the high part is exact
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  F p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::mul(p, V::exp2_integer(n));
}

// The lane operations of exp_clamped_lanes on __m256 (the AVX2 kernels outside vector_isa.h).
struct Float256 {
  using F = __m256;
  static JISU_AI F set1(float v) { return _mm256_set1_ps(v); }
  static JISU_AI F min(F a, F b) { return _mm256_min_ps(a, b); }
  static JISU_AI F max(F a, F b) { return _mm256_max_ps(a, b); }
  static JISU_AI F add(F a, F b) { return _mm256_add_ps(a, b); }
  static JISU_AI F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static JISU_AI F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static JISU_AI F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static JISU_AI F round_nearest(F v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127]: n + 127 in the exponent bits.
  static JISU_AI F exp2_integer(F n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
};

inline __attribute__((always_inline)) __m256 exp_clamped(__m256 x) { return exp_clamped_lanes<Float256>(x); }

// One chunk's step of the online softmax of the attention kernels: the scores of up to 16
// positions in two 8-lane vectors, lanes where valid_low / valid_high are clear ignored.
// Updates the running maximum and sum, stores the chunk's weights exp(score - new maximum)
// (0 in ignored lanes) to weights[16], and returns exp(old maximum - new maximum), by which the
// running output must be scaled (0 on the first chunk).
inline __attribute__((always_inline)) float online_softmax_chunk(__m256 low, __m256 high, __m256 valid_low,
                                                                 __m256 valid_high, float& running_max,
                                                                 float& running_sum, float* weights) {
  const __m256 minus_infinity = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  low = _mm256_blendv_ps(minus_infinity, low, valid_low);
  high = _mm256_blendv_ps(minus_infinity, high, valid_high);
  const float chunk_max = std::max(running_max, horizontal_max(_mm256_max_ps(low, high)));
  // exp(0) = 1 exactly: skipping the call when the maximum stays (most chunks, once the
  // largest scores are behind) changes no bit.
  const float correction = chunk_max == running_max ? 1.0f : std::exp(running_max - chunk_max);
  const __m256 m = _mm256_set1_ps(chunk_max);
  const __m256 weight_low = _mm256_and_ps(exp_clamped(_mm256_sub_ps(low, m)), valid_low);
  const __m256 weight_high = _mm256_and_ps(exp_clamped(_mm256_sub_ps(high, m)), valid_high);
  running_sum = running_sum * correction + horizontal_sum(_mm256_add_ps(weight_low, weight_high));
  running_max = chunk_max;
  _mm256_storeu_ps(weights, weight_low);
  _mm256_storeu_ps(weights + 8, weight_high);
  return correction;
}

}  // namespace jisu::cpu

#endif
