// The single-prompt engine behind include/jisu/engine.h: generation is the special case of
// the batched forward with one sequence (slot 0); prompt chunks and decode steps are Batches.
#include <jisu/engine.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/forward_factory.h"
#include "kv/kv_cache.h"
#include "runtime/sampler.h"
#include "runtime/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace jisu {
namespace {
constexpr int32_t kDefaultContextCap = 4096;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::EndOfGeneration: return "stop";
    case FinishReason::StopString: return "stop";
    case FinishReason::ContextFull: return "length";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "unknown";
}

struct Engine::State {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<KvCache> cache;
  std::unique_ptr<ForwardPass> transformer;
  int32_t context_length = 0;
  Batch batch;
  std::vector<float> logits;  // one row: only the last token of a chunk asks for logits
};

Engine::Engine() : state_(std::make_unique<State>()) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::create(const EngineOptions& options) {
  if (options.threads < 0) throw Error("the thread count cannot be negative");
  if (options.context_length < 0) throw Error("the context length cannot be negative");
  if (options.max_batch_tokens <= 0) throw Error("the batch size must be positive");
  std::unique_ptr<Engine> engine(new Engine());
  State& state = *engine->state_;
  state.model = Model::load(options.model_path);
  const ModelConfig& config = state.model->config();
  state.tokenizer = Tokenizer::from_gguf(state.model->file());
  if (state.tokenizer->n_vocab() != config.n_vocab)
    throw Error("the tokenizer has " + std::to_string(state.tokenizer->n_vocab()) + " tokens but the model " +
                std::to_string(config.n_vocab));
  state.context_length = options.context_length > 0 ? options.context_length
                                                    : std::min(config.context_length, kDefaultContextCap);
  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count();
  state.pool = std::make_unique<ThreadPool>(threads);
  KvCacheOptions cache_options;
  cache_options.context_length = state.context_length;
  cache_options.max_sequences = 1;
  state.cache = std::make_unique<KvCache>(config.context_length, cache_options);
  const int32_t batch_tokens = std::min(options.max_batch_tokens, state.context_length);
  const std::optional<Device> device = device_from_name(options.device);
  if (!device) throw Error("unknown device '" + options.device + "'", "use cpu or cuda");
  state.transformer = make_forward_pass({*device, options.gpu_layers}, config, state.model->weights(), *state.pool,
                                        batch_tokens, *state.cache);
  state.batch.reserve(static_cast<size_t>(batch_tokens));
  state.logits.resize(static_cast<size_t>(config.n_vocab));
  return engine;
}

ModelSummary Engine::summary() const {
  const ModelConfig& config = state_->model->config();
  ModelSummary summary;
  summary.architecture = config.arch.name;
  summary.name = state_->model->file().get_string("general.name").value_or("");
  summary.n_vocab = config.n_vocab;
  summary.n_embd = config.n_embd;
  summary.n_layer = config.n_layer;
  summary.context_length = state_->context_length;
  summary.weight_bytes = state_->model->weights().total_bytes;
  return summary;
}

std::vector<int32_t> Engine::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  return state_->tokenizer->encode(text, add_special, parse_special);
}

std::string Engine::detokenize(std::span<const int32_t> tokens) const { return state_->tokenizer->decode(tokens); }

GenerationResult Engine::generate(std::string_view prompt, const SamplingParams& params, const TextCallback& on_text) {
  const std::vector<int32_t> tokens = tokenize(prompt, true, false);
  return generate_from_tokens(tokens, params, on_text);
}

GenerationResult Engine::generate_from_tokens(std::span<const int32_t> prompt, const SamplingParams& params,
                                              const TextCallback& on_text) {
  params.validate();
  State& state = *state_;
  const auto prompt_length = static_cast<int32_t>(prompt.size());
  if (prompt_length == 0) throw Error("the prompt is empty", "give a prompt with -p, or a model that adds BOS");
  if (prompt_length >= state.context_length)
    throw Error("the prompt has " + std::to_string(prompt_length) + " tokens but the context holds " +
                    std::to_string(state.context_length),
                "shorten the prompt or raise the context length (-c)");

  GenerationResult result;
  result.prompt_tokens = prompt_length;
  const int32_t room = state.context_length - prompt_length;
  const int32_t budget = params.max_tokens < 0 ? room : std::min(params.max_tokens, room);
  result.tokens.reserve(static_cast<size_t>(budget));

  Sampler sampler(params, state.model->config().n_vocab);
  StopStringMatcher stops(params.stop);
  StreamingDetokenizer detokenizer(*state.tokenizer);
  state.cache->release(0);

  // Prompt: chunks of at most max_batch_tokens; only the last token's logits are needed.
  const auto start = std::chrono::steady_clock::now();
  const int32_t chunk = state.transformer->max_batch_tokens();
  for (int32_t begin = 0; begin < prompt_length; begin += chunk) {
    const int32_t end = std::min(prompt_length, begin + chunk);
    state.batch.clear();
    for (int32_t i = begin; i < end; ++i) state.batch.add(prompt[static_cast<size_t>(i)], i, 0, i + 1 == prompt_length);
    state.transformer->forward(state.batch, *state.cache, state.logits.data());
  }
  sampler.accept(prompt);
  result.prompt_seconds = seconds_since(start);

  const auto emit = [&](std::string_view text) {
    result.text.append(text);
    return !on_text || text.empty() || on_text(text);
  };

  const auto generation_start = std::chrono::steady_clock::now();
  result.finish_reason = FinishReason::Length;
  bool finished = budget == 0;
  for (int32_t step = 0; !finished; ++step) {
    const int32_t token = sampler.sample(state.logits.data());
    if (state.tokenizer->is_end_of_generation(token)) {
      result.finish_reason = FinishReason::EndOfGeneration;
      break;
    }
    sampler.accept(token);
    result.tokens.push_back(token);
    const std::string_view visible = stops.feed(detokenizer.push(token));
    if (!emit(visible)) {
      result.finish_reason = FinishReason::Cancelled;
      break;
    }
    if (stops.stopped()) {
      result.finish_reason = FinishReason::StopString;
      break;
    }
    if (step + 1 >= budget) {
      result.finish_reason = budget == room ? FinishReason::ContextFull : FinishReason::Length;
      break;
    }
    state.batch.clear();
    state.batch.add(token, prompt_length + step, 0, true);
    state.transformer->forward(state.batch, *state.cache, state.logits.data());
  }
  if (result.finish_reason != FinishReason::StopString && result.finish_reason != FinishReason::Cancelled) {
    const std::string tail = detokenizer.flush();
    std::string_view visible = stops.feed(tail);
    std::string remainder(visible);
    if (!stops.stopped()) remainder.append(stops.flush());
    emit(remainder);
  }
  result.generation_seconds = seconds_since(generation_start);
  return result;
}

}  // namespace jisu
