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

// out[head_dim] for query head `head` (GQA: kv head = head / (n_head / n_head_kv)). The plain
// one-head reference (one position at a time, std::exp).
void attention_head(const float* query, const KvLayerView& kv, int32_t kv_head, int32_t head_dim,
                    int32_t n_positions, float scale, float* out);

// The op the forward pass runs: the `group` query heads that share kv head `kv_head` (GQA),
// stored one after another at `queries` (group * head_dim floats), each attending over
// positions [0, n_positions); results to `out` in the same layout. Each key and value row is
// read once for the whole group, and positions are taken a chunk at a time (scores of the
// chunk, then one softmax rescale), so the cost per position is a few vector operations.
// Dispatches on active_isa(); the AVX2 variant runs the scalar one unless head_dim % 8 == 0.
void attention_group(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head, int32_t head_dim,
                     int32_t n_positions, float scale, float* out);

// Per-ISA variants of attention_group (tests compare both with a float64 reference).
void attention_group_scalar(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head,
                            int32_t head_dim, int32_t n_positions, float scale, float* out);
void attention_group_avx2(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out);

// Positions per chunk of attention_group (and the most query heads one call takes).
inline constexpr int32_t kAttentionChunk = 16;
inline constexpr int32_t kAttentionMaxGroup = 256;

}  // namespace jisu::cpu
