#include "compress/chunked_evaluation.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kv/kv_cache.h"
#include "models/forward_factory.h"

namespace jisu::compress {

ChunkPlan plan_chunks(size_t n_tokens, int32_t n_ctx, size_t max_chunks, int32_t bos) {
  if (n_ctx < 4) throw Error("the context (-c) must be at least 4 tokens, got " + std::to_string(n_ctx));
  ChunkPlan plan;
  plan.n_ctx = n_ctx;
  plan.bos = bos;
  plan.n_chunks = n_tokens / static_cast<size_t>(n_ctx);
  if (max_chunks > 0) plan.n_chunks = std::min(plan.n_chunks, max_chunks);
  if (plan.n_chunks == 0)
    throw Error("the text has " + std::to_string(n_tokens) + " tokens, fewer than one chunk of " +
                std::to_string(n_ctx), "give a longer text or a smaller -c");
  return plan;
}

void evaluate_chunks(const Model& model, ThreadPool& pool, std::span<const int32_t> tokens, const ChunkPlan& plan,
                     const EvaluationOptions& options, const std::function<void(const ScoredChunk&)>& on_chunk) {
  evaluate_chunks(model.config(), model.weights(), pool, tokens, plan, options, on_chunk);
}

void evaluate_chunks(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool,
                     std::span<const int32_t> tokens, const ChunkPlan& plan, const EvaluationOptions& options,
                     const std::function<void(const ScoredChunk&)>& on_chunk) {
  const auto n_ctx = static_cast<size_t>(plan.n_ctx);
  const size_t per_batch = std::max<size_t>(1, options.batch_tokens / n_ctx);
  const size_t n_seq = std::min(per_batch, plan.n_chunks);
  const auto n_vocab = static_cast<size_t>(config.n_vocab);
  KvCacheOptions cache_options;
  cache_options.context_length = plan.n_ctx;
  cache_options.max_sequences = static_cast<int32_t>(n_seq);
  cache_options.key_type = options.cache_key_type;
  cache_options.value_type = options.cache_value_type;
  KvCache cache(std::max(config.context_length, plan.n_ctx), cache_options);
  const auto forward = make_forward_pass({Device::Cpu, -1}, config, weights, pool,
                                         static_cast<int32_t>(n_seq * n_ctx), cache);
  if (options.linear_observer) forward->set_linear_observer(options.linear_observer);
  const size_t first = plan.first_scored(), scored = plan.scored_per_chunk();
  const size_t logits_per_chunk = options.all_logits ? n_ctx : scored;
  std::vector<float> logits(n_seq * logits_per_chunk * n_vocab);
  Batch batch(n_seq * n_ctx);
  for (size_t chunk = 0; chunk < plan.n_chunks; chunk += n_seq) {
    const size_t in_batch = std::min(n_seq, plan.n_chunks - chunk);
    batch.clear();
    for (size_t s = 0; s < in_batch; ++s) {
      const int32_t* chunk_tokens = tokens.data() + (chunk + s) * n_ctx;
      for (size_t p = 0; p < n_ctx; ++p) {
        const int32_t token = p == 0 && plan.bos >= 0 ? plan.bos : chunk_tokens[p];
        const bool wanted = options.all_logits || (p >= first && p < first + scored);
        batch.add(token, static_cast<int32_t>(p), static_cast<int32_t>(s), wanted);
      }
    }
    forward->forward(batch, cache, logits.data());
    for (size_t s = 0; s < in_batch; ++s) {
      const size_t index = chunk + s;
      const float* chunk_logits = logits.data() + s * logits_per_chunk * n_vocab;
      if (options.all_logits) chunk_logits += first * n_vocab;
      on_chunk({index, chunk_logits, tokens.subspan(index * n_ctx + first + 1, scored)});
      cache.release(static_cast<int32_t>(s));
    }
  }
}

LogSoftmax log_softmax(std::span<const float> logits) {
  LogSoftmax result;
  float max_logit = logits[0];
  for (const float logit : logits) max_logit = std::max(max_logit, logit);
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  result.max_logit = max_logit;
  result.log_sum_exp = std::log(sum);
  return result;
}

double PerplexityAccumulator::perplexity() const { return count ? std::exp(nll / static_cast<double>(count)) : 0.0; }

double PerplexityAccumulator::perplexity_error() const {
  if (count < 2) return 0;
  const double mean = nll / static_cast<double>(count);
  const double variance = nll2 / static_cast<double>(count) - mean * mean;
  return variance > 0 ? std::sqrt(variance / static_cast<double>(count - 1)) * perplexity() : 0.0;
}

}  // namespace jisu::compress
