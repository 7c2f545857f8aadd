#pragma once
// jisu's serving API: many concurrent requests over one model. A loop thread runs continuous
// batching (scheduler step -> one batch -> one forward -> sampling per sequence) and streams
// each request's text into its RequestStream. Built on this header only, the HTTP server never
// sees backend details.
#include <jisu/embedding.h>
#include <jisu/engine.h>
#include <jisu/sampling_params.h>
#include <jisu/serving_metrics.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <jisu/process_grid.h>

namespace jisu {

struct ServingOptions {
  std::string model_path;
  int32_t threads = 0;            // 0: all cores
  int32_t context_length = 0;     // 0: the model's, capped at 4096
  int32_t max_sequences = 16;     // requests running at once
  int32_t max_batch_tokens = 256; // tokens per forward (prompt chunks + decodes)
  int32_t kv_blocks = 0;          // 0: from kv_memory_bytes, else room for max_sequences contexts
  uint64_t kv_memory_bytes = 0;
  int32_t max_queue = 256;        // requests waiting for admission before submit() refuses
  std::string device = "cpu";     // "cpu" or "cuda" (an error when jisu lacks CUDA or sees no GPU)
  int32_t gpu_layers = -1;        // cuda: layers on the GPU, from the first (< 0: all); the rest on the CPU
  int32_t speculative_ngram = 0;  // speculative decoding by n-gram lookup: most draft tokens per step (0: off)
  std::string draft_model_path;   // speculative decoding by a draft model of the same vocabulary ("": off);
                                  // it takes precedence over n-gram lookup for the requests it serves
  int32_t draft_max = 8;          // the draft model's most draft tokens per step
  std::string chat_template;      // Jinja source replacing the model's chat template ("": the model's own)
  ProcessGrid grid;               // --tp / --pp under mpirun; rank 0 serves, the others follow its steps
  std::string cache_type_k;  // KV cache element types: f32, f16, q8_0 or q4_0; empty: as EngineOptions says
  std::string cache_type_v;
};

// One generated token, when the request asked for logprobs.
struct TokenLogprobs {
  std::string text;                                      // the token's bytes as text
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;        // most likely alternatives
};

// What a consumer receives: text since the last read, then once the final state.
struct StreamUpdate {
  std::string text;
  std::vector<TokenLogprobs> logprobs;  // tokens behind `text`, when asked for
  bool finished = false;
  FinishReason finish_reason = FinishReason::Length;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;  // prompt positions reused from the prefix cache
  // Measured by the loop (the reader may be late): submission to the first sampled token, and
  // from there to the end. Set with `finished`.
  double prompt_seconds = 0;
  double generation_seconds = 0;
  int32_t draft_tokens = 0;           // speculative decoding: proposed ...
  int32_t accepted_draft_tokens = 0;  // ... and accepted
  int32_t forward_steps = 0;          // forwards that sampled for this request
};

// The per-request channel between the engine loop and a consumer thread.
class RequestStream {
 public:
  virtual ~RequestStream() = default;
  // Waits up to `timeout` for news; appends new text/logprobs to `out` and sets the final
  // fields once finished. Returns true when `out` changed.
  virtual bool read(StreamUpdate& out, std::chrono::milliseconds timeout) = 0;
  // Asks the engine to stop this request and free its KV blocks (idempotent).
  virtual void cancel() = 0;
};

enum class SubmitStatus { Accepted, InvalidRequest, PromptTooLong, QueueFull, ShuttingDown };

struct SubmitResult {
  SubmitStatus status = SubmitStatus::Accepted;
  std::string message;  // why, when not accepted
  std::shared_ptr<RequestStream> stream;
};

struct ChatMessage {
  std::string role;
  std::string content;
  // Tool use (OpenAI's fields, passed to the chat template): an assistant message's tool_calls
  // as a JSON array text ("" none), and a tool message's tool_call_id and function name.
  std::string tool_calls_json = {};
  std::string tool_call_id = {};
  std::string name = {};
};

class ServingEngine {
 public:
  static std::unique_ptr<ServingEngine> create(const ServingOptions& options);  // throws on bad options/model
  virtual ~ServingEngine() = default;

  virtual ModelSummary summary() const = 0;
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const = 0;
  virtual std::string detokenize(std::span<const int32_t> tokens) const = 0;
  // The prompt text for a chat: the model's own chat template, ChatML when it has none
  // (src/chat/chat_prompt.h).
  // Returns false and sets `error` when the messages cannot be rendered.
  virtual bool render_chat(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error) const = 0;
  // Whether the chat prompt already starts with BOS text (so tokenizing must not add one).
  virtual bool chat_template_adds_bos() const = 0;
  // The chat's prompt tokens (rendered as render_chat does, BOS handled). Control tokens come
  // only from the template's markup, never from a message's text. False: `error` says why.
  // `tools_json`: OpenAI's `tools` array as JSON text, given to the template as `tools` ("": none).
  virtual bool chat_prompt_tokens(const std::vector<ChatMessage>& messages, std::vector<int32_t>& tokens,
                                  std::string& error, const std::string& tools_json = {}) const = 0;
  // The Jinja chat template in use ("" when the model has none and ChatML is used).
  virtual std::string chat_template_source() const = 0;

  // Queues a request for the loop. Never throws for bad input: the status says what was wrong.
  // An encoder model (is_embedding_model()) refuses it: it cannot generate.
  virtual SubmitResult submit(std::vector<int32_t> prompt, const SamplingParams& params) = 0;

  // Encoder models only (BERT-class): embeddings of each input (token ids, e.g. from
  // tokenize(text, true, false), which adds [CLS] and [SEP]). Inputs are packed into as few
  // forwards as the batch allows, each input whole in one. Thread-safe (callers take turns).
  // Never throws for bad input: the result says what was wrong.
  virtual bool is_embedding_model() const = 0;
  virtual int32_t max_embedding_tokens() const = 0;  // longest input, in tokens (0: not an encoder)
  virtual EmbeddingResult embed(const std::vector<std::vector<int32_t>>& inputs, const EmbeddingOptions& options) = 0;

  virtual ServingMetrics metrics() const = 0;
  // Graceful drain: submit() refuses from now on (ShuttingDown), while queued and running
  // requests go on to their end. Idempotent; shutdown() still ends whatever is left.
  virtual void stop_admitting() = 0;
  // Requests accepted and not yet ended (queued or running).
  virtual uint64_t requests_in_flight() const = 0;
  // Cancels everything and stops the loop; submit() refuses afterwards. Idempotent.
  virtual void shutdown() = 0;
};

}  // namespace jisu
