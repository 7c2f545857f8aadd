#pragma once
// The importance matrix: for every linear weight, the sum over calibration tokens of each input
// column's squared activation (the diagonal of XᵀX) and the token count, so that
// in_sum2 / count is the mean squared input of the column. Stored in llama.cpp's imatrix GGUF
// layout, so either tool reads the other's files:
//   general.type = "imatrix", imatrix.datasets (string array), imatrix.chunk_count and
//   imatrix.chunk_size (uint32); per weight W two F32 tensors, "W.in_sum2" of shape
//   [cols, n_mat] and "W.counts" of shape [1, n_mat] (n_mat: experts of a stacked tensor, else 1).
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backends/linear_observer.h"

namespace jisu::compress {

struct ImportanceEntry {
  size_t cols = 0;
  size_t n_mat = 1;
  std::vector<double> sum2;    // n_mat x cols
  std::vector<double> counts;  // n_mat
};

class ImportanceMatrix {
 public:
  // Throws jisu::Error naming the file when it is unreadable or not an imatrix GGUF.
  static ImportanceMatrix read(const std::string& path);
  void write(const std::string& path) const;  // atomically

  std::map<std::string, ImportanceEntry, std::less<>> entries;
  std::vector<std::string> datasets;
  uint32_t chunk_count = 0, chunk_size = 0;

  const ImportanceEntry* find(std::string_view weight_name) const;
  // Mean squared input per column of matrix `slice`; throws jisu::Error when `cols` differs
  // from the entry's (an imatrix of another model).
  std::vector<float> mean_squares(std::string_view weight_name, const ImportanceEntry& entry, size_t slice,
                                  size_t cols) const;
};

// Accumulates an ImportanceMatrix from the linear inputs a backend shows it.
class ImportanceCollector final : public LinearObserver {
 public:
  void observe(std::string_view weight_name, int64_t slice, const float* x, size_t stride, size_t n_rows,
               size_t cols) override;
  ImportanceMatrix& matrix() { return matrix_; }

 private:
  ImportanceMatrix matrix_;
};

}  // namespace jisu::compress
