// AVX2 variants of the activation ops (ops.h); the scalar ones in ops.cpp are the references.
#include "backends/cpu/simd_prelude.h"

#include "backends/cpu/ops.h"
#include "backends/cpu/simd_math.h"

#if defined(__AVX2__) && defined(__FMA__)

namespace jisu::cpu {
namespace {

// Applies op(gate vector, up vector) -> result vector over n elements; a tail shorter than 8
// goes through zero-padded copies, so every element gets the same arithmetic.
template <class Op>
JISU_AI void for_each_vector(float* gate, const float* up, size_t n, Op op) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, op(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i == n) return;
  float g[8] = {}, u[8] = {};
  for (size_t j = 0; j < n - i; ++j) g[j] = gate[i + j], u[j] = up[i + j];
  _mm256_storeu_ps(g, op(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
  for (size_t j = 0; j < n - i; ++j) gate[i + j] = g[j];
}

// Applies op(vector) -> vector to x in place; the tail goes through a zero-padded copy.
template <class Op>
JISU_AI void for_each_vector_in_place(float* x, size_t n, Op op) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, op(_mm256_loadu_ps(x + i)));
  if (i == n) return;
  float tail[8] = {};
  for (size_t j = 0; j < n - i; ++j) tail[j] = x[i + j];
  _mm256_storeu_ps(tail, op(_mm256_loadu_ps(tail)));
  for (size_t j = 0; j < n - i; ++j) x[i + j] = tail[j];
}

// gelu(x) = 0.5 x erfc(-x / sqrt 2), with erfc by Numerical Recipes' erfcc (fractional error
// below 1.2e-7 everywhere): for u = -x / sqrt 2, a = |u|, t = 1 / (1 + a / 2),
// e = t exp(-a^2 + P(t)), erfc(u) = e when u >= 0, else 2 - e. The negative tail is e itself:
// no cancellation of 1 + erf(z) near -1.
JISU_AI __m256 gelu_erf_vector(__m256 x) {
  const __m256 u = _mm256_mul_ps(x, _mm256_set1_ps(-0.70710678118654752f));
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(a, _mm256_set1_ps(0.5f), one));
  static constexpr float kP[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                                 -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
  __m256 p = _mm256_set1_ps(kP[0]);
  for (size_t k = 1; k < sizeof kP / sizeof kP[0]; ++k) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kP[k]));
  const __m256 e = _mm256_mul_ps(t, exp_clamped(_mm256_fnmadd_ps(a, a, p)));
  const __m256 negative = _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 erfc = _mm256_blendv_ps(e, _mm256_sub_ps(_mm256_set1_ps(2.0f), e), negative);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), erfc);
}

}  // namespace

void gelu_erf_multiply_avx2(float* gate, const float* up, size_t n) {
  for_each_vector(gate, up, n, [](__m256 g, __m256 u) { return _mm256_mul_ps(gelu_erf_vector(g), u); });
}

void gelu_erf_in_place_avx2(float* x, size_t n) { for_each_vector_in_place(x, n, gelu_erf_vector); }

// g / (1 + exp(-g)) * up.
void silu_multiply_avx2(float* gate, const float* up, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for_each_vector(gate, up, n, [&](__m256 g, __m256 u) {
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, exp_clamped(_mm256_sub_ps(_mm256_setzero_ps(), g)))), u);
  });
}

// 0.5 g (1 + tanh(z)) * up with z = sqrt(2/pi) (g + 0.044715 g^3), and 1 + tanh(z) written as
// 2 / (1 + exp(-2z)): no cancellation where tanh(z) is near -1, finite for any z (exp is clamped).
void gelu_tanh_multiply_avx2(float* gate, const float* up, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
  const __m256 k0 = _mm256_set1_ps(0.7978845608028654f), k1 = _mm256_set1_ps(0.044715f);
  for_each_vector(gate, up, n, [&](__m256 g, __m256 u) {
    const __m256 z = _mm256_mul_ps(k0, _mm256_fmadd_ps(_mm256_mul_ps(k1, g), _mm256_mul_ps(g, g), g));
    const __m256 minus_two_z = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_add_ps(z, z));
    const __m256 one_plus_tanh = _mm256_div_ps(two, _mm256_add_ps(one, exp_clamped(minus_two_z)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, g), one_plus_tanh), u);
  });
}

}  // namespace jisu::cpu

#else  // built without the AVX2 flags: the dispatcher never selects this path

namespace jisu::cpu {
void silu_multiply_avx2(float* gate, const float* up, size_t n) { silu_multiply_scalar(gate, up, n); }
void gelu_tanh_multiply_avx2(float* gate, const float* up, size_t n) { gelu_tanh_multiply_scalar(gate, up, n); }
void gelu_erf_multiply_avx2(float* gate, const float* up, size_t n) { gelu_erf_multiply_scalar(gate, up, n); }
void gelu_erf_in_place_avx2(float* x, size_t n) { gelu_erf_in_place_scalar(x, n); }
}  // namespace jisu::cpu

#endif
