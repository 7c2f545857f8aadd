#pragma once
// Random sparse matrices for the tests of the jisu sparse types (sparse_blocks.h) and their
// kernels: weights pruned by magnitude and encoded by the pruner's row encoder.
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "backends/cpu/sparse_blocks.h"
#include "compress/sparse_rows.h"
#include "core/dtype.h"

namespace jisu::cpu {

struct SparseMatrix {
  DType type;
  size_t rows, n;
  std::vector<float> dense;     // rows x n: the weights before pruning
  std::vector<uint8_t> keep;    // rows x n
  std::vector<uint8_t> bytes;   // exactly rows * row_bytes: no slack for a kernel to read into
};

// Random weights pruned by magnitude: `kept_per_64` per 64 of each row (unstructured), or 2:4.
// `skewed`: the first 64 weights of each row are 10 times larger, so an unstructured row keeps
// many (up to all 64) of its first block.
inline SparseMatrix make_sparse(DType type, size_t rows, size_t n, std::mt19937& rng, bool skewed = false) {
  SparseMatrix m{type, rows, n, std::vector<float>(rows * n), std::vector<uint8_t>(rows * n), {}};
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (float& w : m.dense) w = normal(rng);
  if (skewed)
    for (size_t i = 0; i < m.dense.size(); ++i)
      if (i % n < 64) m.dense[i] *= 10.0f;
  if (rows > 1)
    for (size_t j = 0; j < n; ++j) m.dense[n + j] = 0.0f;  // row 1: all zero (scale 0)
  m.bytes.resize(rows * row_bytes(type, n));
  std::vector<float> scores(n);
  for (size_t r = 0; r < rows; ++r) {
    const float* w = m.dense.data() + r * n;
    for (size_t j = 0; j < n; ++j) scores[j] = std::fabs(w[j]);
    const std::span<uint8_t> keep(m.keep.data() + r * n, n);
    if (type == kJisuNmQ8)
      compress::keep_largest_per_group(scores, 2, 4, keep);
    else
      compress::keep_largest(scores, n / 64 * sparse_q8_kept_per_64(type), keep);
    compress::encode_sparse_row(type, w, keep.data(), n, m.bytes.data() + r * row_bytes(type, n));
  }
  return m;
}

}  // namespace jisu::cpu
