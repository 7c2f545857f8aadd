#pragma once
// jisu's public C++ API: load a model, generate text from a prompt with streaming output.
// Built on this header only, a program (the CLI, the server) never sees backend details.
#include <jisu/sampling_params.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <jisu/process_grid.h>

namespace jisu {

struct EngineOptions {
  std::string model_path;
  int32_t threads = 0;             // 0: all cores available to the process
  int32_t context_length = 0;      // 0: the model's (capped at 4096 to bound KV memory)
  int32_t max_batch_tokens = 256;  // prompt tokens evaluated per forward
  std::string device = "cpu";      // "cpu" or "cuda" (an error when jisu lacks CUDA or sees no GPU)
  int32_t gpu_layers = -1;         // cuda: layers on the GPU, from the first (< 0: all); the rest run on the CPU
  int32_t speculative_ngram = 0;   // speculative decoding by n-gram lookup: most draft tokens per step (0: off)
  std::string draft_model_path;    // speculative decoding by a draft model of the same vocabulary ("": off)
  int32_t draft_max = 8;           // the draft model's most draft tokens per step
  ProcessGrid grid;                // --tp / --pp under mpirun
  // KV cache element types: f32, f16, q8_0 or q4_0; empty: f16 (llama.cpp's default too; no
  // measurable loss against f32 on the demo model, docs/quantization.md, at half the bytes),
  // f32 with the cuda device, whose cache stores f32 only.
  std::string cache_type_k;
  std::string cache_type_v;
};

struct ModelSummary {
  std::string architecture;
  std::string name;
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t context_length = 0;
  uint64_t weight_bytes = 0;
};

enum class FinishReason { Length, EndOfGeneration, StopString, ContextFull, Cancelled };
std::string_view finish_reason_name(FinishReason reason);

struct GenerationResult {
  std::string text;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // generated tokens (an end-of-generation token is not counted)
  FinishReason finish_reason = FinishReason::Length;
  double prompt_seconds = 0;      // from submission to the first sampled token
  double generation_seconds = 0;  // from the first sampled token to the end
  int32_t draft_tokens = 0;       // speculative decoding: tokens proposed ...
  int32_t accepted_draft_tokens = 0;  // ... and accepted
  int32_t forward_steps = 0;      // forwards that sampled for this request (tokens per forward = completion / steps)
};

// Receives each piece of generated text as soon as it is valid UTF-8 and clear of any stop
// string; returning false cancels the generation.
using TextCallback = std::function<bool(std::string_view piece)>;

// One prompt at a time, blocking: a client of the serving engine's loop (one loop for the CLI
// and the server) with room for one sequence.
class Engine {
 public:
  static std::unique_ptr<Engine> create(const EngineOptions& options);  // throws jisu::Error
  ~Engine();

  ModelSummary summary() const;
  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true, bool parse_special = false) const;
  std::string detokenize(std::span<const int32_t> tokens) const;

  // Generates a continuation of `prompt`. params.max_tokens < 0 means until the context is full.
  GenerationResult generate(std::string_view prompt, const SamplingParams& params, const TextCallback& on_text = {});
  GenerationResult generate_from_tokens(std::span<const int32_t> prompt, const SamplingParams& params,
                                        const TextCallback& on_text = {});

 private:
  Engine();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace jisu
