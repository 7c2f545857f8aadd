// attention_tile_rows per vector width (attention.h; attention_tile_rows_scalar is the
// reference: attention_group_rows_scalar for each token). Flash-attention on a CPU: the tile's
// R = n_tokens * group query rows are held transposed (Qt[d][row], prescaled by `scale`), so
// that for each key tile of kAttentionKeyTile positions
//   scores   S[c][row] = sum_d K[c][d] * Qt[d][row]      (a register block of 4 keys x 4 row vectors)
//   softmax  per row, vectorised across rows: running max m, sum l, correction exp(m_old - m)
//   values   O[row][:] = O[row][:] * correction + sum_c P[c][row] * V[c][:]
// with K and V of the key tile decoded once (kv_head_rows_isa.h) for all R rows. Masked
// scores (position >= the row's visible end, padding rows) become weight 0 by a select, never by
// exp of -inf, so exp_clamped's floor (1e-38) cannot leak into a sum.
#include "backends/cpu/vector_isa.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/attention.h"
#include "backends/cpu/kv_head_rows_isa.h"

namespace jisu::cpu::JISU_KERNEL_ISA {

namespace {

using V = FloatVec;
using F = V::F;
constexpr size_t kLanes = V::kLanes;
constexpr size_t kRowPadding = 64;  // rows of a tile padded to whole score blocks of both widths
constexpr size_t kDimPadding = 16;
constexpr int kScoreKeys = 4;                       // keys per score register block
constexpr int kScoreRowVectors = kLanes == 16 ? 4 : 2;  // row vectors per score block (16 / 8 accumulators)
constexpr int kValueRows = 4;                        // rows per weighted-value register block
constexpr int kValueDimVectors = kLanes == 16 ? 4 : 2;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// S[c][row] for keys c of [c0, c0 + kKeys) and rows of kRowVectors vectors from rv0. Each
// score is one FMA chain over d in order, whatever the block shape, so a row's scores do not
// depend on the tile it is computed in (a decode token and the same token in a prompt tile
// get the same bits).
template <int kKeys, int kRowVectors>
JISU_AI void score_block(const float* qt, size_t row_stride, const float* keys, size_t key_stride, size_t head_dim,
                         size_t rv0, float* scores) {
  F acc[kKeys][kRowVectors];
  for (auto& row : acc)
    for (F& a : row) a = V::zero();
  for (size_t d = 0; d < head_dim; ++d) {
    F q[kRowVectors];
    for (int j = 0; j < kRowVectors; ++j) q[j] = V::load(qt + d * row_stride + (rv0 + size_t(j)) * kLanes);
    for (int i = 0; i < kKeys; ++i) {
      const F k = V::set1(keys[size_t(i) * key_stride + d]);
      for (int j = 0; j < kRowVectors; ++j) acc[i][j] = V::fmadd(k, q[j], acc[i][j]);
    }
  }
  for (int i = 0; i < kKeys; ++i)
    for (int j = 0; j < kRowVectors; ++j) V::store(scores + size_t(i) * row_stride + (rv0 + size_t(j)) * kLanes, acc[i][j]);
}

// O[r0 + i][dv0 * kLanes ...] (kVectors vectors) = O * correction + sum_c P[c][r0 + i] * V[c][...].
template <int kVectors>
JISU_AI void value_block(float* o, size_t dim_stride, const float* weights, size_t row_stride, const float* values,
                         const float* correction, size_t count, size_t r0, size_t dv0) {
  F acc[kValueRows][kVectors];
  for (int i = 0; i < kValueRows; ++i) {
    const F scale = V::set1(correction[r0 + size_t(i)]);
    for (int j = 0; j < kVectors; ++j) acc[i][j] = V::mul(V::load(o + (r0 + size_t(i)) * dim_stride + (dv0 + size_t(j)) * kLanes), scale);
  }
  for (size_t c = 0; c < count; ++c) {
    F v[kVectors];
    for (int j = 0; j < kVectors; ++j) v[j] = V::load(values + c * dim_stride + (dv0 + size_t(j)) * kLanes);
    for (int i = 0; i < kValueRows; ++i) {
      const F p = V::set1(weights[c * row_stride + r0 + size_t(i)]);
      for (int j = 0; j < kVectors; ++j) acc[i][j] = V::fmadd(p, v[j], acc[i][j]);
    }
  }
  for (int i = 0; i < kValueRows; ++i)
    for (int j = 0; j < kVectors; ++j) V::store(o + (r0 + size_t(i)) * dim_stride + (dv0 + size_t(j)) * kLanes, acc[i][j]);
}

}  // namespace

void attention_tile_rows(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                         int32_t head_dim, float scale, float* scratch) {
  const size_t dim = static_cast<size_t>(head_dim);
  const size_t n_group = static_cast<size_t>(group);
  const size_t rows = static_cast<size_t>(tile.n_tokens) * n_group;
  const size_t row_stride = round_up(static_cast<size_t>(attention_tile_tokens(group)) * n_group, kRowPadding);
  const size_t dim_stride = round_up(dim, kDimPadding);
  const size_t key_tile = static_cast<size_t>(kAttentionKeyTile);
  // The layout attention_tile_scratch_floats counts.
  float* qt = scratch;                               // [dim_stride][row_stride]
  float* o = qt + dim_stride * row_stride;           // [row_stride][dim_stride]
  float* running_max = o + row_stride * dim_stride;  // [row_stride]
  float* running_sum = running_max + row_stride;
  float* correction = running_sum + row_stride;
  float* row_end = correction + row_stride;          // visible end of each row, as a float
  float* scores = row_end + row_stride;              // [key_tile][row_stride]: scores, then weights
  float* keys = scores + key_tile * row_stride;      // [key_tile][dim_stride]
  float* values = keys + key_tile * dim_stride;      // [key_tile][dim_stride]

  int32_t max_end = 0;
  for (size_t r = 0; r < row_stride; ++r) {
    const int32_t end = r < rows ? tile.visible_end[r / n_group] : 0;
    row_end[r] = static_cast<float>(end);  // exact: positions stay far below 2^24
    max_end = std::max(max_end, end);
  }
  // Only the row vectors holding real rows are computed (a decode token: one vector).
  const size_t row_vectors = (rows + kLanes - 1) / kLanes;
  const size_t active_rows = row_vectors * kLanes;
  for (size_t d = 0; d < dim; ++d)
    for (size_t r = 0; r < active_rows; ++r)
      qt[d * row_stride + r] =
          r < rows ? tile.queries[(r / n_group) * tile.query_stride + (r % n_group) * dim + d] * scale : 0.0f;
  const size_t value_rows = round_up(rows, kValueRows);
  std::fill(o, o + value_rows * dim_stride, 0.0f);
  std::fill(running_max, running_max + active_rows, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + active_rows, 0.0f);
  if (dim_stride != dim) std::fill(values, values + key_tile * dim_stride, 0.0f);  // padding columns stay 0

  const size_t key_row = row_bytes(kv.key_type, static_cast<size_t>(kv.kv_dim));
  const size_t value_row = row_bytes(kv.value_type, static_cast<size_t>(kv.kv_dim));
  const size_t key_head = row_bytes(kv.key_type, dim) * static_cast<size_t>(kv_head);
  const size_t value_head = row_bytes(kv.value_type, dim) * static_cast<size_t>(kv_head);
  const F minus_infinity = V::set1(-std::numeric_limits<float>::infinity());

  for (int32_t begin = 0; begin < max_end; begin += kAttentionKeyTile) {
    const size_t count = static_cast<size_t>(std::min(kAttentionKeyTile, max_end - begin));
    for (size_t c = 0; c < count; ++c) {
      const int32_t position = begin + static_cast<int32_t>(c);
      const size_t row = static_cast<size_t>(kv.block_table[position / kv.block_size]) * static_cast<size_t>(kv.block_size) +
                         static_cast<size_t>(position % kv.block_size);
      kv_head_rows::decode_head_row(kv.key_type, kv.keys + row * key_row + key_head, keys + c * dim_stride, dim);
      kv_head_rows::decode_head_row(kv.value_type, kv.values + row * value_row + value_head, values + c * dim_stride, dim);
    }
    // Keys past count of a short last tile: zero rows (their scores are masked below).
    const size_t score_keys = round_up(count, 8);
    std::fill(keys + count * dim_stride, keys + score_keys * dim_stride, 0.0f);
    size_t rv0 = 0;
    for (; rv0 + kScoreRowVectors <= row_vectors; rv0 += kScoreRowVectors)
      for (size_t c0 = 0; c0 < score_keys; c0 += kScoreKeys)
        score_block<kScoreKeys, kScoreRowVectors>(qt, row_stride, keys + c0 * dim_stride, dim_stride, dim, rv0,
                                                  scores + c0 * row_stride);
    for (; rv0 < row_vectors; ++rv0)  // 8 keys at a time: 8 independent FMA chains
      for (size_t c0 = 0; c0 < score_keys; c0 += 8)
        score_block<8, 1>(qt, row_stride, keys + c0 * dim_stride, dim_stride, dim, rv0, scores + c0 * row_stride);

    // Online softmax, vectorised across rows.
    for (size_t r = 0; r < active_rows; r += kLanes) {
      const F end = V::load(row_end + r);
      const F old_max = V::load(running_max + r);
      F new_max = old_max;
      for (size_t c = 0; c < count; ++c) {
        const F position = V::set1(static_cast<float>(begin + static_cast<int32_t>(c)));
        const F s = V::where_less(position, end, V::load(scores + c * row_stride + r), minus_infinity);
        new_max = V::max(new_max, s);
      }
      F sum = V::mul(V::load(running_sum + r), V::exp_clamped(V::sub(old_max, new_max)));
      for (size_t c = 0; c < count; ++c) {
        const F position = V::set1(static_cast<float>(begin + static_cast<int32_t>(c)));
        float* s = scores + c * row_stride + r;
        const F weight = V::where_less(position, end, V::exp_clamped(V::sub(V::load(s), new_max)), V::zero());
        V::store(s, weight);
        sum = V::add(sum, weight);
      }
      V::store(correction + r, V::exp_clamped(V::sub(old_max, new_max)));
      V::store(running_sum + r, sum);
      V::store(running_max + r, new_max);
    }

    const size_t dim_vectors = dim_stride / kLanes;
    for (size_t r0 = 0; r0 < value_rows; r0 += kValueRows) {
      size_t dv0 = 0;
      for (; dv0 + kValueDimVectors <= dim_vectors; dv0 += kValueDimVectors)
        value_block<kValueDimVectors>(o, dim_stride, scores, row_stride, values, correction, count, r0, dv0);
      for (; dv0 < dim_vectors; ++dv0) value_block<1>(o, dim_stride, scores, row_stride, values, correction, count, r0, dv0);
    }
  }

  for (size_t r = 0; r < rows; ++r) {
    const float inverse = running_sum[r] > 0 ? 1.0f / running_sum[r] : 0.0f;
    float* destination = tile.out + (r / n_group) * tile.out_stride + (r % n_group) * dim;
    const float* source = o + r * dim_stride;
    for (size_t d = 0; d < dim; ++d) destination[d] = source[d] * inverse;
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
