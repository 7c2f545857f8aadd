#include "backends/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace jisu::cpu {

void attention_head(const float* query, const KvLayerView& kv, int32_t kv_head, int32_t head_dim,
                    int32_t n_positions, float scale, float* out) {
  // One pass with a running maximum (online softmax): no scratch buffer sized by the context,
  // and each key/value row is read once.
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int32_t d = 0; d < head_dim; ++d) out[d] = 0.0f;
  const size_t head_offset = static_cast<size_t>(kv_head) * head_dim;
  for (int32_t position = 0; position < n_positions; ++position) {
    const int32_t block = kv.block_table[position / kv.block_size];
    const size_t row = (static_cast<size_t>(block) * kv.block_size + position % kv.block_size) * kv.kv_dim + head_offset;
    const float* key = kv.keys + row;
    float score = 0.0f;
    for (int32_t d = 0; d < head_dim; ++d) score += query[d] * key[d];
    score *= scale;
    const float* value = kv.values + row;
    if (score > running_max) {
      const float correction = std::exp(running_max - score);
      running_sum = running_sum * correction + 1.0f;
      for (int32_t d = 0; d < head_dim; ++d) out[d] = out[d] * correction + value[d];
      running_max = score;
    } else {
      const float weight = std::exp(score - running_max);
      running_sum += weight;
      for (int32_t d = 0; d < head_dim; ++d) out[d] += weight * value[d];
    }
  }
  const float inverse = running_sum > 0 ? 1.0f / running_sum : 0.0f;
  for (int32_t d = 0; d < head_dim; ++d) out[d] *= inverse;
}

namespace {

// The chunked online softmax shared by the scalar references. fetch(first, count, keys,
// values) points keys[c] / values[c] at the head_dim floats of position first + c (c < count).
// Per head: m = running maximum, l = running sum of exp(s - m), out = running sum of
// exp(s - m) * value; one rescale by exp(m_old - m_new) per chunk.
template <class Fetch>
void attend_chunks(const float* queries, int32_t group, int32_t head_dim, int32_t n_positions, float scale, float* out,
                   Fetch&& fetch) {
  const size_t dim = static_cast<size_t>(head_dim);
  float running_max[kAttentionMaxGroup], running_sum[kAttentionMaxGroup];
  float scores[kAttentionMaxGroup][kAttentionChunk];
  std::fill(out, out + static_cast<size_t>(group) * dim, 0.0f);
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + group, 0.0f);
  for (int32_t first = 0; first < n_positions; first += kAttentionChunk) {
    const int32_t count = std::min(kAttentionChunk, n_positions - first);
    const float* keys[kAttentionChunk];
    const float* values[kAttentionChunk];
    fetch(first, count, keys, values);
    for (int32_t g = 0; g < group; ++g) {
      const float* query = queries + static_cast<size_t>(g) * dim;
      float chunk_max = running_max[g];
      for (int32_t c = 0; c < count; ++c) {
        float score = 0.0f;
        for (size_t d = 0; d < dim; ++d) score += query[d] * keys[c][d];
        scores[g][c] = score * scale;
        chunk_max = std::max(chunk_max, scores[g][c]);
      }
      const float correction = std::exp(running_max[g] - chunk_max);  // 0 on the first chunk
      float* o = out + static_cast<size_t>(g) * dim;
      for (size_t d = 0; d < dim; ++d) o[d] *= correction;
      float sum = running_sum[g] * correction;
      for (int32_t c = 0; c < count; ++c) {
        const float weight = std::exp(scores[g][c] - chunk_max);
        sum += weight;
        for (size_t d = 0; d < dim; ++d) o[d] += weight * values[c][d];
      }
      running_sum[g] = sum;
      running_max[g] = chunk_max;
    }
  }
  for (int32_t g = 0; g < group; ++g) {
    const float inverse = running_sum[g] > 0 ? 1.0f / running_sum[g] : 0.0f;
    float* o = out + static_cast<size_t>(g) * dim;
    for (size_t d = 0; d < dim; ++d) o[d] *= inverse;
  }
}

void check_group(int32_t group) {
  if (group <= 0 || group > kAttentionMaxGroup)
    throw Error("attention over " + std::to_string(group) + " query heads per kv head is outside [1, " +
                std::to_string(kAttentionMaxGroup) + "]");
}

}  // namespace

void attention_group_scalar(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head,
                            int32_t head_dim, int32_t n_positions, float scale, float* out) {
  const size_t head_offset = static_cast<size_t>(kv_head) * static_cast<size_t>(head_dim);
  attend_chunks(queries, group, head_dim, n_positions, scale, out,
                [&](int32_t first, int32_t count, const float** keys, const float** values) {
                  for (int32_t c = 0; c < count; ++c) {
                    const int32_t position = first + c;
                    const int32_t block = kv.block_table[position / kv.block_size];
                    const size_t row = (static_cast<size_t>(block) * kv.block_size + position % kv.block_size) * kv.kv_dim + head_offset;
                    keys[c] = kv.keys + row;
                    values[c] = kv.values + row;
                  }
                });
}

void attention_group_rows_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                 int32_t head_dim, int32_t n_positions, float scale, float* out) {
  const size_t dim = static_cast<size_t>(head_dim);
  const size_t key_row = row_bytes(kv.key_type, static_cast<size_t>(kv.kv_dim));
  const size_t value_row = row_bytes(kv.value_type, static_cast<size_t>(kv.kv_dim));
  const size_t key_head = row_bytes(kv.key_type, dim) * static_cast<size_t>(kv_head);
  const size_t value_head = row_bytes(kv.value_type, dim) * static_cast<size_t>(kv_head);
  float decoded_keys[kAttentionChunk][kAttentionMaxHeadDim];
  float decoded_values[kAttentionChunk][kAttentionMaxHeadDim];
  attend_chunks(queries, group, head_dim, n_positions, scale, out,
                [&](int32_t first, int32_t count, const float** keys, const float** values) {
                  for (int32_t c = 0; c < count; ++c) {
                    const int32_t position = first + c;
                    const int32_t block = kv.block_table[position / kv.block_size];
                    const size_t row = static_cast<size_t>(block) * static_cast<size_t>(kv.block_size) +
                                       static_cast<size_t>(position % kv.block_size);
                    dequantize_row_scalar(kv.key_type, kv.keys + row * key_row + key_head, decoded_keys[c], dim);
                    dequantize_row_scalar(kv.value_type, kv.values + row * value_row + value_head, decoded_values[c], dim);
                    keys[c] = decoded_keys[c];
                    values[c] = decoded_values[c];
                  }
                });
}

void attention_group(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head, int32_t head_dim,
                     int32_t n_positions, float scale, float* out) {
  check_group(group);
  if (active_isa() != Isa::Scalar)
    return attention_group_avx2(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
  attention_group_scalar(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
}

void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out) {
  check_group(group);
  if (head_dim <= 0 || head_dim > kAttentionMaxHeadDim)
    throw Error("attention over a KV cache row type takes heads of at most " + std::to_string(kAttentionMaxHeadDim) +
                " values, not " + std::to_string(head_dim), "use --cache-type-k/--cache-type-v f32");
  active_kernels().attention_group_rows(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
}

}  // namespace jisu::cpu
