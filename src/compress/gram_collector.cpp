#include "compress/gram_collector.h"

#include <Eigen/Core>

#include "core/error.h"

namespace jisu::compress {

void GramCollector::observe(std::string_view weight_name, int64_t slice, const float* x, size_t stride,
                            size_t n_rows, size_t cols) {
  if (slice != 0 || n_rows == 0 || !wanted_.contains(weight_name)) return;
  auto it = entries_.find(weight_name);
  if (it == entries_.end()) {
    it = entries_.emplace(std::string(weight_name), GramEntry{}).first;
    it->second.cols = cols;
    it->second.sums.assign(cols * cols, 0.0);
  }
  GramEntry& entry = it->second;
  JISU_ASSERT(entry.cols == cols);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  rows_.resize(n_rows * cols);
  for (size_t r = 0; r < n_rows; ++r)
    for (size_t c = 0; c < cols; ++c) rows_[r * cols + c] = x[r * stride + c];
  const auto n = static_cast<Eigen::Index>(n_rows), m = static_cast<Eigen::Index>(cols);
  const Eigen::Map<const RowMajor> block(rows_.data(), n, m);
  Eigen::Map<RowMajor> sums(entry.sums.data(), m, m);
  sums.noalias() += block.transpose() * block;
  entry.tokens += static_cast<double>(n_rows);
}

const GramEntry* GramCollector::find(std::string_view weight_name) const {
  const auto it = entries_.find(weight_name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace jisu::compress
