// AVX2 attention_group (see attention.h; attention_group_scalar is the reference it follows:
// the same chunked online softmax, with vector dot products and a vector exp).
#include "backends/cpu/simd_prelude.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/attention.h"
#include "backends/cpu/simd_math.h"

#if defined(__AVX2__) && defined(__FMA__)

namespace jisu::cpu {
namespace {

// [sum(a0), sum(a1), ..., sum(a7)] of eight 8-lane vectors.
JISU_AI __m256 sum_each(const __m256 a[8]) {
  const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Scores of one query against 8 keys (rows keys[0..7]).
JISU_AI __m256 scores8(const float* query, const float* const keys[8], size_t dim) {
  __m256 acc[8];
  for (int c = 0; c < 8; ++c) acc[c] = _mm256_setzero_ps();
  for (size_t d = 0; d < dim; d += 8) {
    const __m256 q = _mm256_loadu_ps(query + d);
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_fmadd_ps(q, _mm256_loadu_ps(keys[c] + d), acc[c]);
  }
  return sum_each(acc);
}

}  // namespace

void attention_group_avx2(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out) {
  static_assert(kAttentionChunk == 16, "two 8-lane score vectors per chunk");
  if (head_dim % 8 != 0) return attention_group_scalar(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
  const size_t dim = static_cast<size_t>(head_dim);
  const size_t head_offset = static_cast<size_t>(kv_head) * dim;
  float running_max[kAttentionMaxGroup], running_sum[kAttentionMaxGroup];
  std::fill(out, out + static_cast<size_t>(group) * dim, 0.0f);
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + group, 0.0f);
  const __m256 scale_vector = _mm256_set1_ps(scale);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 minus_infinity = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int32_t first = 0; first < n_positions; first += kAttentionChunk) {
    const int32_t count = std::min(kAttentionChunk, n_positions - first);
    // Unused slots of a short last chunk point at the first row (valid memory); their scores
    // are masked to -inf and their weights to 0 below.
    const float* keys[kAttentionChunk];
    const float* values[kAttentionChunk];
    for (int32_t c = 0; c < kAttentionChunk; ++c) {
      const int32_t position = first + (c < count ? c : 0);
      const int32_t block = kv.block_table[position / kv.block_size];
      const size_t row = (static_cast<size_t>(block) * kv.block_size + position % kv.block_size) * kv.kv_dim + head_offset;
      keys[c] = kv.keys + row;
      values[c] = kv.values + row;
    }
    const __m256 valid_low = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane));
    const __m256 valid_high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8), lane));
    for (int32_t g = 0; g < group; ++g) {
      const float* query = queries + static_cast<size_t>(g) * dim;
      const __m256 low = _mm256_mul_ps(scores8(query, keys, dim), scale_vector);
      const __m256 high = count > 8 ? _mm256_mul_ps(scores8(query, keys + 8, dim), scale_vector) : minus_infinity;
      alignas(32) float weights[kAttentionChunk];
      const float correction = online_softmax_chunk(low, high, valid_low, valid_high, running_max[g], running_sum[g], weights);
      float* o = out + static_cast<size_t>(g) * dim;
      const __m256 correction_vector = _mm256_set1_ps(correction);
      for (size_t d = 0; d < dim; d += 8) {
        __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(o + d), correction_vector);
        for (int32_t c = 0; c < count; ++c) acc = _mm256_fmadd_ps(_mm256_set1_ps(weights[c]), _mm256_loadu_ps(values[c] + d), acc);
        _mm256_storeu_ps(o + d, acc);
      }
    }
  }
  for (int32_t g = 0; g < group; ++g) {
    const __m256 inverse = _mm256_set1_ps(running_sum[g] > 0 ? 1.0f / running_sum[g] : 0.0f);
    float* o = out + static_cast<size_t>(g) * dim;
    for (size_t d = 0; d < dim; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), inverse));
  }
}

}  // namespace jisu::cpu

#else  // built without the AVX2 flags: the dispatcher never selects this path

namespace jisu::cpu {
void attention_group_avx2(const float* queries, int32_t group, const KvLayerView& kv, int32_t kv_head,
                          int32_t head_dim, int32_t n_positions, float scale, float* out) {
  attention_group_scalar(queries, group, kv, kv_head, head_dim, n_positions, scale, out);
}
}  // namespace jisu::cpu

#endif
