#include "train/gemm.h"

#include <immintrin.h>

#include <algorithm>

#include "core/cpu_features.h"
#include "train/train_ops.h"

namespace jisu::train {
namespace {

// Work split: tasks of kRowBlock rows x kColBlock columns of C. The split depends only on the
// shape, never on the thread count (determinism).
constexpr size_t kRowBlock = 64;
constexpr size_t kColBlock = 256;

// A register tile computes C[tile_rows, tile_cols] over the whole of K, adding the products to C
// in increasing k (C starts at 0 or at its old value).
struct TileKernel {
  size_t rows = 0;
  size_t cols = 0;
  void (*run)(const float* a, size_t ars, size_t acs, const float* b, size_t ldb, float* c, size_t ldc, size_t k,
              bool accumulate) = nullptr;
};

// A's element (i, p) is a[i * ars + p * acs]: (lda, 1) for A, (1, lda) for a transposed A.
// The reference and the edges: one element at a time, k increasing.
void gemm_block_scalar(const float* a, size_t ars, size_t acs, const float* b, size_t ldb, float* c, size_t ldc,
                       size_t rows, size_t cols, size_t k, bool accumulate) {
  for (size_t i = 0; i < rows; ++i) {
    float* c_row = c + i * ldc;
    if (!accumulate) std::fill(c_row, c_row + cols, 0.0f);
    for (size_t p = 0; p < k; ++p) {
      const float a_value = a[i * ars + p * acs];
      const float* b_row = b + p * ldb;
      for (size_t j = 0; j < cols; ++j) c_row[j] += a_value * b_row[j];
    }
  }
}

__attribute__((target("avx512f"))) void tile_4x64_avx512(const float* a, size_t ars, size_t acs, const float* b,
                                                          size_t ldb, float* c, size_t ldc, size_t k, bool accumulate) {
  __m512 acc[4][4];
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (size_t p = 0; p < k; ++p) {
    const float* b_row = b + p * ldb;
    const __m512 b0 = _mm512_loadu_ps(b_row), b1 = _mm512_loadu_ps(b_row + 16);
    const __m512 b2 = _mm512_loadu_ps(b_row + 32), b3 = _mm512_loadu_ps(b_row + 48);
    for (int r = 0; r < 4; ++r) {
      const __m512 a_value = _mm512_set1_ps(a[r * ars + p * acs]);
      acc[r][0] = _mm512_fmadd_ps(a_value, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a_value, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a_value, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a_value, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

__attribute__((target("avx2,fma"))) void tile_4x16_avx2(const float* a, size_t ars, size_t acs, const float* b,
                                                         size_t ldb, float* c, size_t ldc, size_t k, bool accumulate) {
  __m256 acc[4][2];
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < 2; ++v) acc[r][v] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps();
  for (size_t p = 0; p < k; ++p) {
    const float* b_row = b + p * ldb;
    const __m256 b0 = _mm256_loadu_ps(b_row), b1 = _mm256_loadu_ps(b_row + 8);
    for (int r = 0; r < 4; ++r) {
      const __m256 a_value = _mm256_set1_ps(a[r * ars + p * acs]);
      acc[r][0] = _mm256_fmadd_ps(a_value, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a_value, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < 2; ++v) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
}

void tile_1x1_scalar(const float* a, size_t ars, size_t acs, const float* b, size_t ldb, float* c, size_t ldc,
                     size_t k, bool accumulate) {
  gemm_block_scalar(a, ars, acs, b, ldb, c, ldc, 1, 1, k, accumulate);
}

TileKernel tile_kernel() {
  const Isa isa = active_isa();
  if (uses_avx512(isa)) return {4, 64, tile_4x64_avx512};
  if (isa != Isa::Scalar) return {4, 16, tile_4x16_avx2};
  return {1, 1, tile_1x1_scalar};
}

void gemm_task(const TileKernel& tile, const float* a, size_t ars, size_t acs, const float* b, float* c,
               size_t row_begin, size_t row_end, size_t col_begin, size_t col_end, size_t k, size_t n,
               bool accumulate) {
  const size_t full_cols = col_begin + (col_end - col_begin) / tile.cols * tile.cols;
  const size_t full_rows = row_begin + (row_end - row_begin) / tile.rows * tile.rows;
  for (size_t j = col_begin; j < full_cols; j += tile.cols)
    for (size_t i = row_begin; i < full_rows; i += tile.rows)
      tile.run(a + i * ars, ars, acs, b + j, n, c + i * n + j, n, k, accumulate);
  if (full_rows < row_end)
    gemm_block_scalar(a + full_rows * ars, ars, acs, b + col_begin, n, c + full_rows * n + col_begin, n,
                      row_end - full_rows, full_cols - col_begin, k, accumulate);
  if (full_cols < col_end)
    gemm_block_scalar(a + row_begin * ars, ars, acs, b + full_cols, n, c + row_begin * n + full_cols, n,
                      row_end - row_begin, col_end - full_cols, k, accumulate);
}

void gemm_strided(ThreadPool* pool, const float* a, size_t ars, size_t acs, const float* b, float* c, size_t m,
                  size_t k, size_t n, bool accumulate) {
  if (m == 0 || n == 0) return;
  const TileKernel tile = tile_kernel();
  const size_t row_blocks = (m + kRowBlock - 1) / kRowBlock, col_blocks = (n + kColBlock - 1) / kColBlock;
  for_each_task(pool, row_blocks * col_blocks, [&](size_t task) {
    const size_t rb = task / col_blocks, cb = task % col_blocks;
    gemm_task(tile, a, ars, acs, b, c, rb * kRowBlock, std::min(m, (rb + 1) * kRowBlock), cb * kColBlock,
              std::min(n, (cb + 1) * kColBlock), k, n, accumulate);
  });
}

}  // namespace

void gemm(ThreadPool* pool, const float* a, const float* b, float* c, size_t m, size_t k, size_t n, bool accumulate) {
  gemm_strided(pool, a, k, 1, b, c, m, k, n, accumulate);
}

namespace {
void gemm_double(ThreadPool* pool, const double* a, size_t ars, size_t acs, const double* b, double* c, size_t m,
                 size_t k, size_t n, bool accumulate) {
  for_each_task(pool, m, [&](size_t i) {
    double* c_row = c + i * n;
    if (!accumulate) std::fill(c_row, c_row + n, 0.0);
    for (size_t p = 0; p < k; ++p) {
      const double a_value = a[i * ars + p * acs];
      for (size_t j = 0; j < n; ++j) c_row[j] += a_value * b[p * n + j];
    }
  });
}
}  // namespace

void gemm(ThreadPool* pool, const double* a, const double* b, double* c, size_t m, size_t k, size_t n,
          bool accumulate) {
  gemm_double(pool, a, k, 1, b, c, m, k, n, accumulate);
}

template <class T>
void transpose(ThreadPool* pool, const T* in, T* out, size_t rows, size_t cols) {
  constexpr size_t kBlock = 32;
  const size_t row_blocks = (rows + kBlock - 1) / kBlock;
  for_each_task(pool, row_blocks, [&](size_t rb) {
    const size_t r_end = std::min(rows, (rb + 1) * kBlock);
    for (size_t c0 = 0; c0 < cols; c0 += kBlock) {
      const size_t c_end = std::min(cols, c0 + kBlock);
      for (size_t r = rb * kBlock; r < r_end; ++r)
        for (size_t col = c0; col < c_end; ++col) out[col * rows + r] = in[r * cols + col];
    }
  });
}

template void transpose<float>(ThreadPool*, const float*, float*, size_t, size_t);
template void transpose<double>(ThreadPool*, const double*, double*, size_t, size_t);

}  // namespace jisu::train
