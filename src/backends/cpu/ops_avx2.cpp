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

}  // namespace

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
}  // namespace jisu::cpu

#endif
