#pragma once
// Causal attention of one query token over its own sequence's cached keys and values, read
// through the sequence's block table (paged KV cache). Positions [0, n_positions) are visible;
// the caller guarantees they are written. Other sequences' blocks are never reachable because
// only this sequence's block table is passed.
#include <cstddef>
#include <cstdint>

namespace jisu::cpu {

struct KvLayerView {
  const float* keys;     // [block][slot][kv_dim] of one layer
  const float* values;
  const int32_t* block_table;
  int32_t block_size;
  int32_t kv_dim;        // n_head_kv * head_dim: stride between positions within a block
};

// out[head_dim] for query head `head` (GQA: kv head = head / (n_head / n_head_kv)).
void attention_head(const float* query, const KvLayerView& kv, int32_t kv_head, int32_t head_dim,
                    int32_t n_positions, float scale, float* out);

}  // namespace jisu::cpu
