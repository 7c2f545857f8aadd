#pragma once
// Causal attention of one query token over its own sequence's cached keys and values, read
// through the sequence's block table (paged KV cache). Positions [0, n_positions) are visible;
// the caller guarantees they are written. Other sequences' blocks are never reachable because
// only this sequence's block table is passed.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

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

// One layer's K/V as rows of a KV cache type (f32, f16, q8_0, q4_0; kv/kv_cache.h): position
// row r holds kv_dim values in row_bytes(type, kv_dim) bytes, head h its values [h * head_dim,
// (h + 1) * head_dim), which start a block of the type (check_kv_cache_types).
struct KvLayerRows {
  const uint8_t* keys;
  const uint8_t* values;
  const int32_t* block_table;
  int32_t block_size;
  int32_t kv_dim;
  DType key_type;
  DType value_type;
};

// The most head_dim attention_group_rows takes: a chunk's decoded K and V heads are staged on
// the stack (2 * kAttentionChunk * 256 floats = 32 KiB).
inline constexpr int32_t kAttentionMaxHeadDim = 256;

// attention_group over rows of any KV cache type: the same chunked online softmax, reading the
// stored rows directly (each chunk's key and value heads decoded once into a small stack
// buffer shared by the group's query heads; no dequantized copy of the cache). Dispatches on
// active_isa() through the kernel table.
void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out);
// The reference: attention_group_scalar's arithmetic on rows decoded by dequantize_row_scalar.
void attention_group_rows_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                 int32_t head_dim, int32_t n_positions, float scale, float* out);

}  // namespace jisu::cpu
