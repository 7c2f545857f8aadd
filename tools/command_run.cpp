// `jisu run`: generate text from a prompt, streamed to stdout; speeds on stderr at the end.
#include <jisu/engine.h>

#include <cstdio>
#include <memory>

#include "command_registry.h"
#include "device_options.h"

namespace jisu::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  int32_t max_tokens = 128;
  int32_t threads = 0;
  int32_t context_length = 0;
  int32_t batch = 256;
  std::string device = "cpu";
  int32_t gpu_layers = -1;
  int32_t speculative_ngram = 0;
  bool quiet = false;
  SamplingParams sampling;
  uint64_t seed = 0;
};

int run_generation(RunOptions& options) {
  const bool default_model = options.model.empty();
  EngineOptions engine_options;
  engine_options.model_path = default_model ? default_model_path() : options.model;
  engine_options.threads = options.threads;
  engine_options.context_length = options.context_length;
  engine_options.max_batch_tokens = options.batch;
  engine_options.device = options.device;
  engine_options.gpu_layers = options.gpu_layers;
  engine_options.speculative_ngram = options.speculative_ngram;
  auto engine = Engine::create(engine_options);

  // The bundled model was trained on plays: a speaker's name is its natural opening.
  const std::string prompt = options.prompt_given ? options.prompt : (default_model ? "ROMEO:" : "");
  SamplingParams params = options.sampling;
  params.max_tokens = options.max_tokens;
  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  const GenerationResult result = engine->generate(prompt, params, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!options.quiet) {
    const auto generated = static_cast<double>(result.completion_tokens);
    std::fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f tokens/s)\n", result.prompt_tokens, result.prompt_seconds,
                 result.prompt_seconds > 0 ? result.prompt_tokens / result.prompt_seconds : 0.0);
    std::fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s), finished: %s\n", result.completion_tokens,
                 result.generation_seconds, result.generation_seconds > 0 ? generated / result.generation_seconds : 0.0,
                 std::string(finish_reason_name(result.finish_reason)).c_str());
    if (options.speculative_ngram > 0 && result.forward_steps > 0)
      std::fprintf(stderr, "speculative: %d of %d draft tokens accepted (%.0f %%), %.2f tokens per forward\n",
                   result.accepted_draft_tokens, result.draft_tokens,
                   result.draft_tokens > 0 ? 100.0 * result.accepted_draft_tokens / result.draft_tokens : 0.0,
                   static_cast<double>(result.completion_tokens) / result.forward_steps);
  }
  return 0;
}

CommandRegistrar registrar{
    "run", "Generate text from a prompt (default: the bundled Shakespeare model)", [](CLI::App& command) {
      auto options = std::make_shared<RunOptions>();
      SamplingParams& s = options->sampling;
      command.add_option("-m,--model", options->model, "GGUF model file (default: bundled demo model)");
      command.add_option_function<std::string>(
          "-p,--prompt", [options](const std::string& text) { options->prompt = text, options->prompt_given = true; },
          "prompt text");
      command.add_option("-n,--n-predict", options->max_tokens, "tokens to generate (-1: until the context is full)")
          ->check(CLI::Range(-1, 1 << 24));
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      command.add_option("-c,--ctx-size", options->context_length, "context length (default: the model's, at most 4096)")
          ->check(CLI::Range(0, 1 << 24));
      command.add_option("-b,--batch-size", options->batch, "prompt tokens per forward")->check(CLI::Range(1, 1 << 16));
      add_device_options(command, options->device, options->gpu_layers);
      command.add_option("--spec-ngram", options->speculative_ngram,
                         "speculative decoding by n-gram lookup in the prompt and output: most draft tokens "
                         "verified per forward (0: off)")
          ->check(CLI::Range(0, 64));
      command.add_option("--temp", s.temperature, "temperature (0: greedy)");
      command.add_option("--top-k", s.top_k, "top-k (0: off)");
      command.add_option("--top-p", s.top_p, "top-p (1: off)");
      command.add_option("--min-p", s.min_p, "min-p (0: off)");
      command.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty (1: off)");
      command.add_option("--repeat-last-n", s.penalty_last_n, "tokens the penalties look back");
      command.add_option("--presence-penalty", s.presence_penalty, "presence penalty");
      command.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty");
      command.add_option_function<uint64_t>("-s,--seed", [options](uint64_t seed) { options->sampling.seed = seed; },
                                            "random seed (default: random)");
      command.add_option("--stop", s.stop, "stop string (repeatable)");
      command.add_flag("-q,--quiet", options->quiet, "do not print speeds");
      return [options] { return run_generation(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
