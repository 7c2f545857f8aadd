#pragma once
// `jisu prune --structured -m IN.gguf -o OUT.gguf [--ffn-keep F] [--heads-keep H]
// [--drop-layers N|LIST] --calib TEXT`: Minitron-style structured pruning
// (compress/structured_pruning.h); `jisu prune` (command_prune.cpp) owns the shared flags
// (-m, -o, -t, --calib, --calib-ctx, --calib-chunks) and fills them in.
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

// Adds --ffn-keep, --heads-keep and --drop-layers.
void add_structured_prune_options(CLI::App& command, StructuredPruneCommandOptions& options);
int run_structured_prune(StructuredPruneCommandOptions& options);

}  // namespace jisu::cli
