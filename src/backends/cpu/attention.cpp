#include "backends/cpu/attention.h"

#include <cmath>
#include <limits>

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

}  // namespace jisu::cpu
