#pragma once
// The one transformer: every supported architecture runs through forward(), steered by the
// ModelConfig (dims, RoPE style, activation) and by which tensors the weights contain (fused
// QKV, biases, MoE). The input is always a Batch of tokens from any number of sequences.
//
// Buffers are planned once for max_batch_tokens in an arena; forward() does not allocate.
#include <cstdint>
#include <memory>

#include "backends/cpu/int8_matmul.h"
#include "core/arena.h"
#include "core/thread_pool.h"
#include "models/forward_pass.h"
#include "models/model_config.h"
#include "models/model_weights.h"
#include "models/rope.h"
#include "runtime/batch.h"
#include "runtime/kv_cache.h"

namespace jisu {

class Transformer final : public ForwardPass {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens);

  int32_t max_batch_tokens() const override { return max_batch_tokens_; }

  // Evaluates `batch` (size <= max_batch_tokens), appending its K/V to each sequence's cache.
  // Writes n_vocab logits for each token with wants_logits, in batch order, to `logits`.
  // Throws jisu::Error for a token id outside the vocabulary, positions that do not continue
  // their sequence, or a full cache (nothing is appended then).
  void forward(const Batch& batch, KvCache& cache, float* logits) override;
  // Heterogeneous split (the CUDA backend runs the first layers): runs layers
  // [first_layer, n_layer) and the output head on `hidden` ([batch size][n_embd], the residual
  // stream after layer first_layer - 1) instead of the embedding; otherwise as forward().
  void forward_from_layer(const Batch& batch, KvCache& cache, int32_t first_layer, const float* hidden, float* logits);

 private:
  struct Buffers {
    float* hidden;       // [tokens][n_embd] residual stream
    float* normed;       // [tokens][n_embd]
    float* qkv;          // [tokens][q_dim + 2 kv_dim]
    float* attention;    // [tokens][q_dim]
    float* projected;    // [tokens][n_embd]
    float* gate;         // [tokens][2 n_ff]: gate (and up, when fused)
    float* up;           // [tokens][n_ff]
    float* rope;         // [tokens][rope dims] (cos, sin) pairs
    uint8_t* quantized;  // [tokens][quantized_stride_ bytes]: int8 copy of a linear's input
    // Mixture of experts
    float* router;            // [tokens][n_expert]
    int32_t* chosen_expert;   // [tokens][n_expert_used]
    float* chosen_weight;     // [tokens][n_expert_used]
    int32_t* expert_rows;     // [tokens]: (token * n_used + slot) routed to the current expert
    float* expert_input;      // [tokens][n_embd] gathered inputs of one expert
    float* expert_output;     // [tokens * n_expert_used][n_embd]
  };

  void layers_and_head(const Batch& batch, KvCache& cache, int32_t first_layer, float* logits);
  void attention_block(int32_t layer, const Batch& batch, KvCache& cache);
  void feed_forward_block(int32_t layer, size_t n_tokens);
  void mixture_of_experts_block(int32_t layer, size_t n_tokens);
  // SameInput: x is the input of the previous linear call, unchanged since (its int8 copy is
  // reused when the formats agree).
  enum class Input { Fresh, SameInput };
  void linear(const WeightMatrix& weight, const float* x, size_t x_stride, size_t n_tokens, float* y, size_t y_stride,
              Input input = Input::Fresh);
  // The int8 activation layouts: blocks of 32 (cpu::ActivationBlock) or super-blocks of 256
  // (cpu::ActivationSuperBlock, for the K-quants).
  enum class ActivationFormat { Blocks, SuperBlocks };
  void quantize_input(const float* x, size_t x_stride, size_t n_tokens, size_t cols, Input input, ActivationFormat format);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  ThreadPool& pool_;
  int32_t max_batch_tokens_;
  RopeTable rope_table_;
  std::unique_ptr<Arena> arena_;
  Buffers buffers_{};
  size_t qkv_stride_;
  size_t quantized_stride_ = 0;  // bytes per token row of buffers_.quantized
  // What buffers_.quantized holds now (see quantize_input).
  const float* quantized_source_ = nullptr;
  size_t quantized_cols_ = 0, quantized_tokens_ = 0;
  ActivationFormat quantized_format_ = ActivationFormat::Blocks;
};

}  // namespace jisu
