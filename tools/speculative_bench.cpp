#include "speculative_bench.h"

#include <jisu/engine.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "bench_statistics.h"
#include "core/error.h"

namespace jisu::cli {
namespace {

// What speculation is for: text the model is asked to reproduce or edit. The passage is
// given once, then its first line starts a copy.
constexpr const char* kDefaultPrompt =
    "Repeat the following speech exactly.\n\n"
    "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
    "Arise, fair sun, and kill the envious moon,\nWho is already sick and pale with grief,\n"
    "That thou her maid art far more fair than she.\n\n"
    "ROMEO:\nBut soft, what light through yonder window breaks?\n";

}  // namespace

int run_speculative_bench(const SpeculativeBenchOptions& options) {
  if (options.generated_tokens <= 0) throw Error("-n must be positive for a speculative bench");
  std::string prompt = kDefaultPrompt;
  if (!options.prompt_file.empty()) {
    std::ifstream in(options.prompt_file, std::ios::binary);
    if (!in) throw Error("--spec-prompt: cannot open " + options.prompt_file);
    prompt.assign(std::istreambuf_iterator<char>(in), {});
  }
  EngineOptions plain_options;
  plain_options.model_path = options.model_path;
  plain_options.threads = options.threads;
  EngineOptions speculative_options = plain_options;
  options.speculative.apply(speculative_options);
  const auto plain = Engine::create(plain_options);
  const auto speculative = Engine::create(speculative_options);

  SamplingParams params = SamplingParams::greedy();
  params.max_tokens = options.generated_tokens;
  std::vector<double> plain_speeds, speculative_speeds;
  GenerationResult plain_result, speculative_result;
  bool identical = true;
  plain->generate(prompt, params);  // warm-up: page in the weights, spin up the threads
  speculative->generate(prompt, params);
  for (int r = 0; r < options.repeats; ++r) {  // alternating, so both see the same machine
    plain_result = plain->generate(prompt, params);
    speculative_result = speculative->generate(prompt, params);
    identical = identical && plain_result.text == speculative_result.text;
    plain_speeds.push_back(plain_result.completion_tokens / std::max(plain_result.generation_seconds, 1e-9));
    speculative_speeds.push_back(speculative_result.completion_tokens /
                                 std::max(speculative_result.generation_seconds, 1e-9));
  }
  const double plain_tps = median(plain_speeds), speculative_tps = median(speculative_speeds);
  const std::string how = options.speculative.draft_model.empty()
                              ? "n-gram lookup, up to " + std::to_string(options.speculative.ngram) + " tokens"
                              : "draft model " + options.speculative.draft_model + ", up to " +
                                    std::to_string(options.speculative.draft_max) + " tokens";
  std::printf("speculative decoding: %s; greedy, %d tokens, median of %d alternating runs\n\n", how.c_str(),
              options.generated_tokens, options.repeats);
  std::printf("| test | t/s | tokens per forward | draft tokens accepted |\n|---|---:|---:|---:|\n");
  std::printf("| tg%d plain | %.2f | 1.00 | |\n", options.generated_tokens, plain_tps);
  const GenerationResult& s = speculative_result;
  std::printf("| tg%d speculative | %.2f | %.2f | %d of %d (%.1f %%) |\n", options.generated_tokens, speculative_tps,
              s.forward_steps > 0 ? double(s.completion_tokens) / s.forward_steps : 0.0, s.accepted_draft_tokens,
              s.draft_tokens, s.draft_tokens > 0 ? 100.0 * s.accepted_draft_tokens / s.draft_tokens : 0.0);
  std::printf("\nspeed-up %.2fx; output %s\n", speculative_tps / plain_tps,
              identical ? "byte-identical to plain decoding" : "DIFFERS from plain decoding (a bug)");
  return identical ? 0 : 1;
}

}  // namespace jisu::cli
