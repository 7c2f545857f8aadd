// attention_group_rows per vector width (attention.h; attention_group_rows_scalar is the
// reference: the same chunked online softmax). Each chunk of kAttentionChunk positions has its
// key and value heads decoded once (f16 and f32 inline, other types by this ISA's dequantize_row) into a stack buffer that stays
// in L1 and is shared by the group's query heads; the cache is read as stored (2 bytes per value
// for f16, 34 bytes per 32 for q8_0, 18 for q4_0), which is what decode time at a long context
// pays for. Scores and weights of a chunk are two 8-lane vectors (simd_math.h's
// online_softmax_chunk); dot products and the value sum use FloatVec (8 or 16 lanes).
#include "backends/cpu/vector_isa.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/attention.h"

namespace jisu::cpu::JISU_KERNEL_ISA {

// This ISA's weight decoder (quant_kernels_isa.cpp).
void dequantize_row(DType type, const void* src, float* dst, size_t n);

namespace {

using V = FloatVec;
using F = V::F;
constexpr size_t kLanes = V::kLanes;

JISU_AI float dot(const float* a, const float* b, size_t n) {
  F acc0 = V::zero(), acc1 = V::zero();
  size_t d = 0;
  for (; d + 2 * kLanes <= n; d += 2 * kLanes) {
    acc0 = V::fmadd(V::load(a + d), V::load(b + d), acc0);
    acc1 = V::fmadd(V::load(a + d + kLanes), V::load(b + d + kLanes), acc1);
  }
  for (; d + kLanes <= n; d += kLanes) acc0 = V::fmadd(V::load(a + d), V::load(b + d), acc0);
  float sum = V::sum(V::add(acc0, acc1));
  for (; d < n; ++d) sum += a[d] * b[d];
  return sum;
}

// One head row of the cache as floats. f16 (the default cache type) and f32 are converted
// inline: a dequantize_row call per 64-element head row cost more than the conversion itself
// (20 % of decode time at depth 4,096 went to those calls, docs/performance.md). Both are exact,
// so the floats are the same as dequantize_row's. Other types go through this ISA's dequantize_row.
JISU_AI void decode_head_row(DType type, const uint8_t* src, float* dst, size_t dim) {
  if (dim % kLanes == 0) {
    if (type == DType::F16) {
      for (size_t d = 0; d < dim; d += kLanes) V::store(dst + d, V::from_half(src + 2 * d));
      return;
    }
    if (type == DType::F32) {
      const auto* floats = reinterpret_cast<const float*>(src);
      for (size_t d = 0; d < dim; d += kLanes) V::store(dst + d, V::load(floats + d));
      return;
    }
  }
  dequantize_row(type, src, dst, dim);
}

}  // namespace

void attention_group_rows_part(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                               int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                               const AttentionPart& part) {
  static_assert(kAttentionChunk == 16, "two 8-lane score vectors per chunk");
  const size_t dim = static_cast<size_t>(head_dim);
  const size_t key_row = row_bytes(kv.key_type, static_cast<size_t>(kv.kv_dim));
  const size_t value_row = row_bytes(kv.value_type, static_cast<size_t>(kv.kv_dim));
  const size_t key_head = row_bytes(kv.key_type, dim) * static_cast<size_t>(kv_head);
  const size_t value_head = row_bytes(kv.value_type, dim) * static_cast<size_t>(kv_head);
  alignas(64) float keys[kAttentionChunk][kAttentionMaxHeadDim];
  alignas(64) float values[kAttentionChunk][kAttentionMaxHeadDim];
  float* running_max = part.running_max;
  float* running_sum = part.running_sum;
  float* out = part.out;
  std::fill(out, out + static_cast<size_t>(group) * dim, 0.0f);
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + group, 0.0f);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int32_t first = first_position; first < end_position; first += kAttentionChunk) {
    const int32_t count = std::min(kAttentionChunk, end_position - first);
    for (int32_t c = 0; c < count; ++c) {
      const int32_t position = first + c;
      const size_t row = static_cast<size_t>(kv.block_table[position / kv.block_size]) * static_cast<size_t>(kv.block_size) +
                         static_cast<size_t>(position % kv.block_size);
      decode_head_row(kv.key_type, kv.keys + row * key_row + key_head, keys[c], dim);
      decode_head_row(kv.value_type, kv.values + row * value_row + value_head, values[c], dim);
    }
    const __m256 valid_low = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane));
    const __m256 valid_high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8), lane));
    for (int32_t g = 0; g < group; ++g) {
      const float* query = queries + static_cast<size_t>(g) * dim;
      alignas(32) float scores[kAttentionChunk];
      for (int32_t c = 0; c < kAttentionChunk; ++c)
        scores[c] = c < count ? dot(query, keys[c], dim) * scale : -std::numeric_limits<float>::infinity();
      alignas(32) float weights[kAttentionChunk];
      const float correction = online_softmax_chunk(_mm256_load_ps(scores), _mm256_load_ps(scores + 8), valid_low, valid_high,
                                                    running_max[g], running_sum[g], weights);
      float* o = out + static_cast<size_t>(g) * dim;
      const F correction_vector = V::set1(correction);
      size_t d = 0;
      for (; d + kLanes <= dim; d += kLanes) {
        F acc = V::mul(V::load(o + d), correction_vector);
        for (int32_t c = 0; c < count; ++c) acc = V::fmadd(V::set1(weights[c]), V::load(values[c] + d), acc);
        V::store(o + d, acc);
      }
      for (; d < dim; ++d) {
        float acc = o[d] * correction;
        for (int32_t c = 0; c < count; ++c) acc += weights[c] * values[c][d];
        o[d] = acc;
      }
    }
  }
}

void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out) {
  float running_max[kAttentionMaxGroup], running_sum[kAttentionMaxGroup];
  JISU_KERNEL_ISA::attention_group_rows_part(queries, group, kv, kv_head, head_dim, 0, n_positions, scale, {out, running_max, running_sum});
  const size_t dim = static_cast<size_t>(head_dim);
  for (int32_t g = 0; g < group; ++g) {
    const float inverse = running_sum[g] > 0 ? 1.0f / running_sum[g] : 0.0f;
    float* o = out + static_cast<size_t>(g) * dim;
    for (size_t d = 0; d < dim; ++d) o[d] *= inverse;
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
