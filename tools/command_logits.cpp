// `jisu logits -m MODEL --tokens 1,2,3 -o OUT`: float32 logits, n_tokens x n_vocab, row-major,
// for the tokens evaluated as one batch of one sequence. Used by tests and external checks.
#include <cstdio>
#include <memory>
#include <sstream>

#include "command_registry.h"
#include "device_options.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/forward_factory.h"
#include "kv/kv_cache.h"

namespace jisu::cli {
namespace {

struct LogitsOptions {
  std::string model;
  std::string tokens;
  std::string output;
  int threads = 0;
  std::string device = "cpu";
  int32_t gpu_layers = -1;
  ProcessGrid grid;
};

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> tokens;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX)
      throw Error("--tokens: '" + item + "' is not a token id", "give comma-separated non-negative integers, e.g. 1,2,3");
    tokens.push_back(static_cast<int32_t>(value));
  }
  if (tokens.empty()) throw Error("--tokens is empty");
  return tokens;
}

int run_logits(const LogitsOptions& options) {
  const std::vector<int32_t> tokens = parse_token_list(options.tokens);
  const auto model = Model::load(options.model.empty() ? default_model_path() : options.model);
  const ModelConfig& config = model->config();
  const auto n = static_cast<int32_t>(tokens.size());
  if (n > config.context_length)
    throw Error(std::to_string(n) + " tokens exceed the model's context length " + std::to_string(config.context_length));

  ThreadPool pool(options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count());
  KvCacheOptions cache_options;
  cache_options.context_length = n;
  KvCache cache(config.context_length, cache_options);
  const auto transformer = make_forward_pass({*device_from_name(options.device), options.gpu_layers, options.grid}, config,
                                             model->weights(), pool, n, cache);
  Batch batch(tokens.size());
  for (int32_t i = 0; i < n; ++i) batch.add(tokens[static_cast<size_t>(i)], i, 0, true);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(config.n_vocab));
  transformer->forward(batch, cache, logits.data());

  AtomicFile output(options.output);
  output.write(logits.data(), logits.size() * sizeof(float));
  output.commit();
  std::fprintf(stderr, "wrote %d x %d logits to %s\n", n, config.n_vocab, options.output.c_str());
  return 0;
}

CommandRegistrar registrar{"logits", "Write float32 logits (n_tokens x n_vocab) of tokens evaluated as one batch",
                           [](CLI::App& command) {
                             auto options = std::make_shared<LogitsOptions>();
                             command.add_option("-m,--model", options->model, "GGUF model (default: bundled)");
                             command.add_option("--tokens", options->tokens, "comma-separated token ids")->required();
                             command.add_option("-o,--output", options->output, "output file")->required();
                             command.add_option("-t,--threads", options->threads, "threads (default: all cores)")
                                 ->check(CLI::Range(0, 1024));
                             add_device_options(command, options->device, options->gpu_layers);
                             add_grid_options(command, options->grid);
                             return [options] { return run_logits(*options); };
                           }};

}  // namespace
}  // namespace jisu::cli
