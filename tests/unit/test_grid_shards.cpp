// Sharding plans of the process grid (src/parallel/shard_plan.h, models/tensor_shards.h): which
// rows, columns and layers a rank holds, and the one-line refusals of impossible splits. The
// numerics of a grid are checked end to end against the fixtures' exact logits
// (tests/e2e/grid_parallel.py).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "models/tensor_shards.h"
#include "parallel/shard_plan.h"

namespace jisu {
namespace {

TEST(GridShards, LayerRangesAreContiguousAndCoverEveryLayer) {
  for (int size = 1; size <= 5; ++size) {
    int64_t next = 0;
    for (int rank = 0; rank < size; ++rank) {
      const ShardRange range = layer_range(5, rank, size);
      EXPECT_EQ(range.first, next);
      EXPECT_GE(range.count, 5 / size);
      EXPECT_LE(range.count, 5 / size + 1);
      next = range.end();
    }
    EXPECT_EQ(next, 5);
  }
  EXPECT_EQ(equal_part(512, 1, 2).first, 256);
  EXPECT_EQ(equal_part(512, 1, 2).count, 256);
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
