#include "parallel/shard_plan.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/mapped_file.h"

namespace jisu {
namespace {

size_t as_index(int64_t value) { return static_cast<size_t>(value); }

}  // namespace

ShardRange equal_part(int64_t total, int rank, int size) {
  JISU_ASSERT(size > 0 && total % size == 0);
  const int64_t part = total / size;
  return {part * rank, part};
}

std::vector<ShardRange> balanced_layer_ranges(std::span<const uint64_t> layer_cost, uint64_t head_cost, int size) {
  const auto n = static_cast<int64_t>(layer_cost.size());
  JISU_ASSERT(size > 0 && size <= n);
  std::vector<uint64_t> prefix(as_index(n) + 1, 0);  // prefix[i]: cost of layers [0, i)
  for (int64_t i = 0; i < n; ++i) prefix[as_index(i) + 1] = prefix[as_index(i)] + layer_cost[as_index(i)];
  const auto cost = [&](int64_t first, int64_t end, bool last) {
    return prefix[as_index(end)] - prefix[as_index(first)] + (last ? head_cost : 0);
  };
  // least[k][j]: the least maximum cost of layers [j, n) on the last k stages (head included),
  // each of them one layer or more; kNone where there are fewer than k layers.
  constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  std::vector<std::vector<uint64_t>> least(as_index(size) + 1, std::vector<uint64_t>(as_index(n) + 1, kNone));
  least[0][as_index(n)] = 0;
  for (int64_t k = 1; k <= size; ++k)
    for (int64_t j = n - k; j >= 0; --j)
      for (int64_t end = j + 1; end <= n - (k - 1); ++end) {
        const uint64_t rest = least[as_index(k - 1)][as_index(end)];
        if (rest == kNone) continue;
        least[as_index(k)][as_index(j)] =
            std::min(least[as_index(k)][as_index(j)], std::max(cost(j, end, k == 1), rest));
      }
  const uint64_t bound = least[as_index(size)][0];
  // The same bound, each stage taking the most layers that leave the rest within it.
  std::vector<ShardRange> ranges;
  int64_t first = 0;
  for (int64_t stage = 0; stage < size; ++stage) {
    const int64_t left = size - stage - 1;
    int64_t end = n - left;
    while (end > first + 1 && (cost(first, end, left == 0) > bound || least[as_index(left)][as_index(end)] > bound)) --end;
    ranges.push_back({first, end - first});
    first = end;
  }
  JISU_ASSERT(first == n);
  return ranges;
}

WeightMatrix gather_rows(const WeightMatrix& matrix, std::span<const ShardRange> ranges, ShardStore& store) {
  int64_t rows = 0;
  for (const ShardRange& range : ranges) {
    JISU_ASSERT(range.first >= 0 && range.end() <= matrix.rows);
    rows += range.count;
  }
  if (ranges.size() == 1) return matrix.slice_rows(ranges[0].first, ranges[0].count);
  std::vector<uint8_t>& copy = store.emplace_back(static_cast<size_t>(rows) * matrix.row_bytes);
  size_t at = 0;
  for (const ShardRange& range : ranges) {
    const size_t bytes = static_cast<size_t>(range.count) * matrix.row_bytes;
    std::memcpy(copy.data() + at, matrix.row(range.first), bytes);
    at += bytes;
  }
  // Only the copy is read from now on; the file's pages would otherwise stay resident.
  if (matrix.in_file_mapping) release_mapped_pages(matrix.data, matrix.bytes());
  WeightMatrix gathered = matrix;
  gathered.data = copy.data();
  gathered.in_file_mapping = false;
  gathered.rows = rows;
  return gathered;
}

WeightMatrix column_shard(const WeightMatrix& matrix, ShardRange columns) {
  JISU_ASSERT(!matrix.is_column_shard() && columns.first >= 0 && columns.end() <= matrix.cols);
  WeightMatrix shard = matrix;
  shard.stored_cols = matrix.cols;
  shard.column_first = columns.first;
  shard.cols = columns.count;
  return shard;
}

std::vector<float> slice_values(const std::vector<float>& values, ShardRange range) {
  if (values.empty()) return {};
  JISU_ASSERT(range.end() <= static_cast<int64_t>(values.size()));
  return {values.begin() + range.first, values.begin() + range.end()};
}

}  // namespace jisu
