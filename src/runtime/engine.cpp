// The single-prompt engine behind include/jisu/engine.h: a thin client of the serving engine's
// loop (serving_engine.cpp) with room for one sequence. Model loading, defaults, batching,
// sampling, detokenizing and stop strings live there only; this file turns one request's stream
// into a blocking call with a text callback.
#include <jisu/engine.h>
#include <jisu/serving_engine.h>

#include "core/error.h"

namespace jisu {

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
  std::unique_ptr<ServingEngine> serving;
};

Engine::Engine() : state_(std::make_unique<State>()) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::create(const EngineOptions& options) {
  ServingOptions serving;
  serving.model_path = options.model_path;
  serving.threads = options.threads;
  serving.context_length = options.context_length;
  serving.max_sequences = 1;
  serving.max_batch_tokens = options.max_batch_tokens;
  serving.max_queue = 1;  // generate() is synchronous: at most one request is ever waiting
  serving.device = options.device;
  serving.gpu_layers = options.gpu_layers;
  serving.speculative_ngram = options.speculative_ngram;
  serving.draft_model_path = options.draft_model_path;
  serving.draft_max = options.draft_max;
  serving.grid = options.grid;
  serving.cache_type_k = options.cache_type_k;
  serving.cache_type_v = options.cache_type_v;
  std::unique_ptr<Engine> engine(new Engine());
  engine->state_->serving = ServingEngine::create(serving);
  return engine;
}

ModelSummary Engine::summary() const { return state_->serving->summary(); }

std::vector<int32_t> Engine::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  return state_->serving->tokenize(text, add_special, parse_special);
}

std::string Engine::detokenize(std::span<const int32_t> tokens) const { return state_->serving->detokenize(tokens); }

GenerationResult Engine::generate(std::string_view prompt, const SamplingParams& params, const TextCallback& on_text) {
  const std::vector<int32_t> tokens = tokenize(prompt, true, false);
  return generate_from_tokens(tokens, params, on_text);
}

GenerationResult Engine::generate_from_tokens(std::span<const int32_t> prompt, const SamplingParams& params,
                                              const TextCallback& on_text) {
  params.validate();
  if (prompt.empty()) throw Error("the prompt is empty", "give a prompt with -p, or a model that adds BOS");
  SubmitResult submitted = state_->serving->submit(std::vector<int32_t>(prompt.begin(), prompt.end()), params);
  switch (submitted.status) {
    case SubmitStatus::Accepted: break;
    case SubmitStatus::PromptTooLong:
      throw Error(submitted.message, "shorten the prompt or raise the context length (-c)");
    case SubmitStatus::InvalidRequest:
    case SubmitStatus::QueueFull:
    case SubmitStatus::ShuttingDown: throw Error(submitted.message);
  }

  GenerationResult result;
  StreamUpdate update;
  bool cancelled = false;
  while (!update.finished) {
    update.text.clear();
    update.logprobs.clear();
    if (!submitted.stream->read(update, std::chrono::milliseconds(500))) continue;
    // After a cancel, text the loop produced before it noticed is dropped: the caller asked
    // for no more.
    if (cancelled || update.text.empty()) continue;
    result.text.append(update.text);
    if (on_text && !on_text(update.text)) {
      cancelled = true;
      submitted.stream->cancel();
    }
  }
  result.prompt_tokens = update.prompt_tokens;
  result.completion_tokens = update.completion_tokens;
  // The loop may have finished (length, stop) before it saw the cancel; the caller still cut
  // the text short, so that is how it ended.
  result.finish_reason = cancelled ? FinishReason::Cancelled : update.finish_reason;
  result.prompt_seconds = update.prompt_seconds;
  result.generation_seconds = update.generation_seconds;
  result.draft_tokens = update.draft_tokens;
  result.accepted_draft_tokens = update.accepted_draft_tokens;
  result.forward_steps = update.forward_steps;
  return result;
}

}  // namespace jisu
