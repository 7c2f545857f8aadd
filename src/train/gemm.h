#pragma once
// The matrix products of training, in the one row-major form C[M,N] (+)= A[M,K] * B[K,N]
// (the other two a layer needs, X * W^T and dY^T * X, are this one after a transpose, which
// costs O(MN) against the product's O(MNK)).
//
// float: blocked, register-tiled and run over the thread pool; compiled for AVX-512, AVX2 and
// a baseline by function multi-versioning, the best the CPU has picked at load time.
// double: plain loops, the reference the finite-difference tests use.
//
// Determinism: every element of C is summed over k in increasing order by exactly one task,
// whatever the thread count, so results do not depend on the number of threads.
#include <cstddef>

#include "core/thread_pool.h"

namespace jisu::train {

// C = A * B (accumulate: C += A * B). pool may be null (runs on the calling thread).
void gemm(ThreadPool* pool, const float* a, const float* b, float* c, size_t m, size_t k, size_t n, bool accumulate);
void gemm(ThreadPool* pool, const double* a, const double* b, double* c, size_t m, size_t k, size_t n,
          bool accumulate);

// out[cols, rows] = in[rows, cols]^T.
template <class T>
void transpose(ThreadPool* pool, const T* in, T* out, size_t rows, size_t cols);

}  // namespace jisu::train
