// Sharding plans of the process grid (src/parallel/shard_plan.h, models/tensor_shards.h): which
// rows, columns and layers a rank holds, and the one-line refusals of impossible splits. The
// numerics of a grid are checked end to end against the fixtures' exact logits
// (tests/e2e/grid_parallel.py).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "models/pipeline_stages.h"
#include "models/tensor_shards.h"
#include "parallel/shard_plan.h"

namespace jisu {
namespace {

TEST(GridShards, EqualPartsSplitEvenly) {
  EXPECT_EQ(equal_part(512, 1, 2).first, 256);
  EXPECT_EQ(equal_part(512, 1, 2).count, 256);
}

std::vector<std::pair<int64_t, int64_t>> as_pairs(const std::vector<ShardRange>& ranges) {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (const ShardRange& range : ranges) pairs.emplace_back(range.first, range.count);
  return pairs;
}
using Split = std::vector<std::pair<int64_t, int64_t>>;  // (first layer, layers) per stage

TEST(GridShards, BalancedLayersWithoutAHeadAreTheEqualSplit) {
  // Equal costs, no head: contiguous ranges covering every layer, 5 / size layers each and the
  // first 5 % size stages one more.
  const std::vector<uint64_t> equal(5, 7);
  for (int size = 1; size <= 5; ++size) {
    const std::vector<ShardRange> ranges = balanced_layer_ranges(equal, 0, size);
    ASSERT_EQ(ranges.size(), static_cast<size_t>(size));
    int64_t next = 0;
    for (int rank = 0; rank < size; ++rank) {
      const ShardRange& range = ranges[static_cast<size_t>(rank)];
      EXPECT_EQ(range.first, next) << size << " " << rank;
      EXPECT_EQ(range.count, 5 / size + (rank < 5 % size ? 1 : 0)) << size << " " << rank;
      next = range.end();
    }
    EXPECT_EQ(next, 5);
  }
}

TEST(GridShards, BalancedLayersGiveTheLastStageFewerForTheOutputLayer) {
  // TinyLlama in millions of weights: 22 layers of 44 (q, o 4.2; k, v 0.5; gate, up, down 11.5
  // each), output 65.5 (32000 x 2048). 11 + 11 layers: max(484, 484 + 65.5) = 549.5; 12 + 10:
  // max(528, 440 + 65.5) = 528; 13 + 9: 572. So 12 + 10.
  const std::vector<uint64_t> tinyllama(22, 440);
  EXPECT_EQ(as_pairs(balanced_layer_ranges(tinyllama, 655, 2)), (Split{{0, 12}, {12, 10}}));
  // 4 stages: 6 layers = 264, and 5 + head = 285.5 > 264, 4 + head = 241.5; the first three
  // stages then take 18 layers within the bound 6 x 44: 6, 6, 6 and 4 + head.
  EXPECT_EQ(as_pairs(balanced_layer_ranges(tinyllama, 655, 4)), (Split{{0, 6}, {6, 6}, {12, 6}, {18, 4}}));
}

TEST(GridShards, BalancedLayersKeepOneLayerPerStageAndHandleUnequalLayers) {
  // A head dearer than every layer together: still one layer on the last stage.
  const std::vector<uint64_t> three(3, 1);
  EXPECT_EQ(as_pairs(balanced_layer_ranges(three, 100, 2)), (Split{{0, 2}, {2, 1}}));
  EXPECT_EQ(as_pairs(balanced_layer_ranges(three, 100, 3)), (Split{{0, 1}, {1, 1}, {2, 1}}));
  // Costs 5 1 1 1 5 1, head 2, 3 stages. A bound of 6 is impossible (the last stage can hold
  // only layer 5 (1 + 2); then 5 1 1 1 5 in two stages of <= 6 cannot be). A bound of 7: the
  // first stage takes the most it can, 5 1 1 (7), leaving 1 5 | 1 + 2; then 1 5 (6) | 1 + 2 (3).
  const std::vector<uint64_t> uneven = {5, 1, 1, 1, 5, 1};
  EXPECT_EQ(as_pairs(balanced_layer_ranges(uneven, 2, 3)), (Split{{0, 3}, {3, 2}, {5, 1}}));
  EXPECT_EQ(as_pairs(balanced_layer_ranges(uneven, 2, 1)), (Split{{0, 6}}));
  EXPECT_EQ(as_pairs(balanced_layer_ranges(uneven, 2, 6)), (Split{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}}));
}

WeightMatrix fake_matrix(const char* name, int64_t rows, int64_t cols, DType type) {
  static const uint8_t bytes[1] = {};
  WeightMatrix matrix;
  matrix.name = name;
  matrix.type = type;
  matrix.data = bytes;  // only its presence and size are read
  matrix.rows = rows;
  matrix.cols = cols;
  matrix.row_bytes = row_bytes(type, static_cast<size_t>(cols));
  return matrix;
}

TEST(GridShards, PipelineStagesWeighLayersAndTheOutputLayerByTheirBytes) {
  // 4 layers of a 64-wide Q8_0 model (34 bytes per 32 values): q, k, v, o 64 x 64 and gate, up,
  // down 64 x 128 make 4 * 64 * 68 + 3 * 128 * 68 = 43520 bytes a layer; the F32 output layer
  // of a vocabulary of 400 is 400 * 256 = 102400 bytes (2.35 layers). Two stages: 3 | 1 + head
  // (130560 vs 145920) beats 2 | 2 + head (87040 vs 189440).
  ModelConfig config;
  config.n_embd = 64;
  config.n_ff = 128;
  config.n_vocab = 400;
  config.n_layer = 4;
  ModelWeights weights;
  weights.layers.resize(4);
  for (LayerWeights& layer : weights.layers) {
    for (WeightMatrix* square : {&layer.wq, &layer.wk, &layer.wv, &layer.wo}) *square = fake_matrix("a", 64, 64, DType::Q8_0);
    layer.ffn_gate = fake_matrix("g", 128, 64, DType::Q8_0);
    layer.ffn_up = fake_matrix("u", 128, 64, DType::Q8_0);
    layer.ffn_down = fake_matrix("d", 64, 128, DType::Q8_0);
  }
  weights.output = fake_matrix("output", 400, 64, DType::F32);
  EXPECT_EQ(layer_weight_costs(config, weights), std::vector<uint64_t>(4, 43520));
  EXPECT_EQ(pipeline_stage_layers(config, weights, 1, 0, 2).count, 3);
  EXPECT_EQ(pipeline_stage_layers(config, weights, 1, 1, 2).first, 3);
  EXPECT_EQ(pipeline_stage_layers(config, weights, 1, 1, 2).count, 1);
  // --tp 3 does not divide the vocabulary: every rank of the last stage multiplies by the whole
  // output layer, so it weighs 3 times its bytes against the layers' (each rank holds a third of
  // a layer): the last stage keeps its one layer.
  EXPECT_EQ(pipeline_stage_layers(config, weights, 3, 1, 2).count, 1);
  // A small output layer (100 rows, 25600 bytes): 2 | 2 + head has max(87040, 112640) = 112640,
  // below 3 | 1 + head's max(130560, 69120), so the equal split.
  weights.output = fake_matrix("token_embd", 100, 64, DType::F32);
  EXPECT_EQ(pipeline_stage_layers(config, weights, 1, 0, 2).count, 2);
  // Mixture of experts: a token uses n_expert_used of n_expert experts' bytes.
  ModelConfig moe = config;
  moe.n_expert = 4;
  moe.n_expert_used = 2;
  ModelWeights sparse = weights;
  for (LayerWeights& layer : sparse.layers) {
    layer.ffn_gate = layer.ffn_up = layer.ffn_down = WeightMatrix{};
    layer.ffn_router = fake_matrix("r", 4, 64, DType::F32);                 // 1024 bytes
    layer.experts_gate = fake_matrix("eg", 4 * 128, 64, DType::Q8_0);       // 34816
    layer.experts_up = fake_matrix("eu", 4 * 128, 64, DType::Q8_0);         // 34816
    layer.experts_down = fake_matrix("ed", 4 * 64, 128, DType::Q8_0);       // 34816
  }
  EXPECT_EQ(layer_weight_costs(moe, sparse), std::vector<uint64_t>(4, 4 * 64 * 68 + 1024 + 3 * 34816 / 2));
}

TEST(GridShards, GatherRowsIsAViewForOneRangeAndACopyInOrderForSeveral) {
  std::vector<float> values(6 * 4);
  std::iota(values.begin(), values.end(), 0.0f);
  WeightMatrix matrix;
  matrix.type = DType::F32;
  matrix.data = values.data();
  matrix.rows = 6;
  matrix.cols = 4;
  matrix.row_bytes = 4 * sizeof(float);
  ShardStore store;
  const ShardRange one[] = {{2, 2}};
  const WeightMatrix view = gather_rows(matrix, one, store);
  EXPECT_EQ(view.data, values.data() + 8);
  EXPECT_TRUE(store.empty());
  // [q; k; v] rows of one rank: rows 1, 3 and 5.
  const ShardRange fused[] = {{1, 1}, {3, 1}, {5, 1}};
  const WeightMatrix copy = gather_rows(matrix, fused, store);
  ASSERT_EQ(copy.rows, 3);
  ASSERT_EQ(store.size(), 1u);
  const auto* rows = static_cast<const float*>(copy.data);
  EXPECT_EQ(rows[0], 4.0f);
  EXPECT_EQ(rows[4], 12.0f);
  EXPECT_EQ(rows[8], 20.0f);
}

TEST(GridShards, ColumnShardKeepsTheStoredRows) {
  WeightMatrix matrix;
  matrix.type = DType::Q8_0;
  matrix.rows = 8;
  matrix.cols = 256;
  matrix.row_bytes = row_bytes(DType::Q8_0, 256);
  const WeightMatrix shard = column_shard(matrix, {128, 128});
  EXPECT_TRUE(shard.is_column_shard());
  EXPECT_EQ(shard.cols, 128);
  EXPECT_EQ(shard.stored_cols, 256);
  EXPECT_EQ(shard.column_first, 128);
  EXPECT_EQ(shard.row_bytes, matrix.row_bytes);
}

ModelConfig shape(int32_t heads, int32_t kv_heads, int32_t ff) {
  ModelConfig config;
  config.n_embd = 64;
  config.n_head = heads;
  config.n_head_kv = kv_heads;
  config.head_dim = 16;
  config.n_ff = ff;
  config.n_layer = 2;
  return config;
}

std::string refusal(const ModelConfig& config, int size) {
  try {
    check_tensor_split(config, size);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(GridShards, ImpossibleTensorSplitsNameTheDimension) {
  EXPECT_EQ(refusal(shape(4, 2, 128), 2), "");
  EXPECT_NE(refusal(shape(4, 2, 128), 3).find("query heads (4)"), std::string::npos);
  EXPECT_NE(refusal(shape(4, 2, 128), 4).find("KV heads (2)"), std::string::npos);
  EXPECT_NE(refusal(shape(4, 4, 126), 4).find("FFN width (126)"), std::string::npos);
  ModelConfig moe = shape(4, 2, 128);
  moe.n_expert = 4;
  moe.n_expert_used = 2;
  EXPECT_NE(refusal(moe, 2).find("mixture-of-experts"), std::string::npos);
}

}  // namespace
}  // namespace jisu
