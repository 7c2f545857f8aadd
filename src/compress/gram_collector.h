#pragma once
// The full Gram matrix X^T X of the input rows of chosen linear weights (X: one row per token of
// the calibration text), what SVD-LLM whitening (compress/low_rank_factorization.h) needs. The
// importance matrix (compress/importance_matrix.h) keeps only its diagonal.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backends/linear_observer.h"

namespace jisu::compress {

struct GramEntry {
  size_t cols = 0;
  std::vector<double> sums;  // cols x cols, row-major, symmetric
  double tokens = 0;         // rows of X summed
};

class GramCollector final : public LinearObserver {
 public:
  // Collects only for these weight names (a Gram matrix costs cols^2 doubles each).
  explicit GramCollector(std::set<std::string, std::less<>> wanted) : wanted_(std::move(wanted)) {}

  void observe(std::string_view weight_name, int64_t slice, const float* x, size_t stride, size_t n_rows,
               size_t cols) override;

  const GramEntry* find(std::string_view weight_name) const;

 private:
  std::set<std::string, std::less<>> wanted_;
  std::map<std::string, GramEntry, std::less<>> entries_;
  std::vector<double> rows_;  // the call's rows in double (reused)
};

}  // namespace jisu::compress
