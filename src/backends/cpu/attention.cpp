#include "backends/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"

namespace jisu::cpu {

namespace {

// The chunked online softmax shared by the scalar references, over positions [first_position,
// end_position). fetch(first, count, keys, values) points keys[c] / values[c] at the head_dim
// floats of position first + c (c < count). Per head: m = running maximum, l = running sum of
// exp(s - m), out = running sum of exp(s - m) * value; one rescale by exp(m_old - m_new) per
// chunk. Leaves out unnormalised (AttentionPart); normalize_heads divides by l.
template <class Fetch>
void attend_chunks(const float* queries, int32_t group, int32_t head_dim, int32_t first_position, int32_t end_position,
                   float scale, const AttentionPart& part, Fetch&& fetch) {
  const size_t dim = static_cast<size_t>(head_dim);
  float* running_max = part.running_max;
  float* running_sum = part.running_sum;
  float* out = part.out;
  float scores[kAttentionMaxGroup][kAttentionChunk];
  std::fill(out, out + static_cast<size_t>(group) * dim, 0.0f);
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + group, 0.0f);
  for (int32_t first = first_position; first < end_position; first += kAttentionChunk) {
    const int32_t count = std::min(kAttentionChunk, end_position - first);
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
}

void normalize_heads(int32_t group, int32_t head_dim, const float* running_sum, float* out) {
  const size_t dim = static_cast<size_t>(head_dim);
  for (int32_t g = 0; g < group; ++g) {
    const float inverse = running_sum[g] > 0 ? 1.0f / running_sum[g] : 0.0f;
    float* o = out + static_cast<size_t>(g) * dim;
    for (size_t d = 0; d < dim; ++d) o[d] *= inverse;
  }
}

// attend_chunks over [0, n_positions), normalised into out.
template <class Fetch>
void attend_all(const float* queries, int32_t group, int32_t head_dim, int32_t n_positions, float scale, float* out,
                Fetch&& fetch) {
  float running_max[kAttentionMaxGroup], running_sum[kAttentionMaxGroup];
  attend_chunks(queries, group, head_dim, 0, n_positions, scale, {out, running_max, running_sum}, fetch);
  normalize_heads(group, head_dim, running_sum, out);
}

// The fetch of the scalar row references: each chunk's key and value heads decoded by
// dequantize_row_scalar into two buffers of kAttentionChunk rows.
struct RowDecoder {
  const KvLayerRows& kv;
  size_t dim, key_row, value_row, key_head, value_head;
  float (*decoded_keys)[kAttentionMaxHeadDim];
  float (*decoded_values)[kAttentionMaxHeadDim];
  void operator()(int32_t first, int32_t count, const float** keys, const float** values) const {
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
  }
};

RowDecoder row_decoder(const KvLayerRows& kv, int32_t kv_head, int32_t head_dim, float (*keys)[kAttentionMaxHeadDim],
                       float (*values)[kAttentionMaxHeadDim]) {
  const size_t dim = static_cast<size_t>(head_dim);
  return {kv,
          dim,
          row_bytes(kv.key_type, static_cast<size_t>(kv.kv_dim)),
          row_bytes(kv.value_type, static_cast<size_t>(kv.kv_dim)),
          row_bytes(kv.key_type, dim) * static_cast<size_t>(kv_head),
          row_bytes(kv.value_type, dim) * static_cast<size_t>(kv_head),
          keys,
          values};
}

void check_group(int32_t group) {
  if (group <= 0 || group > kAttentionMaxGroup)
    throw Error("attention over " + std::to_string(group) + " query heads per kv head is outside [1, " +
                std::to_string(kAttentionMaxGroup) + "]");
}

void check_rows_head(int32_t head_dim) {
  if (head_dim <= 0 || head_dim > kAttentionMaxHeadDim)
    throw Error("attention over a KV cache row type takes heads of at most " + std::to_string(kAttentionMaxHeadDim) +
                " values, not " + std::to_string(head_dim), "use --cache-type-k/--cache-type-v f32");
}

}  // namespace

void attention_group_rows_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                 int32_t head_dim, int32_t n_positions, float scale, float* out) {
  float decoded_keys[kAttentionChunk][kAttentionMaxHeadDim];
  float decoded_values[kAttentionChunk][kAttentionMaxHeadDim];
  attend_all(queries, group, head_dim, n_positions, scale, out, row_decoder(kv, kv_head, head_dim, decoded_keys, decoded_values));
}

void attention_group_rows_part_scalar(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                      int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                                      const AttentionPart& part) {
  float decoded_keys[kAttentionChunk][kAttentionMaxHeadDim];
  float decoded_values[kAttentionChunk][kAttentionMaxHeadDim];
  attend_chunks(queries, group, head_dim, first_position, end_position, scale, part,
                row_decoder(kv, kv_head, head_dim, decoded_keys, decoded_values));
}

void attention_tile_rows_scalar(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                int32_t head_dim, float scale, float*) {
  for (int32_t i = 0; i < tile.n_tokens; ++i)
    attention_group_rows_scalar(tile.queries + static_cast<size_t>(i) * tile.query_stride, group, kv, kv_head, head_dim,
                                tile.visible_end[i], scale, tile.out + static_cast<size_t>(i) * tile.out_stride);
}

void combine_attention_parts(const AttentionPart* parts, int32_t n_parts, int32_t group, int32_t head_dim, float* out) {
  const size_t dim = static_cast<size_t>(head_dim);
  for (int32_t g = 0; g < group; ++g) {
    float largest = -std::numeric_limits<float>::infinity();
    for (int32_t p = 0; p < n_parts; ++p) largest = std::max(largest, parts[p].running_max[g]);
    float* o = out + static_cast<size_t>(g) * dim;
    std::fill(o, o + dim, 0.0f);
    float total = 0.0f;
    for (int32_t p = 0; p < n_parts; ++p) {
      const float weight = std::exp(parts[p].running_max[g] - largest);
      total += weight * parts[p].running_sum[g];
      const float* part_out = parts[p].out + static_cast<size_t>(g) * dim;
      for (size_t d = 0; d < dim; ++d) o[d] += weight * part_out[d];
    }
    const float inverse = total > 0 ? 1.0f / total : 0.0f;
    for (size_t d = 0; d < dim; ++d) o[d] *= inverse;
  }
}

size_t attention_tile_scratch_floats(int32_t group, int32_t head_dim) {
  // attention_tiles_isa.cpp's layout: rows padded to 64, dims to 16 floats (both vector widths).
  const size_t rows = (static_cast<size_t>(attention_tile_tokens(group)) * static_cast<size_t>(group) + 63) / 64 * 64;
  const size_t dim = (static_cast<size_t>(head_dim) + 15) / 16 * 16;
  const size_t keys = static_cast<size_t>(kAttentionKeyTile);
  return 2 * dim * rows + 4 * rows + keys * rows + 2 * keys * dim;
}

void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out) {
  check_group(group);
  check_rows_head(head_dim);
  active_kernels().attention_group_rows(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
}

void attention_group_rows_part(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                               int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                               const AttentionPart& part) {
  check_group(group);
  check_rows_head(head_dim);
  JISU_ASSERT(0 <= first_position && first_position < end_position);
  active_kernels().attention_group_rows_part(queries, group, kv, kv_head, head_dim, first_position, end_position, scale,
                                             part);
}

void attention_tile_rows(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                         int32_t head_dim, float scale, float* scratch) {
  check_group(group);
  check_rows_head(head_dim);
  JISU_ASSERT(tile.n_tokens >= 1 && tile.n_tokens <= attention_tile_tokens(group));
  for (int32_t i = 0; i < tile.n_tokens; ++i) JISU_ASSERT(tile.visible_end[i] >= 1);
  active_kernels().attention_tile_rows(tile, group, kv, kv_head, head_dim, scale, scratch);
}

}  // namespace jisu::cpu
