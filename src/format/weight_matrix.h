#pragma once
// A matrix as the file stores it: rows x cols, row-major, in its file type, viewed in place in
// the mapped file. GGUF shape [cols, rows] (shape[0] is contiguous); y = W x maps a cols-vector
// to a rows-vector. What a backend makes of it at load (a repacked copy, a device copy) is the
// backend's own (backends/backend.h: LinearWeight).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace jisu {

struct WeightMatrix {
  std::string name;
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // A tensor-parallel column shard: the stored rows hold stored_cols values and this matrix is
  // their columns [column_first, column_first + cols). 0: the whole rows (cols == stored).
  // A backend that can run a shard makes its own copy of those columns at load.
  int64_t stored_cols = 0;
  int64_t column_first = 0;

  bool present() const { return data != nullptr; }
  const void* row(int64_t index) const { return static_cast<const char*>(data) + index * row_bytes; }
  // Rows [first, first + count) as a matrix of their own (e.g. one expert of a stacked tensor).
  WeightMatrix slice_rows(int64_t first, int64_t count) const {
    WeightMatrix slice = *this;
    slice.data = row(first);
    slice.rows = count;
    return slice;
  }
  size_t bytes() const { return static_cast<size_t>(rows) * row_bytes; }
  bool is_column_shard() const { return stored_cols != 0; }
};

}  // namespace jisu
