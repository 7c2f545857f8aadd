#pragma once
// `jisu prune-structured -m IN.gguf -o OUT.gguf [--ffn-keep F] [--heads-keep H]
// [--drop-layers N|LIST] --calib TEXT`: Minitron-style structured pruning
// (compress/structured_pruning.h). The options and the run are functions so that another
// command (`jisu prune --structured`) can offer the same flags.
#include <CLI/CLI.hpp>

#include <string>

#include "calibration_text.h"
#include "compress/structured_pruning.h"

namespace jisu::cli {

struct StructuredPruneCommandOptions {
  std::string input;
  compress::StructuredPruneOptions prune;
  std::string drop_layers;  // "N" (that many least important layers) or "I,J,..." (those; "I," for one)
  CalibrationOptions calibration;
  int threads = 0;
};

// Adds --ffn-keep, --heads-keep, --drop-layers, --calib, -c, --chunks; `with_model_flags` also
// -m, -o and -t (a command that has its own leaves it false and fills input/output/threads).
void add_structured_prune_options(CLI::App& command, StructuredPruneCommandOptions& options, bool with_model_flags);
int run_structured_prune(StructuredPruneCommandOptions& options);

}  // namespace jisu::cli
