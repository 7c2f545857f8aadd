#pragma once
// Runs a model over a token stream cut into chunks the way llama.cpp's llama-perplexity and
// llama-imatrix do, so their numbers can be compared one to one:
//  - the text is tokenized once (with BOS when the vocabulary adds it) and cut into
//    n_tokens / n_ctx chunks of n_ctx tokens; the tail that does not fill a chunk is dropped;
//  - each chunk is its own sequence starting at position 0, its first token replaced by BOS
//    when the vocabulary adds BOS;
//  - only the second half is scored: the logits at positions [n_ctx/2, n_ctx - 1) predict the
//    chunk's tokens at [n_ctx/2 + 1, n_ctx).
// Several chunks go into one forward (one sequence each) so every thread is busy.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backends/linear_observer.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::compress {

struct ChunkPlan {
  int32_t n_ctx = 0;
  size_t n_chunks = 0;
  int32_t bos = -1;  // replaces each chunk's first token; -1: the vocabulary adds no BOS
  size_t first_scored() const { return static_cast<size_t>(n_ctx) / 2; }
  size_t scored_per_chunk() const { return static_cast<size_t>(n_ctx) - 1 - first_scored(); }
};

// Chunks of n_tokens tokens for a context of n_ctx; at most max_chunks when > 0. Throws
// jisu::Error with a one-line reason when the text does not fill one chunk.
ChunkPlan plan_chunks(size_t n_tokens, int32_t n_ctx, size_t max_chunks, int32_t bos);

// One scored chunk: `logits` holds scored_per_chunk() rows of n_vocab floats, row r predicting
// `targets[r]`.
struct ScoredChunk {
  size_t index = 0;
  const float* logits = nullptr;
  std::span<const int32_t> targets;
};

struct EvaluationOptions {
  size_t batch_tokens = 2048;  // tokens per forward: max(1, batch / n_ctx) chunks at a time
  bool all_logits = false;     // compute every position's logits (the output layer sees all rows)
  LinearObserver* linear_observer = nullptr;  // sees every linear layer's input rows (imatrix)
  DType cache_key_type = DType::F32;            // KV cache element types (kv/kv_cache.h)
  DType cache_value_type = DType::F32;
};

// Calls on_chunk for every chunk in order. The model runs on the CPU with `pool`.
void evaluate_chunks(const Model& model, ThreadPool& pool, std::span<const int32_t> tokens, const ChunkPlan& plan,
                     const EvaluationOptions& options, const std::function<void(const ScoredChunk&)>& on_chunk);
// The same with weights other than the file's (one tensor swapped for a quantized copy while
// measuring sensitivities, compress/mixed_precision.h); `weights` must outlive the call.
void evaluate_chunks(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool,
                     std::span<const int32_t> tokens, const ChunkPlan& plan, const EvaluationOptions& options,
                     const std::function<void(const ScoredChunk&)>& on_chunk);

// log-softmax of one logits row: log p(token) and the row's log normaliser, in double.
struct LogSoftmax {
  double max_logit = 0;
  double log_sum_exp = 0;  // log sum exp(logit - max_logit)
  double log_probability(float logit) const { return logit - max_logit - log_sum_exp; }
};
LogSoftmax log_softmax(std::span<const float> logits);

// Running negative log-likelihood sums, reported as llama-perplexity reports them.
struct PerplexityAccumulator {
  double nll = 0, nll2 = 0;
  size_t count = 0;
  void add(double negative_log_likelihood) {
    nll += negative_log_likelihood;
    nll2 += negative_log_likelihood * negative_log_likelihood;
    ++count;
  }
  double perplexity() const;
  // Standard error of the perplexity (delta method on the mean NLL).
  double perplexity_error() const;
};

}  // namespace jisu::compress
