#pragma once
// Runs a model over a calibration text with a linear observer watching every linear's input:
// the text is tokenized with the model's vocabulary and cut into chunks of n_ctx tokens as
// llama-imatrix cuts it (compress/chunked_evaluation.h). Shared by the compression commands
// that need activations (`jisu lowrank --whiten`, `jisu prune --structured`).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/linear_observer.h"
#include "compress/chunked_evaluation.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::cli {

struct CalibrationOptions {
  std::string text_file;
  int32_t n_ctx = 128;
  size_t max_chunks = 0;  // 0: every whole chunk of the text
};

// The calibration text tokenized with the model's vocabulary and cut into chunks (BOS per chunk
// when the vocabulary adds one). With max_chunks > 0 and `spread`, the chunks are taken evenly
// across the whole text rather than from its start, and `tokens` holds just them, in order.
struct CalibrationTokens {
  std::vector<int32_t> tokens;
  compress::ChunkPlan plan;
};
CalibrationTokens tokenize_calibration_text(const Model& model, const CalibrationOptions& options, bool spread);

// Returns the number of tokens the observer saw. Throws jisu::Error naming the file when it is
// unreadable or too short for one chunk of n_ctx tokens.
size_t observe_calibration_text(const Model& model, ThreadPool& pool, const CalibrationOptions& options,
                                LinearObserver& observer);

}  // namespace jisu::cli
