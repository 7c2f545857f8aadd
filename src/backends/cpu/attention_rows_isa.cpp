// attention_group_rows per vector width (attention.h; attention_group_rows_scalar is the
// reference: the same chunked online softmax). Each chunk of kAttentionChunk positions has its
// key and value heads decoded once (inline for f32, f16, q8_0 and q4_0) into a stack buffer
// that stays in L1 and is shared by the group's query heads; the cache is read as stored (2
// bytes per value for f16, 34 bytes per 32 for q8_0, 18 for q4_0), which is what decode time at
// a long context pays for. A chunk's scores of one query are 16 dot products summed across
// lanes together (chunk_scores), its weights two 8-lane vectors (simd_math.h's
// online_softmax_chunk), and the weighted values are summed for four query heads at a time.
#include "backends/cpu/vector_isa.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/attention.h"
#include "backends/cpu/kv_head_rows_isa.h"

namespace jisu::cpu::JISU_KERNEL_ISA {

namespace {

using kv_head_rows::decode_head_row;
using kv_head_rows::prefetch_lines;
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

// ---------------------------------------------------------------------------------------------
// The fast path (head_dim a whole number of vectors): a chunk's 16 scores of one query as
// 16 dot products kept in 16 vector accumulators (one FMA chain each over the head), summed
// across lanes all at once by a transposing tree (lane c of the result: the sum of acc[c]'s
// lanes), instead of one horizontal sum per score. The weighted values are summed for up to
// kValueQueries query heads at a time, so each value vector loaded serves all of them.

// Lane c = the sum of the 8 lanes of acc[c].
JISU_AI __m256 transpose_sum(const __m256* acc) {
  const __m256 h01 = _mm256_hadd_ps(acc[0], acc[1]), h23 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 h45 = _mm256_hadd_ps(acc[4], acc[5]), h67 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 q0123 = _mm256_hadd_ps(h01, h23), q4567 = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(q0123, q4567, 0x20), _mm256_permute2f128_ps(q0123, q4567, 0x31));
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
// Lane c = the sum of the 16 lanes of acc[c].
JISU_AI __m512 transpose_sum(const __m512* acc) {
  __m512 pairs[8];  // per 128-bit lane: [acc[2i] 0+2, acc[2i+1] 0+2, acc[2i] 1+3, acc[2i+1] 1+3]
  for (int i = 0; i < 8; ++i)
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(acc[2 * i], acc[2 * i + 1]), _mm512_unpackhi_ps(acc[2 * i], acc[2 * i + 1]));
  __m512 quads[4];  // per 128-bit lane: the lane's sums of acc[4j], acc[4j+1], acc[4j+2], acc[4j+3]
  for (int j = 0; j < 4; ++j) {
    const __m512d a = _mm512_castps_pd(pairs[2 * j]), b = _mm512_castps_pd(pairs[2 * j + 1]);
    quads[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  // Sum the four 128-bit lanes of each quad, quads[j]'s total landing in 128-bit lane j.
  const __m512 half01 = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88), _mm512_shuffle_f32x4(quads[0], quads[1], 0xDD));
  const __m512 half23 = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88), _mm512_shuffle_f32x4(quads[2], quads[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(half01, half23, 0x88), _mm512_shuffle_f32x4(half01, half23, 0xDD));
}
#endif

// scores[c] = scale * (query . keys[c]) for the chunk's 16 rows (rows past the chunk's count
// hold zeros; their lanes are masked by the softmax).
JISU_AI void chunk_scores(const float* query, const float (*keys)[kAttentionMaxHeadDim], size_t dim, float scale, float* scores) {
  constexpr int kKeysPerSum = static_cast<int>(kLanes);
  for (int c0 = 0; c0 < kAttentionChunk; c0 += kKeysPerSum) {
    F acc[kKeysPerSum];
    for (F& a : acc) a = V::zero();
    for (size_t d = 0; d < dim; d += kLanes) {
      const F q = V::load(query + d);
      for (int c = 0; c < kKeysPerSum; ++c) acc[c] = V::fmadd(q, V::load(keys[c0 + c] + d), acc[c]);
    }
    V::store(scores + c0, V::mul(transpose_sum(acc), V::set1(scale)));
  }
}

constexpr int kValueQueries = 4;
constexpr int kValueVectors = 4;

// out[g][vectors from dv0] = out * correction[g] + sum_c weights[g][c] * values[c], for kQueries
// query heads and kVectors vectors of the head.
template <int kQueries, int kVectors>
JISU_AI void weighted_values(float* out, size_t dim, const float (*weights)[kAttentionChunk], const float* correction,
                             const float (*values)[kAttentionMaxHeadDim], int32_t count, size_t dv0) {
  F acc[kQueries][kVectors];
  for (int g = 0; g < kQueries; ++g) {
    const F c = V::set1(correction[g]);
    for (int v = 0; v < kVectors; ++v) acc[g][v] = V::mul(V::load(out + size_t(g) * dim + dv0 + size_t(v) * kLanes), c);
  }
  for (int32_t c = 0; c < count; ++c) {
    F value[kVectors];
    for (int v = 0; v < kVectors; ++v) value[v] = V::load(values[c] + dv0 + size_t(v) * kLanes);
    for (int g = 0; g < kQueries; ++g) {
      const F w = V::set1(weights[g][c]);
      for (int v = 0; v < kVectors; ++v) acc[g][v] = V::fmadd(w, value[v], acc[g][v]);
    }
  }
  for (int g = 0; g < kQueries; ++g)
    for (int v = 0; v < kVectors; ++v) V::store(out + size_t(g) * dim + dv0 + size_t(v) * kLanes, acc[g][v]);
}

template <int kQueries>
JISU_AI void weighted_values_all(float* out, size_t dim, const float (*weights)[kAttentionChunk], const float* correction,
                                 const float (*values)[kAttentionMaxHeadDim], int32_t count) {
  const size_t vectors = dim / kLanes;
  size_t v = 0;
  for (; v + kValueVectors <= vectors; v += kValueVectors)
    weighted_values<kQueries, kValueVectors>(out, dim, weights, correction, values, count, v * kLanes);
  for (; v < vectors; ++v) weighted_values<kQueries, 1>(out, dim, weights, correction, values, count, v * kLanes);
}

}  // namespace

void attention_group_rows_part(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                               int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                               const AttentionPart& part) {
  static_assert(kAttentionChunk == 16, "two 8-lane score vectors per chunk");
  const size_t dim = static_cast<size_t>(head_dim);
  const bool whole_vectors = dim % kLanes == 0;
  const size_t key_row = row_bytes(kv.key_type, static_cast<size_t>(kv.kv_dim));
  const size_t value_row = row_bytes(kv.value_type, static_cast<size_t>(kv.kv_dim));
  const size_t key_head_bytes = row_bytes(kv.key_type, dim), value_head_bytes = row_bytes(kv.value_type, dim);
  const size_t key_head = key_head_bytes * static_cast<size_t>(kv_head);
  const size_t value_head = value_head_bytes * static_cast<size_t>(kv_head);
  alignas(64) float keys[kAttentionChunk][kAttentionMaxHeadDim];
  alignas(64) float values[kAttentionChunk][kAttentionMaxHeadDim];
  alignas(64) float weights[kValueQueries][kAttentionChunk];
  float corrections[kValueQueries];
  float* running_max = part.running_max;
  float* running_sum = part.running_sum;
  float* out = part.out;
  std::fill(out, out + static_cast<size_t>(group) * dim, 0.0f);
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + group, 0.0f);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto cache_row = [&](int32_t position) {
    return static_cast<size_t>(kv.block_table[position / kv.block_size]) * static_cast<size_t>(kv.block_size) +
           static_cast<size_t>(position % kv.block_size);
  };
  for (int32_t first = first_position; first < end_position; first += kAttentionChunk) {
    const int32_t count = std::min(kAttentionChunk, end_position - first);
    // The next chunk's head rows, requested now: a head row is a short piece of each cache row
    // (128 bytes of f16 in 512 with 4 kv heads), which the hardware prefetchers follow poorly,
    // and decode at a long context waits on these reads more than on anything it computes.
    const int32_t next_end = std::min(end_position, first + 2 * kAttentionChunk);
    for (int32_t position = first + kAttentionChunk; position < next_end; ++position) {
      const size_t row = cache_row(position);
      const uint8_t* key = kv.keys + row * key_row + key_head;
      const uint8_t* value = kv.values + row * value_row + value_head;
      prefetch_lines(key, key_head_bytes);
      prefetch_lines(value, value_head_bytes);
    }
    for (int32_t c = 0; c < count; ++c) {
      const size_t row = cache_row(first + c);
      decode_head_row(kv.key_type, kv.keys + row * key_row + key_head, keys[c], dim);
      decode_head_row(kv.value_type, kv.values + row * value_row + value_head, values[c], dim);
    }
    // A short last chunk: its missing key rows are zeros, so that the 16 dot products read no
    // stale or unset floats (their scores are masked all the same).
    for (int32_t c = count; c < kAttentionChunk; ++c) std::fill(keys[c], keys[c] + dim, 0.0f);
    const __m256 valid_low = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane));
    const __m256 valid_high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8), lane));
    for (int32_t g0 = 0; g0 < group; g0 += kValueQueries) {
      const int32_t block = std::min<int32_t>(kValueQueries, group - g0);
      for (int32_t i = 0; i < block; ++i) {
        const int32_t g = g0 + i;
        const float* query = queries + static_cast<size_t>(g) * dim;
        alignas(64) float scores[kAttentionChunk];
        if (whole_vectors) {
          chunk_scores(query, keys, dim, scale, scores);
        } else {
          for (int32_t c = 0; c < kAttentionChunk; ++c) scores[c] = c < count ? dot(query, keys[c], dim) * scale : 0.0f;
        }
        corrections[i] = online_softmax_chunk(_mm256_load_ps(scores), _mm256_load_ps(scores + 8), valid_low, valid_high,
                                              running_max[g], running_sum[g], weights[i]);
      }
      float* o = out + static_cast<size_t>(g0) * dim;
      if (whole_vectors) {
        switch (block) {
          case 1: weighted_values_all<1>(o, dim, weights, corrections, values, count); break;
          case 2: weighted_values_all<2>(o, dim, weights, corrections, values, count); break;
          case 3: weighted_values_all<3>(o, dim, weights, corrections, values, count); break;
          default: weighted_values_all<4>(o, dim, weights, corrections, values, count); break;
        }
        continue;
      }
      for (int32_t i = 0; i < block; ++i, o += dim) {
        for (size_t d = 0; d < dim; ++d) {
          float acc = o[d] * corrections[i];
          for (int32_t c = 0; c < count; ++c) acc += weights[i][c] * values[c][d];
          o[d] = acc;
        }
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
