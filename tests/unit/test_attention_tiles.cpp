// Prompt attention in tiles (attention_tile_rows) and decode attention split over positions
// (attention_group_rows_part + combine_attention_parts), on every ISA and every KV cache type,
// against the per-token scalar reference (attention_group_rows_scalar) and a float64 two-pass
// softmax over the same decoded rows.
//
// Tolerance 2e-5 absolute (outputs are softmax averages of unit-variance values, so |out| < ~3):
// the paths compute the same float32 sums in another order (scores over head_dim <= 128 terms,
// weights over key tiles of 64 instead of chunks of 16, a rescale per tile) with the same
// exp polynomial; the float32 error of a sum of n terms is bounded by n * 2^-24 of its terms'
// magnitudes, about 1e-5 for the 200-position softmax normaliser here, and the reference
// comparisons in test_kv_cache_types.cpp already hold the per-token kernels to 2e-5.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "attention_reference.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/kernel_table.h"
#include "core/cpu_features.h"
#include "stored_kv_layer.h"

namespace jisu::cpu {
namespace {

constexpr double kTolerance = 2e-5;

struct TypePair {
  DType key, value;
};
constexpr TypePair kTypePairs[] = {{DType::F32, DType::F32},
                                   {DType::F16, DType::F16},
                                   {DType::Q8_0, DType::Q8_0},
                                   {DType::Q4_0, DType::Q4_0},
                                   {DType::Q8_0, DType::F16}};

std::string describe(Isa isa, TypePair types, int32_t head_dim, int32_t group, int32_t n_tokens, int32_t first_end) {
  return std::string(isa_name(isa)) + " " + std::string(dtype_name(types.key)) + "/" + std::string(dtype_name(types.value)) + " head_dim " +
         std::to_string(head_dim) + " group " + std::to_string(group) + " tokens " + std::to_string(n_tokens) +
         " first end " + std::to_string(first_end);
}

// Queries of n_tokens tokens in rows of `stride` floats (wider than the tile's heads, as in
// the forward pass's qkv rows), out the same.
struct TileCase {
  std::vector<float> queries, out, expected;
  std::vector<int32_t> visible_end;
  size_t stride;
  AttentionTile tile(std::vector<float>& destination) {
    return {queries.data(), stride, destination.data(), stride, visible_end.data(), static_cast<int32_t>(visible_end.size())};
  }
};

TileCase make_tile_case(int32_t group, int32_t head_dim, int32_t n_tokens, int32_t first_end, bool causal,
                        std::mt19937& rng) {
  TileCase c;
  c.stride = size_t(group * head_dim) + 24;
  c.queries = normal_values(size_t(n_tokens) * c.stride, rng, 1.5f);
  c.out.assign(c.queries.size(), -7.0f);
  c.expected = c.out;
  for (int32_t i = 0; i < n_tokens; ++i) c.visible_end.push_back(causal ? first_end + i : first_end);
  return c;
}

// Tiles of odd and full lengths, causal ends that cross key tiles (64) and block edges, an
// encoder's shared end, GQA groups 1, 3, 8: every ISA against the per-token reference, and the
// reference against float64.
TEST(AttentionTiles, EveryIsaMatchesThePerTokenReferenceForEveryCacheType) {
  std::mt19937 rng(21);
  for (TypePair types : kTypePairs) {
    for (int32_t head_dim : {64, 32, 128}) {
      const int32_t n_kv_heads = 2, block_size = 16;
      const StoredLayer layer(types.key, types.value, head_dim, n_kv_heads, block_size, rng);  // 256 positions
      const float scale = 1.0f / std::sqrt(float(head_dim));
      for (int32_t group : {1, 3, 8}) {
        const int32_t full = attention_tile_tokens(group);
        struct Shape {
          int32_t n_tokens, first_end;
          bool causal;
        };
        const Shape shapes[] = {{full, 1, true}, {5, 60, true}, {full, 129, true}, {2, 200, true}, {1, 64, true},
                                {7, 97, false}, {full, 256 - full + 1, true}};
        std::vector<float> scratch(attention_tile_scratch_floats(group, head_dim));
        for (const Shape& shape : shapes) {
          const int32_t kv_head = shape.first_end % n_kv_heads;
          TileCase c = make_tile_case(group, head_dim, shape.n_tokens, shape.first_end, shape.causal, rng);
          kernel_table(Isa::Scalar).attention_tile_rows(c.tile(c.expected), group, layer.rows, kv_head, head_dim, scale, nullptr);
          for (int32_t i = 0; i < shape.n_tokens; ++i)
            for (int32_t g = 0; g < group; ++g) {
              const size_t offset = size_t(i) * c.stride + size_t(g * head_dim);
              const std::vector<double> exact = reference_attention(c.queries.data() + offset, layer.decoded, kv_head,
                                                                    head_dim, c.visible_end[size_t(i)], scale);
              for (int32_t d = 0; d < head_dim; ++d)
                ASSERT_NEAR(c.expected[offset + size_t(d)], exact[size_t(d)], kTolerance)
                    << "reference " << describe(Isa::Scalar, types, head_dim, group, shape.n_tokens, shape.first_end);
            }
          for (Isa isa : supported_isas()) {
            std::fill(scratch.begin(), scratch.end(), std::nanf(""));  // no state may leak in from the scratch
            std::vector<float> out = c.out;
            kernel_table(isa).attention_tile_rows(c.tile(out), group, layer.rows, kv_head, head_dim, scale, scratch.data());
            for (size_t k = 0; k < out.size(); ++k)
              ASSERT_NEAR(out[k], c.expected[k], kTolerance)
                  << describe(isa, types, head_dim, group, shape.n_tokens, shape.first_end) << " element " << k;
          }
        }
      }
    }
  }
}

// Head sizes that are not a multiple of a vector (f32 and f16 caches allow any): the padded
// dimensions of the tile must not change the result.
TEST(AttentionTiles, HeadsThatAreNotWholeVectors) {
  std::mt19937 rng(5);
  for (int32_t head_dim : {12, 40, 8}) {
    const StoredLayer layer(DType::F16, DType::F32, head_dim, 1, 8, rng, 20);  // 160 positions
    const int32_t group = 4;
    std::vector<float> scratch(attention_tile_scratch_floats(group, head_dim));
    TileCase c = make_tile_case(group, head_dim, attention_tile_tokens(group), 131, true, rng);
    kernel_table(Isa::Scalar).attention_tile_rows(c.tile(c.expected), group, layer.rows, 0, head_dim, 0.3f, nullptr);
    for (Isa isa : supported_isas()) {
      std::vector<float> out = c.out;
      kernel_table(isa).attention_tile_rows(c.tile(out), group, layer.rows, 0, head_dim, 0.3f, scratch.data());
      for (size_t k = 0; k < out.size(); ++k) ASSERT_NEAR(out[k], c.expected[k], kTolerance) << isa_name(isa) << " head_dim " << head_dim;
    }
  }
}

// Decode attention split into parts at arbitrary positions (including parts shorter than a
// chunk and parts that start inside one) combines to the unsplit attention, on every ISA and
// cache type; the scalar parts combine to the float64 reference.
TEST(AttentionParts, SplitPositionsCombineToTheWholeOnEveryIsa) {
  std::mt19937 rng(8);
  for (TypePair types : kTypePairs) {
    const int32_t head_dim = 64, n_kv_heads = 2, group = 8, n_positions = 250;
    const StoredLayer layer(types.key, types.value, head_dim, n_kv_heads, 16, rng);
    const float scale = 0.125f;
    const std::vector<float> queries = normal_values(size_t(group * head_dim), rng, 2.0f);
    std::vector<std::vector<int32_t>> splits = {{0, 250}, {0, 125, 250}, {0, 3, 100, 101, 250}, {0, 17, 64, 190, 249, 250}};
    std::vector<Isa> isas = supported_isas();
    for (Isa isa : isas) {
      std::vector<float> whole(queries.size());
      kernel_table(isa).attention_group_rows(queries.data(), group, layer.rows, 1, head_dim, n_positions, scale, whole.data());
      for (const auto& edges : splits) {
        const size_t n_parts = edges.size() - 1;
        std::vector<float> outs(n_parts * queries.size()), maxes(n_parts * size_t(group)), sums(maxes.size());
        std::vector<AttentionPart> parts;
        for (size_t p = 0; p < n_parts; ++p) {
          parts.push_back({outs.data() + p * queries.size(), maxes.data() + p * size_t(group), sums.data() + p * size_t(group)});
          kernel_table(isa).attention_group_rows_part(queries.data(), group, layer.rows, 1, head_dim, edges[p], edges[p + 1],
                                                      scale, parts.back());
        }
        std::vector<float> combined(queries.size());
        combine_attention_parts(parts.data(), int32_t(n_parts), group, head_dim, combined.data());
        for (size_t k = 0; k < combined.size(); ++k)
          ASSERT_NEAR(combined[k], whole[k], kTolerance) << isa_name(isa) << " " << dtype_name(types.key) << " parts " << n_parts;
        if (isa != Isa::Scalar) continue;
        for (int32_t g = 0; g < group; ++g) {
          const std::vector<double> exact =
              reference_attention(queries.data() + g * head_dim, layer.decoded, 1, head_dim, n_positions, scale);
          for (int32_t d = 0; d < head_dim; ++d)
            ASSERT_NEAR(combined[size_t(g * head_dim + d)], exact[size_t(d)], kTolerance) << "scalar parts " << n_parts;
        }
      }
    }
  }
}

}  // namespace
}  // namespace jisu::cpu
