#pragma once
// `jisu quantize IN OUT --target-bpw B --calib TEXT [--candidates T,...] [--calib-chunks N]
// [--calib-ctx C] [--keep REGEX]... [--imatrix F]`: per-tensor types chosen by measured
// sensitivity at a size budget (compress/mixed_precision.h), then written by the quantizer.
#include <regex>
#include <string>
#include <vector>

#include "compress/quantize_model.h"
#include "core/thread_pool.h"

namespace jisu::cli {

struct TargetBpwOptions {
  double target_bpw = 0;
  std::string calibration_text;
  std::string candidates;  // comma-separated type names
  int32_t calibration_ctx = 128;
  size_t calibration_chunks = 8;
};

// Measures, chooses, prints the chosen mix to stderr and fills options.chosen_types and
// options.file_type; the caller then runs compress::quantize_model. Throws jisu::Error (one
// line) before writing anything.
void choose_types_for_target_bpw(const TargetBpwOptions& target, compress::QuantizeOptions& options, ThreadPool& pool);

}  // namespace jisu::cli
