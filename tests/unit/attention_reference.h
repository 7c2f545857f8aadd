#pragma once
// The float64 reference attention the attention kernel tests compare with.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/attention.h"
#include "core/error.h"

namespace jisu::cpu {

// Float arrays as the rows of an f32 KV cache (DType::F32: kv_dim floats per position row).
inline KvLayerRows f32_rows(const float* keys, const float* values, const int32_t* block_table, int32_t block_size,
                            int32_t kv_dim) {
  return {reinterpret_cast<const uint8_t*>(keys), reinterpret_cast<const uint8_t*>(values), block_table, block_size, kv_dim,
          DType::F32, DType::F32};
}

// Two-pass float64 softmax attention of one query over the paged positions [0, n_positions) of
// an f32 cache (f32_rows).
inline std::vector<double> reference_attention(const float* query, const KvLayerRows& kv, int32_t kv_head, int32_t head_dim,
                                               int32_t n_positions, float scale) {
  JISU_ASSERT(kv.key_type == DType::F32 && kv.value_type == DType::F32);
  const float* keys = reinterpret_cast<const float*>(kv.keys);
  const float* values = reinterpret_cast<const float*>(kv.values);
  auto row_of = [&](int32_t p) {
    return (size_t(kv.block_table[p / kv.block_size]) * size_t(kv.block_size) + size_t(p % kv.block_size)) *
               size_t(kv.kv_dim) + size_t(kv_head * head_dim);
  };
  std::vector<double> scores(static_cast<size_t>(n_positions));
  double max_score = -1e300;
  for (int32_t p = 0; p < n_positions; ++p) {
    double score = 0;
    for (int32_t d = 0; d < head_dim; ++d) score += double(query[d]) * keys[row_of(p) + size_t(d)];
    scores[size_t(p)] = score * scale;
    max_score = std::max(max_score, scores[size_t(p)]);
  }
  std::vector<double> expected(static_cast<size_t>(head_dim), 0.0);
  double total = 0;
  for (int32_t p = 0; p < n_positions; ++p) {
    const double weight = std::exp(scores[size_t(p)] - max_score);
    total += weight;
    for (int32_t d = 0; d < head_dim; ++d) expected[size_t(d)] += weight * values[row_of(p) + size_t(d)];
  }
  for (double& e : expected) e = total > 0 ? e / total : 0.0;
  return expected;
}

}  // namespace jisu::cpu
