#pragma once
// The flags `jisu train` and `jisu distill` share (model shape, optimizer, schedule, data,
// checkpoints) and the run both end in: tokenize, train (or distil), write OUT.gguf.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "train/trainer.h"

namespace jisu::cli {

struct TrainingFlags {
  std::string text_file;
  std::string valid_file;
  std::string output;
  std::string resume;  // checkpoint to continue from (its .optimizer sidecar too)
  // Shape: --shape NAME, each field overridable; 0 = from the shape.
  std::string shape;
  int32_t dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, context = 0;
  bool tied = false;
  int32_t threads = 0;
  // Distillation only: the teacher's top-k cached in this file (train/teacher_cache.h).
  std::string teacher_cache;
  uint32_t teacher_top_k = 32;
  train::TrainOptions options;

  bool shape_given() const { return !shape.empty() || dim || layers || heads || kv_heads || ffn; }
};

void add_training_flags(CLI::App& command, TrainingFlags& flags);

// The shape from --shape and the per-field flags (--shape demo when none is given), for a
// vocabulary of n_vocab tokens.
train::TrainShape shape_from_flags(const TrainingFlags& flags, int32_t n_vocab);

// Trains `shape` (from `initial` parameters when given, else from random ones; from the
// --resume checkpoint when set) and writes flags.output. tokenizer_path: the GGUF whose
// vocabulary the text is tokenized with and whose tokenizer metadata the output carries.
// teacher_path: distil from it when not empty.
int run_training_command(const TrainingFlags& flags, const std::string& tokenizer_path, train::TrainShape shape,
                         std::vector<float> initial, const std::string& teacher_path);

}  // namespace jisu::cli
