#pragma once
// The two vector primitives of attention's inner loops (head_dim long), vectorised for the
// CPU's ISA (AVX-512, AVX2+FMA, or the scalar reference as core/cpu_features picks; JISU_ISA
// forces one). A float dot product cannot be left to the compiler: without reassociation it
// stays one scalar chain. The double overloads are the plain loops the tests use.
#include <cstddef>

namespace jisu::train {

float dot(const float* a, const float* b, size_t n);
void axpy(float alpha, const float* x, float* y, size_t n);  // y += alpha * x

inline double dot(const double* a, const double* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}
inline void axpy(double alpha, const double* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace jisu::train
