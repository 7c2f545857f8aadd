// The serving engine behind include/jisu/serving_engine.h. One loop thread owns the model, the
// KV cache, the scheduler and every active request; other threads only touch the submission
// queue (under mutex_) and request channels. Each step: scheduler plan -> one Batch -> one
// Transformer::forward -> one sample per finished chunk -> text into the request's channel.
// A pipeline-parallel forward (pipeline_depth() M > 1) works on M steps at once: the running
// requests are split into M groups and each group's step is started (start_forward) while the
// others' are in the pipeline; the oldest step is then finished (its logits sampled) and its
// group's next step started, so every stage always has a step to work on. A request belongs to
// at most one step in flight, and its KV cache is its own, so the groups never interfere.
#include <jisu/serving_engine.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/forward_factory.h"
#include "chat/chat_prompt.h"
#include "kv/kv_cache.h"
#include "runtime/draft_model.h"
#include "runtime/grammar/grammar_matcher.h"
#include "runtime/embedding_runner.h"
#include "runtime/ngram_draft.h"
#include "runtime/request_channel.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"
#include "runtime/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace jisu {
namespace {

constexpr int32_t kDefaultContextCap = 4096;
constexpr int32_t kBlockSize = 16;
// Constrained top-k sampling asks the grammar about at most top_k + this many best tokens before
// it computes the mask instead.
constexpr size_t kTopKTested = 64;
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// One request inside the loop. The SequenceEntry base is what the scheduler sees, so a
// scheduled chunk leads back to its request without a lookup.
struct ActiveRequest : SequenceEntry {
  // At most one drafter: the draft model when model_draft > 0, else n-gram lookup when
  // ngram_draft > 0.
  ActiveRequest(const SamplingParams& params, const Tokenizer& tokenizer, int32_t n_vocab, int32_t ngram_draft,
                int32_t model_draft)
      : params(params), sampler(params, n_vocab), stops(params.stop), detokenizer(tokenizer) {
    if (model_draft > 0)
      model_draft_length.emplace(model_draft);
    else if (ngram_draft > 0)
      ngram.emplace(ngram_draft);
    draft.reserve(static_cast<size_t>(std::max(ngram_draft, model_draft)));
  }
  bool speculates() const { return ngram || model_draft_length; }

  SamplingParams params;
  Sampler sampler;
  StopStringMatcher stops;
  StreamingDetokenizer detokenizer;
  std::optional<NgramDrafter> ngram;                      // speculative decoding by n-gram lookup
  std::optional<AdaptiveDraftLength> model_draft_length;  // speculative decoding by the draft model
  std::unique_ptr<GrammarMatcher> grammar;  // constrained output (then no drafter)
  std::shared_ptr<RequestChannel> channel;
  int32_t prompt_length = 0;
  int32_t budget = 0;        // tokens it may generate
  bool budget_is_context = false;
  int32_t generated = 0;
  int32_t draft_tokens = 0;
  int32_t accepted_draft_tokens = 0;
  // What of the two counts the metrics hold already: they are reported at the end of each step,
  // and by finish() before the client sees the outcome (so a finished request is always in them).
  int32_t reported_draft_tokens = 0;
  int32_t reported_accepted_draft_tokens = 0;
  int32_t forward_steps = 0;
  Clock::time_point submitted{};
  Clock::time_point first_token{};  // when the first token was sampled (epoch: not yet)
  Clock::time_point last_token{};
  bool done = false;
};

class ServingEngineImpl final : public ServingEngine {
 public:
  explicit ServingEngineImpl(const ServingOptions& options);
  ~ServingEngineImpl() override { shutdown(); }

  ModelSummary summary() const override { return summary_; }
  std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const override {
    return tokenizer_->encode(text, add_special, parse_special);
  }
  std::string detokenize(std::span<const int32_t> tokens) const override { return tokenizer_->decode(tokens); }
  bool render_chat(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error) const override {
    return chat_->render(messages, prompt, error);
  }
  bool chat_template_adds_bos() const override { return chat_->starts_with_bos(); }
  bool chat_prompt_tokens(const std::vector<ChatMessage>& messages, std::vector<int32_t>& tokens, std::string& error,
                          const std::string& tools_json) const override {
    return chat_->render_tokens(messages, *tokenizer_, tokens, error, tools_json);
  }
  std::string chat_template_source() const override { return chat_->template_source(); }
  SubmitResult submit(std::vector<int32_t> prompt, const SamplingParams& params) override;
  bool is_embedding_model() const override { return embedding_runner_ != nullptr; }
  int32_t max_embedding_tokens() const override {
    return embedding_runner_ ? embedding_runner_->max_input_tokens() : 0;
  }
  EmbeddingResult embed(const std::vector<std::vector<int32_t>>& inputs, const EmbeddingOptions& options) override;
  ServingMetrics metrics() const override;
  void stop_admitting() override {
    std::lock_guard lock(mutex_);
    draining_ = true;
  }
  uint64_t requests_in_flight() const override {
    std::lock_guard lock(metrics_mutex_);
    return metrics_.requests_submitted - metrics_.requests_finished - metrics_.requests_cancelled;
  }
  void shutdown() override;

 private:
  void wake() {
    { std::lock_guard lock(mutex_); wake_pending_ = true; }
    work_.notify_one();
  }
  void loop();
  bool take_incoming();
  // Starts the next group's step; false when the scheduler planned nothing.
  bool start_step();
  // Waits for the oldest step in flight and samples its requests.
  void finish_step();
  void propose_drafts();
  // Returns how many of the n_draft drafts were accepted.
  int32_t verify(ActiveRequest& request, const float* logits, int32_t n_draft, Clock::time_point now);
  // Samples (verifying `proposed` when >= 0) and delivers one token; false when it ended the request.
  bool sample(ActiveRequest& request, const float* logits, int32_t proposed, Clock::time_point now);
  int32_t sample_constrained(ActiveRequest& request, const float* logits);
  void finish(ActiveRequest& request, FinishReason reason);
  void drop_done();
  void update_gauges();
  void report_drafts(ActiveRequest& request);  // caller holds metrics_mutex_

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardPass> transformer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ChatPrompt> chat_;
  std::unique_ptr<DraftModel> draft_model_;  // null: no draft model
  std::unique_ptr<GrammarVocabulary> grammar_vocabulary_;  // token bytes and trie, for grammar masks
  // Encoder models: the loop never runs (submit refuses); embed() runs the forward pass on the
  // caller's thread, one caller at a time.
  std::unique_ptr<EmbeddingRunner> embedding_runner_;
  std::mutex embedding_mutex_;
  ModelSummary summary_;
  int32_t n_vocab_ = 0;
  int32_t context_length_ = 0;
  int32_t max_queue_ = 0;
  int32_t max_ngram_draft_ = 0;
  int32_t max_model_draft_ = 0;  // 0: no draft model
  int32_t max_sequences_ = 0;

  // Loop-thread state.
  std::vector<std::unique_ptr<ActiveRequest>> active_;
  Batch batch_;
  struct SamplingChunk {
    ActiveRequest* request;
    int32_t n_draft;  // logits rows: 1 + n_draft
  };
  // A started step: what complete() and sampling need once its logits are in. A ring of
  // pipeline_depth() of them, sized at load.
  struct StepInFlight {
    std::vector<ScheduledChunk> plan;
    std::vector<SamplingChunk> to_sample;  // the step's sampling chunks, in row order
    std::vector<float> logits;             // one row per sampling chunk
    size_t batch_tokens = 0;
  };
  std::vector<StepInFlight> steps_;
  size_t oldest_step_ = 0, steps_in_flight_ = 0;
  std::vector<TokenLogprob> top_buffer_;
  std::vector<DraftRequest> draft_requests_;  // the step's requests drafted by the draft model
  std::vector<int32_t> refused_;            // sample_constrained's refused draws (capacity reserved)

  // Shared with submitters (mutex_).
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::deque<std::unique_ptr<ActiveRequest>> incoming_;
  size_t scheduler_waiting_ = 0;  // mirror scheduler_->waiting_count() and running_count()
  size_t scheduler_running_ = 0;  // after each step
  bool wake_pending_ = false;
  bool stopping_ = false;
  bool draining_ = false;
  uint64_t next_id_ = 1;

  mutable std::mutex metrics_mutex_;
  ServingMetrics metrics_;

  std::thread thread_;
};

ServingEngineImpl::ServingEngineImpl(const ServingOptions& options) {
  if (options.threads < 0) throw Error("the thread count cannot be negative");
  if (options.context_length < 0) throw Error("the context length cannot be negative");
  if (options.max_sequences <= 0) throw Error("--max-seqs must be positive");
  if (options.max_batch_tokens <= 0) throw Error("the batch size must be positive");
  if (options.kv_blocks < 0) throw Error("the KV block count cannot be negative");
  if (options.max_queue < 0) throw Error("the queue length cannot be negative");
  model_ = Model::load(options.model_path);
  const ModelConfig& config = model_->config();
  tokenizer_ = Tokenizer::from_gguf(model_->file());
  if (tokenizer_->n_vocab() != config.n_vocab)
    throw Error("the tokenizer has " + std::to_string(tokenizer_->n_vocab()) + " tokens but the model " +
                std::to_string(config.n_vocab));
  n_vocab_ = config.n_vocab;
  max_queue_ = options.max_queue;
  if (options.speculative_ngram < 0) throw Error("the n-gram draft length cannot be negative");
  if (options.draft_max <= 0) throw Error("the draft model's draft length must be positive");
  max_ngram_draft_ = options.speculative_ngram;
  max_sequences_ = options.max_sequences;
  int32_t context = options.context_length > 0 ? options.context_length
                                               : std::min(config.context_length, kDefaultContextCap);
  const int32_t context_blocks = (context + kBlockSize - 1) / kBlockSize;
  // An encoder's cache lives for one forward and holds one batch: f16 would save nothing worth
  // its rounding (embeddings are compared at 1e-4), so it keeps f32 unless asked otherwise.
  const bool default_f32 = (options.device == "cuda" && options.gpu_layers != 0) || !config.arch.has_output_head;
  const DType key_type = kv_cache_type_or_default(options.cache_type_k, default_f32);
  const DType value_type = kv_cache_type_or_default(options.cache_type_v, default_f32);
  check_kv_cache_types(key_type, value_type, config.head_dim);
  const uint64_t block_bytes = uint64_t{kBlockSize} * kv_position_bytes(key_type, value_type, config.kv_dim()) *
                               static_cast<uint64_t>(config.n_layer);
  int64_t blocks = options.kv_blocks;
  if (blocks == 0 && options.kv_memory_bytes > 0) blocks = static_cast<int64_t>(options.kv_memory_bytes / block_bytes);
  const bool encoder = !config.arch.has_output_head;
  // An encoder's input comes whole in one forward, so its batch holds at least one full context.
  const int64_t max_batch_tokens = encoder ? std::max(options.max_batch_tokens, context) : options.max_batch_tokens;
  // It keeps no K/V between forwards: room for one full batch (each input may leave part of a
  // block unused) is enough.
  if (blocks == 0 && encoder) blocks = (max_batch_tokens + kBlockSize - 1) / kBlockSize + options.max_sequences;
  if (blocks == 0) blocks = int64_t{context_blocks} * options.max_sequences;
  if (blocks < 2) throw Error("the KV cache needs at least 2 blocks of " + std::to_string(kBlockSize) + " positions",
                              "raise --kv-blocks or --kv-memory");
  blocks = std::min<int64_t>(blocks, 1 << 24);
  // A lone request must always fit, or the scheduler could never run it: cap the context.
  context = static_cast<int32_t>(std::min<int64_t>(context, blocks * kBlockSize));
  context_length_ = context;

  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count();
  pool_ = std::make_unique<ThreadPool>(threads);
  KvCacheOptions cache_options;
  cache_options.block_size = kBlockSize;
  cache_options.n_blocks = static_cast<int32_t>(blocks);
  cache_options.max_sequences = options.max_sequences;
  cache_options.context_length = context;
  cache_options.key_type = key_type;
  cache_options.value_type = value_type;
  cache_ = std::make_unique<KvCache>(config.context_length, cache_options);
  // A step never holds more tokens than all sequences' contexts together.
  const int64_t all_contexts = int64_t{context} * options.max_sequences;
  const auto batch_tokens = static_cast<int32_t>(
      std::max<int64_t>(std::min<int64_t>(max_batch_tokens, all_contexts), options.max_sequences));
  const std::optional<Device> device = device_from_name(options.device);
  if (!device) throw Error("unknown device '" + options.device + "'", "use cpu or cuda");
  transformer_ = make_forward_pass({*device, options.gpu_layers, options.grid}, config, model_->weights(), *pool_, batch_tokens, *cache_);
  scheduler_ = std::make_unique<Scheduler>(*cache_, SchedulerOptions{batch_tokens, options.max_sequences});
  batch_.reserve(static_cast<size_t>(batch_tokens));
  if (!options.draft_model_path.empty()) {
    draft_model_ = std::make_unique<DraftModel>(options.draft_model_path, *tokenizer_, *pool_,
                                                DeviceOptions{*device, options.gpu_layers}, options.max_sequences,
                                                context, options.draft_max);
    max_model_draft_ = options.draft_max;
    draft_requests_.reserve(static_cast<size_t>(options.max_sequences));
  }
  // Each sequence samples from 1 + (its drafts) rows; all rows fit in one batch.
  const int32_t max_draft = std::max(max_ngram_draft_, max_model_draft_);
  const auto logits_rows = std::min<int64_t>(int64_t{options.max_sequences} * (1 + max_draft), batch_tokens);
  steps_.resize(static_cast<size_t>(std::max(1, transformer_->pipeline_depth())));
  for (StepInFlight& step : steps_) {
    if (!encoder)  // an encoder never gives logits
      step.logits.resize(static_cast<size_t>(std::max<int64_t>(logits_rows, options.max_sequences)) *
                         static_cast<size_t>(n_vocab_));
    step.plan.reserve(static_cast<size_t>(options.max_sequences));
    step.to_sample.reserve(static_cast<size_t>(options.max_sequences));
  }
  top_buffer_.resize(SamplingParams::kMaxTopLogprobs);
  refused_.reserve(16);
  active_.reserve(static_cast<size_t>(options.max_sequences) + static_cast<size_t>(options.max_queue));

  if (encoder) embedding_runner_ = std::make_unique<EmbeddingRunner>(config, *transformer_, *cache_);

  const auto token_text = [&](int32_t id) { return id >= 0 ? std::string(tokenizer_->token_text(id)) : std::string(); };
  chat_ = std::make_unique<ChatPrompt>(
      options.chat_template.empty() ? model_->file().get_string("tokenizer.chat_template") : options.chat_template,
      token_text(tokenizer_->bos_id()), token_text(tokenizer_->eos_id()));
  {
    std::vector<std::string> bytes(static_cast<size_t>(n_vocab_)), start_bytes(static_cast<size_t>(n_vocab_));
    std::vector<char> end_of_generation(static_cast<size_t>(n_vocab_));
    for (int32_t id = 0; id < n_vocab_; ++id) {
      bool at_start = false;
      tokenizer_->append_piece(id, true, at_start, bytes[static_cast<size_t>(id)]);
      at_start = true;
      tokenizer_->append_piece(id, true, at_start, start_bytes[static_cast<size_t>(id)]);
      end_of_generation[static_cast<size_t>(id)] = tokenizer_->is_end_of_generation(id) ? 1 : 0;
    }
    grammar_vocabulary_ = std::make_unique<GrammarVocabulary>(std::move(bytes), std::move(start_bytes),
                                                              std::move(end_of_generation));
  }

  summary_.architecture = config.arch.name;
  summary_.name = model_->file().get_string("general.name").value_or("");
  summary_.n_vocab = config.n_vocab;
  summary_.n_embd = config.n_embd;
  summary_.n_layer = config.n_layer;
  summary_.context_length = context_length_;
  summary_.weight_bytes = model_->weights().total_bytes;
  metrics_.kv_blocks_total = blocks;
  thread_ = std::thread([this] { loop(); });
}

SubmitResult ServingEngineImpl::submit(std::vector<int32_t> prompt, const SamplingParams& params) {
  SubmitResult result;
  const auto refuse = [&](SubmitStatus status, std::string message) {
    result.status = status;
    result.message = std::move(message);
    return result;
  };
  if (embedding_runner_)
    return refuse(SubmitStatus::InvalidRequest, "the model is an encoder ('" + summary_.architecture +
                                                    "'): it gives embeddings (POST /v1/embeddings), not text");
  if (prompt.empty()) return refuse(SubmitStatus::InvalidRequest, "the prompt is empty");
  for (int32_t token : prompt)
    if (token < 0 || token >= n_vocab_)
      return refuse(SubmitStatus::InvalidRequest, "token id " + std::to_string(token) + " is outside the vocabulary");
  const auto prompt_length = static_cast<int32_t>(prompt.size());
  if (prompt_length >= context_length_)
    return refuse(SubmitStatus::PromptTooLong, "the prompt has " + std::to_string(prompt_length) +
                                                   " tokens but the context holds " + std::to_string(context_length_) +
                                                   " (with room for at least one generated token)");
  std::unique_ptr<ActiveRequest> request;
  try {
    // A request may lower or turn off speculation; the engine's settings sized the logits rows.
    // A constrained request does not speculate: its drafts would need checking against the grammar.
    const auto lowered = [&](int32_t asked, int32_t engine_max) {
      return !params.grammar.empty() ? 0 : asked < 0 ? engine_max : std::min(asked, engine_max);
    };
    request = std::make_unique<ActiveRequest>(params, *tokenizer_, n_vocab_,  // validates params
                                              lowered(params.speculative_ngram, max_ngram_draft_),
                                              lowered(params.speculative_draft, max_model_draft_));
    if (!params.grammar.empty()) {
      // Parsed and the first mask computed here, in the submitter's thread, not the loop's.
      auto grammar = std::make_shared<const Grammar>(parse_gbnf(params.grammar));
      request->grammar = std::make_unique<GrammarMatcher>(std::move(grammar), *grammar_vocabulary_);
      request->grammar->allowed_tokens();
    }
  } catch (const std::exception& failure) {
    return refuse(SubmitStatus::InvalidRequest, failure.what());
  }
  request->sampler.accept(prompt);  // penalties see the prompt, as in Engine::generate
  request->prompt_length = prompt_length;
  const int32_t room = context_length_ - prompt_length;
  request->budget = params.max_tokens < 0 ? room : std::min(params.max_tokens, room);
  request->budget_is_context = request->budget == room;
  request->tokens = std::move(prompt);
  request->tokens.reserve(static_cast<size_t>(prompt_length + request->budget));
  request->submitted = Clock::now();
  request->channel = std::make_shared<RequestChannel>([this] { wake(); });
  result.stream = request->channel;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return refuse(SubmitStatus::ShuttingDown, "the server is shutting down");
    if (draining_)
      return refuse(SubmitStatus::ShuttingDown, "the server is draining before it stops; retry on another replica");
    // Up to max_sequences run and max_queue more wait: --max-queue 0 still runs requests
    // while a sequence slot is free.
    const size_t admitted = incoming_.size() + scheduler_waiting_ + scheduler_running_;
    if (admitted >= static_cast<size_t>(max_queue_) + static_cast<size_t>(max_sequences_)) {
      std::lock_guard metrics_lock(metrics_mutex_);
      ++metrics_.requests_rejected;
      result.stream.reset();
      return refuse(SubmitStatus::QueueFull, "the request queue is full (" + std::to_string(max_queue_) +
                                                 " waiting); retry later");
    }
    request->id = next_id_++;
    incoming_.push_back(std::move(request));
    // Counted before mutex_ is released, so requests_in_flight() never misses a queued request
    // (a drain waits on it).
    std::lock_guard metrics_lock(metrics_mutex_);
    ++metrics_.requests_submitted;
  }
  work_.notify_one();
  return result;
}

EmbeddingResult ServingEngineImpl::embed(const std::vector<std::vector<int32_t>>& inputs,
                                         const EmbeddingOptions& options) {
  if (!embedding_runner_) {
    EmbeddingResult result;
    result.error = "the model ('" + summary_.architecture + "') is not an embedding model; embeddings need an encoder such as bert";
    return result;
  }
  std::lock_guard lock(embedding_mutex_);
  try {
    return embedding_runner_->embed(inputs, options);
  } catch (const std::exception& failure) {
    EmbeddingResult result;
    result.error = failure.what();
    return result;
  }
}

ServingMetrics ServingEngineImpl::metrics() const {
  std::lock_guard lock(metrics_mutex_);
  return metrics_;
}

void ServingEngineImpl::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

// Moves submitted requests into the scheduler; false when the loop should stop.
bool ServingEngineImpl::take_incoming() {
  std::unique_lock lock(mutex_);
  work_.wait(lock, [&] { return stopping_ || wake_pending_ || !incoming_.empty() || !scheduler_->idle(); });
  wake_pending_ = false;
  if (stopping_) return false;
  while (!incoming_.empty()) {
    active_.push_back(std::move(incoming_.front()));
    incoming_.pop_front();
    scheduler_->add(active_.back().get());
  }
  scheduler_waiting_ = scheduler_->waiting_count();
  scheduler_running_ = scheduler_->running_count();
  return true;
}

void ServingEngineImpl::loop() {
  while (take_incoming()) {
    // A request in flight ends after its step: the forward is still using its cache blocks.
    for (auto& request : active_)
      if (request->channel->cancelled() && !request->in_flight) finish(*request, FinishReason::Cancelled);
    drop_done();
    if (!scheduler_->idle()) {
      try {
        // Fill the pipeline with steps of groups not in flight, then finish the oldest. After a
        // needed drain (scheduler.h) nothing starts until every step in flight has finished.
        while (steps_in_flight_ < steps_.size() && !(scheduler_->needs_drain() && steps_in_flight_ > 0) &&
               scheduler_->schedulable_count() > 0 && start_step()) {
        }
        if (steps_in_flight_ > 0) finish_step();
      } catch (const std::exception&) {
        // A failure while sampling must not kill the server: end the requests it may concern
        // (those not in a forward still running) so the loop cannot spin on them.
        for (auto& request : active_)
          if (request->running && !request->in_flight) finish(*request, FinishReason::Cancelled);
      }
      drop_done();
    }
    std::lock_guard lock(mutex_);
    scheduler_waiting_ = scheduler_->waiting_count();
    scheduler_running_ = scheduler_->running_count();
  }
  // Shutdown: the steps in flight complete (the forward owns their buffers until then), then
  // every request still known ends as cancelled.
  for (; steps_in_flight_ > 0; --steps_in_flight_) {
    transformer_->finish_forward();
    scheduler_->complete(steps_[oldest_step_].plan);
    oldest_step_ = (oldest_step_ + 1) % steps_.size();
  }
  for (auto& request : active_) finish(*request, FinishReason::Cancelled);
  std::deque<std::unique_ptr<ActiveRequest>> never_started;
  {
    std::lock_guard lock(mutex_);
    never_started.swap(incoming_);
  }
  // Outside mutex_: RequestChannel::cancel() holds the channel's lock while waking us.
  for (auto& request : never_started) {
    StreamUpdate outcome;
    outcome.finish_reason = FinishReason::Cancelled;
    outcome.prompt_tokens = request->prompt_length;
    request->channel->finish(outcome);
  }
}

// Drafts for the requests about to decode one token (the scheduler ignores the others'). The
// draft model proposes for all its requests at once, in shared batches.
void ServingEngineImpl::propose_drafts() {
  draft_requests_.clear();
  for (auto& request : active_) {
    if (!request->speculates() || request->in_flight) continue;
    request->draft.clear();
    const auto total = static_cast<int32_t>(request->tokens.size());
    if (!request->running || request->computed != total - 1) continue;
    // Every accepted draft token and the one sampled after them count against the budget.
    const int32_t limit = request->budget - request->generated - 1;
    if (request->ngram) {
      request->ngram->propose(request->tokens, limit, request->draft);
    } else if (const int32_t length = request->model_draft_length->next(limit); length > 0) {
      draft_requests_.push_back({request->id, request->slot, request->tokens, length, &request->draft});
    }
  }
  if (!draft_requests_.empty()) draft_model_->propose(draft_requests_);
}

bool ServingEngineImpl::start_step() {
  propose_drafts();
  // One group of the running requests per pipeline stage (all of them in one process).
  const size_t depth = steps_.size();
  const size_t candidates = std::min(scheduler_->running_count() + scheduler_->waiting_count(),
                                     static_cast<size_t>(max_sequences_));
  const auto group = static_cast<int32_t>((candidates + depth - 1) / depth);
  const std::vector<ScheduledChunk>& plan = scheduler_->schedule(group);
  if (plan.empty()) return false;
  StepInFlight& step = steps_[(oldest_step_ + steps_in_flight_) % depth];
  step.plan.assign(plan.begin(), plan.end());
  step.to_sample.clear();
  batch_.clear();
  for (const ScheduledChunk& chunk : plan) {
    auto* request = static_cast<ActiveRequest*>(chunk.entry);
    const int32_t n_real = chunk.n_tokens - chunk.n_draft;
    for (int32_t i = 0; i < n_real; ++i) {
      const int32_t position = chunk.first + i;
      const bool last = chunk.samples && i + 1 == n_real;
      batch_.add(request->tokens[static_cast<size_t>(position)], position, request->slot, last);
    }
    for (int32_t i = 0; i < chunk.n_draft; ++i)
      batch_.add(request->draft[static_cast<size_t>(i)], chunk.first + n_real + i, request->slot, true);
    if (chunk.samples) step.to_sample.push_back({request, chunk.n_draft});
  }
  step.batch_tokens = batch_.size();
  try {
    transformer_->start_forward(batch_, *cache_, step.logits.data());
  } catch (const std::exception&) {
    // It validates its batch before starting anything: end this step's requests (the
    // scheduler's last plan names them) so the loop cannot spin on them; the others go on.
    for (const ScheduledChunk& chunk : step.plan) finish(*static_cast<ActiveRequest*>(chunk.entry), FinishReason::Cancelled);
    return false;
  }
  ++steps_in_flight_;
  return true;
}

void ServingEngineImpl::finish_step() {
  StepInFlight& step = steps_[oldest_step_];
  oldest_step_ = (oldest_step_ + 1) % steps_.size();
  --steps_in_flight_;
  transformer_->finish_forward();
  scheduler_->complete(step.plan);
  const std::vector<SamplingChunk>& to_sample = step.to_sample;
  const Clock::time_point now = Clock::now();
  {
    // Latencies of the whole step under one lock: the metrics lock is taken per step, not per
    // token. Each sampled request's token arrives at `now`.
    std::lock_guard lock(metrics_mutex_);
    for (const auto& [request, n_draft] : to_sample) {
      if (request->generated == 0)
        metrics_.time_to_first_token.observe(seconds_between(request->submitted, now));
      else
        metrics_.inter_token_latency.observe(seconds_between(request->last_token, now));
    }
  }
  size_t row = 0;
  for (const auto& [request, n_draft] : to_sample) {
    verify(*request, step.logits.data() + row * static_cast<size_t>(n_vocab_), n_draft, now);
    row += static_cast<size_t>(1 + n_draft);
  }

  std::lock_guard lock(metrics_mutex_);
  ++metrics_.forward_steps;
  metrics_.forward_tokens += step.batch_tokens;
  metrics_.preemptions = scheduler_->preemption_count();
  for (const auto& [request, n_draft] : to_sample) report_drafts(*request);
}

// Rows: the logits after the last real token, then after each draft token. Draft i is accepted
// when the token sampled from row i (verifying it) equals it; the first token that differs, or
// the one sampled after the last draft, ends the step's tokens for this request.
int32_t ServingEngineImpl::verify(ActiveRequest& request, const float* logits, int32_t n_draft, Clock::time_point now) {
  ++request.forward_steps;
  // Counted before sampling: sample() may end the request, and its outcome carries the counts.
  request.draft_tokens += n_draft;
  const int32_t accepted_before = request.accepted_draft_tokens;
  for (int32_t i = 0; i <= n_draft; ++i) {
    const int32_t proposed = i < n_draft ? request.draft[static_cast<size_t>(i)] : -1;
    // Ended (end of generation, stop string, budget): an accepted draft still counted.
    if (!sample(request, logits + static_cast<size_t>(i) * static_cast<size_t>(n_vocab_), proposed, now)) break;
    if (proposed < 0 || request.tokens.back() != proposed) break;
  }
  const int32_t accepted = request.accepted_draft_tokens - accepted_before;
  if (n_draft > 0) {
    if (request.ngram)
      request.ngram->record(n_draft, accepted);
    else
      request.model_draft_length->record(n_draft, accepted);
    if (!request.done) scheduler_->accept_draft(&request, accepted);
  }
  return accepted;
}

// A constrained request's token: drawn from the logits with the grammar's mask applied. Where
// no truncation reshapes the distribution (greedy, or top-k/top-p/min-p off) and no logprobs are
// reported, the draw first ignores the mask: a token the grammar accepts is kept, a refused one
// is banned and the draw repeated, at most kMaxRejections times, then the mask is computed. Every
// accepted draw is from p restricted to (allowed + not yet refused) tokens, renormalised, so the
// token follows p(x) / Z over the allowed ones (Z: their mass): exactly the masked distribution,
// and greedy keeps the allowed argmax. Most tokens then need no mask, so grammar states met once
// (counters of minLength/maxItems...) never pay for a vocabulary walk.
// With top-k or min-p sampling (the CLI's and llama.cpp's defaults), the surviving allowed
// tokens are found by asking the grammar about the best tokens in order
// (Sampler::sample_filtered): the same draw as with the mask, and no mask unless the best
// top_k + kTopKTested tokens do not settle it (between JSON tokens few tokens are allowed).
// Returns -1 when the grammar cannot go on (the request is then finished).
int32_t ServingEngineImpl::sample_constrained(ActiveRequest& request, const float* logits) {
  static constexpr size_t kMaxRejections = 8;
  GrammarMatcher& grammar = *request.grammar;
  const SamplingParams& params = request.params;
  const bool draw_first = !params.logprobs && (params.temperature == 0.0f || (params.top_k <= 0 && params.top_p >= 1.0f &&
                                                                             params.min_p <= 0.0f));
  try {
    if (!params.logprobs && params.temperature > 0.0f && (params.top_k > 0 || params.min_p > 0.0f)) {
      struct GrammarFilter final : TokenFilter {
        GrammarMatcher& grammar;
        const Tokenizer& tokenizer;
        GrammarFilter(GrammarMatcher& g, const Tokenizer& t) : grammar(g), tokenizer(t) {}
        bool allows(int32_t token) override {
          return tokenizer.is_end_of_generation(token) ? grammar.can_end() : grammar.allows(token);
        }
      } filter(grammar, *tokenizer_);
      const size_t tested = static_cast<size_t>(std::max(params.top_k, 0)) + kTopKTested;
      if (int32_t token = -1; request.sampler.sample_filtered(logits, filter, tested, token)) {
        if (tokenizer_->is_end_of_generation(token)) return token;  // the filter checked can_end()
        return grammar.accept_token(token) ? token : -1;
      }
    }
    refused_.clear();
    while (draw_first && refused_.size() < kMaxRejections) {
      const int32_t token = request.sampler.sample_verifying(logits, -1, nullptr, refused_);
      if (tokenizer_->is_end_of_generation(token) ? grammar.can_end() : grammar.accept_token(token)) return token;
      if (std::find(refused_.begin(), refused_.end(), token) != refused_.end()) break;  // nothing left to draw
      refused_.push_back(token);
    }
    const int32_t token = request.sampler.sample_verifying(logits, -1, grammar.allowed_tokens());
    if (tokenizer_->is_end_of_generation(token)) return grammar.can_end() ? token : -1;
    // Refused only when the mask left nothing (a grammar no token can continue).
    return grammar.accept_token(token) ? token : -1;
  } catch (const Error&) {  // past the matcher's bounds: end this request only
    return -1;
  }
}

bool ServingEngineImpl::sample(ActiveRequest& request, const float* logits, int32_t proposed, Clock::time_point now) {
  const int32_t token =
      request.grammar ? sample_constrained(request, logits) : request.sampler.sample_verifying(logits, proposed);
  if (request.first_token == Clock::time_point{}) request.first_token = now;
  request.last_token = now;
  if (token < 0 || tokenizer_->is_end_of_generation(token)) {
    finish(request, FinishReason::EndOfGeneration);
    return false;
  }
  const bool grammar_complete = request.grammar && request.grammar->must_end();
  request.sampler.accept(token);
  if (proposed >= 0 && token == proposed) ++request.accepted_draft_tokens;  // before anything can finish it
  request.tokens.push_back(token);
  ++request.generated;
  TokenLogprobs details;
  TokenLogprobs* logprobs = nullptr;
  if (request.params.logprobs) {  // allocates, but only for requests that ask for logprobs
    // Pieces as they continue the text (a SentencePiece word keeps its leading space).
    const auto piece = [&](int32_t id) {
      std::string text;
      bool at_start = false;
      tokenizer_->append_piece(id, false, at_start, text);
      return text;
    };
    details.text = piece(token);
    details.logprob = request.sampler.last_logprob();
    const size_t n = request.sampler.top_logprobs(
        std::span<TokenLogprob>(top_buffer_.data(), static_cast<size_t>(request.params.top_logprobs)));
    for (size_t i = 0; i < n; ++i) details.top.emplace_back(piece(top_buffer_[i].token), top_buffer_[i].logprob);
    logprobs = &details;
  }
  request.channel->append(request.stops.feed(request.detokenizer.push(token)), logprobs);
  if (request.stops.stopped()) {
    finish(request, FinishReason::StopString);
    return false;
  }
  if (grammar_complete) {  // nothing may follow: end as the end-of-generation token would
    finish(request, FinishReason::EndOfGeneration);
    return false;
  }
  if (request.generated >= request.budget) {
    finish(request, request.budget_is_context ? FinishReason::ContextFull : FinishReason::Length);
    return false;
  }
  return true;
}

void ServingEngineImpl::finish(ActiveRequest& request, FinishReason reason) {
  if (request.done) return;
  request.done = true;
  if (reason != FinishReason::StopString && reason != FinishReason::Cancelled) {
    // The held-back tail: incomplete characters and text that could have begun a stop string.
    const std::string tail = request.detokenizer.flush();
    std::string visible(request.stops.feed(tail));
    if (!request.stops.stopped()) visible.append(request.stops.flush());
    request.channel->append(visible, nullptr);
  }
  scheduler_->remove(&request);
  {
    // Metrics first: a client that has its answer must see them include this request.
    std::lock_guard lock(metrics_mutex_);
    if (reason == FinishReason::Cancelled)
      ++metrics_.requests_cancelled;
    else
      ++metrics_.requests_finished;
    metrics_.prompt_tokens += static_cast<uint64_t>(request.prompt_length);
    metrics_.generated_tokens += static_cast<uint64_t>(request.generated);
    metrics_.prefix_cache_hit_tokens += static_cast<uint64_t>(request.prefix_hit_tokens);
    report_drafts(request);
    update_gauges();
  }
  StreamUpdate outcome;
  outcome.finish_reason = reason;
  outcome.prompt_tokens = request.prompt_length;
  outcome.completion_tokens = request.generated;
  outcome.cached_prompt_tokens = request.prefix_hit_tokens;
  outcome.draft_tokens = request.draft_tokens;
  outcome.accepted_draft_tokens = request.accepted_draft_tokens;
  outcome.forward_steps = request.forward_steps;
  const Clock::time_point now = Clock::now();
  const bool sampled = request.first_token != Clock::time_point{};
  outcome.prompt_seconds = seconds_between(request.submitted, sampled ? request.first_token : now);
  outcome.generation_seconds = sampled ? seconds_between(request.first_token, now) : 0.0;
  request.channel->finish(outcome);
}

void ServingEngineImpl::drop_done() {
  std::erase_if(active_, [](const std::unique_ptr<ActiveRequest>& request) { return request->done; });
  std::lock_guard lock(metrics_mutex_);
  update_gauges();
}

void ServingEngineImpl::report_drafts(ActiveRequest& request) {
  metrics_.draft_tokens += static_cast<uint64_t>(request.draft_tokens - request.reported_draft_tokens);
  metrics_.accepted_draft_tokens +=
      static_cast<uint64_t>(request.accepted_draft_tokens - request.reported_accepted_draft_tokens);
  request.reported_draft_tokens = request.draft_tokens;
  request.reported_accepted_draft_tokens = request.accepted_draft_tokens;
}

// Caller holds metrics_mutex_.
void ServingEngineImpl::update_gauges() {
  metrics_.queue_length = static_cast<int64_t>(scheduler_->waiting_count());
  metrics_.running = static_cast<int64_t>(scheduler_->running_count());
  metrics_.kv_blocks_used = cache_->pool().used_count();
  metrics_.kv_blocks_cached = cache_->pool().cached_count();
}

}  // namespace

std::unique_ptr<ServingEngine> ServingEngine::create(const ServingOptions& options) {
  return std::make_unique<ServingEngineImpl>(options);
}

}  // namespace jisu
