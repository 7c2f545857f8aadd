#pragma once
// A matrix as the file stores it: rows x cols, row-major, in its file type, viewed in place in
// the mapped file. GGUF shape [cols, rows] (shape[0] is contiguous); y = W x maps a cols-vector
// to a rows-vector. What a backend makes of it at load (a repacked copy, a device copy) is the
// backend's own (backends/backend.h: LinearWeight).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/dtype.h"

namespace jisu {

struct LowRankFactors;

struct WeightMatrix {
  std::string name;
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Set when the file stores this matrix as a low-rank pair (see LowRankFactors); `data` is then
  // null, `type` is the factors' type and rows x cols is the product's shape.
  std::shared_ptr<const LowRankFactors> low_rank;
  // A tensor-parallel column shard: the stored rows hold stored_cols values and this matrix is
  // their columns [column_first, column_first + cols). 0: the whole rows (cols == stored).
  // A backend that can run a shard makes its own copy of those columns at load.
  int64_t stored_cols = 0;
  int64_t column_first = 0;
  // `data` lies in a read-only file mapping, so once copied its pages may be released (they
  // fault back in from the file). False for heap or anonymous memory, whose pages would be
  // zeroed by a release.
  bool in_file_mapping = false;
  // cb4 (core/sparse_dtype.h): the 16 int8 levels of this matrix, from the file's
  // "<name>.codebook" tensor (a stacked tensor's: 16 per matrix, in matrix order); else null.
  const int8_t* codebook = nullptr;
  // i8_row: one float32 scale per row, from "<name>.row_scale" (rows in this matrix's order).
  const float* row_scales = nullptr;

  bool present() const { return data != nullptr || low_rank != nullptr; }
  const void* row(int64_t index) const { return static_cast<const char*>(data) + index * row_bytes; }
  // Rows [first, first + count) as a matrix of their own (e.g. one expert of a stacked tensor).
  WeightMatrix slice_rows(int64_t first, int64_t count) const {
    WeightMatrix slice = *this;
    slice.data = row(first);
    slice.rows = count;
    if (slice.row_scales) slice.row_scales += first;
    return slice;
  }
  size_t bytes() const { return static_cast<size_t>(rows) * row_bytes; }
  bool is_column_shard() const { return stored_cols != 0; }
};

// A matrix W (rows x cols) stored as W ~= A * B, two ordinary GGUF matrices named after W:
//   "<W name>.lowrank_a": A, rows x rank (GGUF shape [rank, rows]), applied second;
//   "<W name>.lowrank_b": B, rank x cols (GGUF shape [cols, rank]), applied first.
// y = W x is run as y = A (B x): rank * (rows + cols) multiply-adds instead of rows * cols.
// Written by `jisu lowrank` (compress/low_rank_model.h); each factor may have any weight type.
struct LowRankFactors {
  WeightMatrix a, b;
  int64_t rank() const { return b.rows; }
};

inline constexpr std::string_view kLowRankASuffix = ".lowrank_a";
inline constexpr std::string_view kLowRankBSuffix = ".lowrank_b";

}  // namespace jisu
