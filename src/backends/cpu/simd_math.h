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
// clamped to that range, so -inf gives about 1e-38 instead of 0 and +inf about 1.6e38: callers
// either cannot tell (a sum that also holds exp(0) = 1) or divide by 1 + exp(x).
inline __attribute__((always_inline)) __m256 exp_clamped(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

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
  const float correction = std::exp(running_max - chunk_max);
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
