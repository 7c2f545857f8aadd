#pragma once
// `jisu bench --spec-ngram N | --draft MODEL`: speculative decoding measured against plain
// decoding of the same model in the same run.
#include <string>

#include "speculative_options.h"

namespace jisu::cli {

struct SpeculativeBenchOptions {
  std::string model_path;
  int threads = 0;
  int generated_tokens = 128;
  int repeats = 3;
  std::string prompt_file;  // empty: a built-in prompt that asks to repeat a given passage
  SpeculativeOptions speculative;
};

// Generates greedily with and without speculation, alternating, -r times each; prints tokens/s
// of both, their ratio, the acceptance rate, tokens per forward, and whether the outputs are
// byte-identical (they must be). Returns 1 when they differ.
int run_speculative_bench(const SpeculativeBenchOptions& options);

}  // namespace jisu::cli
