#pragma once
// Sharding plans: which part of a dimension, a layer list or a weight matrix one rank of the
// grid holds. Megatron's split: Q/K/V and gate/up by output rows (heads, neurons), attention
// output and down by input columns; pipeline stages take contiguous layer ranges.
#include <cstdint>
#include <span>
#include <vector>

#include "format/weight_matrix.h"

namespace jisu {

struct ShardRange {
  int64_t first = 0;
  int64_t count = 0;
  int64_t end() const { return first + count; }
};

// Rank `rank` of `size`'s equal part of `total` (the caller checked total % size == 0).
ShardRange equal_part(int64_t total, int rank, int size);
// Contiguous layer ranges of `size` pipeline stages that make the slowest stage as fast as
// possible: layer i costs layer_cost[i] and the last stage also pays `head_cost` (the output
// layer). Every stage gets at least one layer (the caller checked 1 <= size <= layers). Among
// the splits with the least maximum cost, each stage in turn takes as many layers as it can,
// so equal costs and no head give n / size layers each, the first n % size stages one more.
std::vector<ShardRange> balanced_layer_ranges(std::span<const uint64_t> layer_cost, uint64_t head_cost, int size);

// Owned copies of weight rows that no single view of the file can express.
using ShardStore = std::vector<std::vector<uint8_t>>;

// The rows of `ranges`, in order, as one matrix: a view into the file for one range (nothing
// copied or touched), else a copy of those rows in `store` (fused [q; k; v] or [gate; up]),
// after which the file pages of the matrix are released.
WeightMatrix gather_rows(const WeightMatrix& matrix, std::span<const ShardRange> ranges, ShardStore& store);
// Columns `columns` of every row, as a column shard (format/weight_matrix.h) that the backend
// copies at load.
WeightMatrix column_shard(const WeightMatrix& matrix, ShardRange columns);
// values[range] (empty stays empty).
std::vector<float> slice_values(const std::vector<float>& values, ShardRange range);

}  // namespace jisu
