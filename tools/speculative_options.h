#pragma once
// The speculative-decoding flags that `jisu run` and `jisu serve` share.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace jisu::cli {

struct SpeculativeOptions {
  int32_t ngram = 0;           // most draft tokens by n-gram lookup (0: off)
  std::string draft_model;     // a draft model of the same vocabulary ("": none)
  int32_t draft_max = 8;       // its most draft tokens per step

  template <typename Options>
  void apply(Options& options) const {
    options.speculative_ngram = ngram;
    options.draft_model_path = draft_model;
    options.draft_max = draft_max;
  }
  bool enabled() const { return ngram > 0 || !draft_model.empty(); }
};

inline void add_speculative_options(CLI::App& command, SpeculativeOptions& options) {
  command.add_option("--spec-ngram", options.ngram,
                     "speculative decoding by n-gram lookup in each request's own text (prompt and output): most "
                     "draft tokens verified per forward (0: off)")
      ->check(CLI::Range(0, 64));
  command.add_option("--draft", options.draft_model,
                     "speculative decoding by a smaller draft model with the same vocabulary (GGUF file); it "
                     "proposes tokens greedily, the model verifies them in one forward")
      ->check(CLI::ExistingFile);
  command.add_option("--draft-max", options.draft_max, "the draft model's most draft tokens per step")
      ->check(CLI::Range(1, 64));
}

}  // namespace jisu::cli
