#pragma once
// Causal attention of one query token over its own sequence's cached keys and values, read
// through the sequence's block table (paged KV cache). Positions [0, n_positions) are visible;
// the caller guarantees they are written. Other sequences' blocks are never reachable because
// only this sequence's block table is passed.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace jisu::cpu {

// Positions per chunk of the grouped attention kernels (and the most query heads one call takes).
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

// The op the decode step runs: the `group` query heads that share kv head `kv_head` (GQA),
// stored one after another at `queries` (group * head_dim floats), each attending over
// positions [0, n_positions) of rows of any KV cache type; results to `out` in the same layout.
// Each key and value row is read once for the whole group, and positions are taken a chunk at a
// time (scores of the chunk, then one online-softmax rescale), reading the stored rows directly
// (each chunk's key and value heads decoded once into a small stack buffer shared by the
// group's query heads; no dequantized copy of the cache). Dispatches on active_isa() through
// the kernel table.
void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out);
// The reference: that chunked online softmax in plain scalar code (std::exp) on rows decoded by
// dequantize_row_scalar.
void attention_group_rows_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                 int32_t head_dim, int32_t n_positions, float scale, float* out);

// ---------------------------------------------------------------------------------------------
// Decode attention split over positions (flash-decoding): one part of a query's positions,
// [first_position, end_position) (non-empty), left unnormalised so that parts computed by
// different threads combine exactly. Per query head g: running_max[g] = m, the largest score
// of the part; running_sum[g] = sum over the part of exp(s - m); out[g * head_dim + d] = sum of
// exp(s - m) * value[d]. attention_group_rows is this over [0, n_positions), divided by the sum.
struct AttentionPart {
  float* out;          // [group][head_dim]
  float* running_max;  // [group]
  float* running_sum;  // [group]
};
void attention_group_rows_part(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                               int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                               const AttentionPart& part);
void attention_group_rows_part_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                      int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                                      const AttentionPart& part);
// out[group][head_dim] = the softmax-weighted values over all n_parts parts: with M the largest
// part maximum, sum_p exp(m_p - M) out_p / sum_p exp(m_p - M) l_p (the exact identity of the
// online softmax, whatever the split). parts[p] as written by attention_group_rows_part.
void combine_attention_parts(const AttentionPart* parts, int32_t n_parts, int32_t group, int32_t head_dim, float* out);

// ---------------------------------------------------------------------------------------------
// Prompt attention in tiles (flash-attention style): the query heads of one kv head for
// n_tokens tokens of one sequence (a tile of rows = n_tokens * group queries) against the
// sequence's positions a key tile at a time. Each key tile's rows are decoded once for the
// whole query tile (not once per token as attention_group_rows would), scores are a small
// matrix product in L1/L2, and an online softmax per query row keeps the state, so no score
// matrix over the context exists. Token i sees positions [0, visible_end[i]) (causal: its own
// position + 1; an encoder: the sequence's end), each visible_end >= 1.
struct AttentionTile {
  const float* queries;        // token i, query head g: queries + i * query_stride + g * head_dim
  size_t query_stride;
  float* out;                  // the same layout, out_stride
  size_t out_stride;
  const int32_t* visible_end;  // [n_tokens]
  int32_t n_tokens;            // 1 .. attention_tile_tokens(group)
};

// Query rows per tile (tokens * group, rounded down to whole tokens) and positions per key tile:
// with head_dim 64 the tile's queries, outputs, scores and decoded keys and values are each
// 16 KiB (80 KiB, within L2).
inline constexpr int32_t kAttentionTileRows = 64;
inline constexpr int32_t kAttentionKeyTile = 64;
inline int32_t attention_tile_tokens(int32_t group) { return group >= kAttentionTileRows ? 1 : kAttentionTileRows / group; }
// Floats of scratch one attention_tile_rows call takes (the caller gives each thread its own,
// 64-byte aligned, from the arena).
size_t attention_tile_scratch_floats(int32_t group, int32_t head_dim);

void attention_tile_rows(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                         int32_t head_dim, float scale, float* scratch);
// The reference: attention_group_rows_scalar for each token of the tile (scratch unused).
void attention_tile_rows_scalar(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                int32_t head_dim, float scale, float* scratch);

}  // namespace jisu::cpu
