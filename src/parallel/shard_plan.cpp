#include "parallel/shard_plan.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace jisu {

ShardRange equal_part(int64_t total, int rank, int size) {
  JISU_ASSERT(size > 0 && total % size == 0);
  const int64_t part = total / size;
  return {part * rank, part};
}

ShardRange layer_range(int64_t n_layer, int rank, int size) {
  JISU_ASSERT(size > 0 && size <= n_layer);
  const int64_t base = n_layer / size, extra = n_layer % size;
  const int64_t first = base * rank + std::min<int64_t>(rank, extra);
  return {first, base + (rank < extra ? 1 : 0)};
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
