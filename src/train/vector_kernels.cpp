#include "train/vector_kernels.h"

#include <immintrin.h>

#include "core/cpu_features.h"

namespace jisu::train {
namespace {

float dot_scalar(const float* a, const float* b, size_t n) {
  float sum = 0;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy_scalar(float alpha, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, size_t n) {
  __m512 sum = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) sum = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), sum);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (const float lane : lanes) total += lane;
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

__attribute__((target("avx512f"))) void axpy_avx512(float alpha, const float* x, float* y, size_t n) {
  const __m512 scale = _mm512_set1_ps(alpha);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(scale, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, size_t n) {
  __m256 sum = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) sum = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), sum);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float alpha, const float* x, float* y, size_t n) {
  const __m256 scale = _mm256_set1_ps(alpha);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(scale, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

struct VectorKernels {
  float (*dot)(const float*, const float*, size_t);
  void (*axpy)(float, const float*, float*, size_t);
};

const VectorKernels& kernels() {
  static const VectorKernels chosen = [] {
    const Isa isa = active_isa();
    if (uses_avx512(isa)) return VectorKernels{dot_avx512, axpy_avx512};
    if (isa != Isa::Scalar) return VectorKernels{dot_avx2, axpy_avx2};
    return VectorKernels{dot_scalar, axpy_scalar};
  }();
  return chosen;
}

}  // namespace

float dot(const float* a, const float* b, size_t n) { return kernels().dot(a, b, n); }
void axpy(float alpha, const float* x, float* y, size_t n) { kernels().axpy(alpha, x, y, n); }

}  // namespace jisu::train
