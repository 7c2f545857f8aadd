#pragma once
// Runs a model over a calibration text with a linear observer watching every linear's input:
// the text is tokenized with the model's vocabulary and cut into chunks of n_ctx tokens as
// llama-imatrix cuts it (compress/chunked_evaluation.h). Shared by the compression commands
// that need activations (`jisu lowrank --whiten`, `jisu prune --structured`).
#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/linear_observer.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::cli {

struct CalibrationOptions {
  std::string text_file;
  int32_t n_ctx = 128;
  size_t max_chunks = 0;  // 0: every whole chunk of the text
};

// Returns the number of tokens the observer saw. Throws jisu::Error naming the file when it is
// unreadable or too short for one chunk of n_ctx tokens.
size_t observe_calibration_text(const Model& model, ThreadPool& pool, const CalibrationOptions& options,
                                LinearObserver& observer);

}  // namespace jisu::cli
