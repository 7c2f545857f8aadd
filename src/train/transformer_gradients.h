#pragma once
// Forward and backward of the llama layer sequence over a batch of n_seq sequences of seq_len
// tokens each (every sequence starts at position 0), for training. float for training, double
// for the finite-difference tests; the same code for both.
//
//   x = token_embd[tokens]
//   per layer: x += Wo * attention(rope(Wq n), rope(Wk n), Wv n), n = rms_norm(x) * attn_norm
//              x += Wdown * (silu(Wgate m) * Wup m),             m = rms_norm(x) * ffn_norm
//   logits = output * (rms_norm(x) * output_norm)        (output = token_embd when tied)
//
// Usage: forward(params, tokens); fill logits_gradient() from a loss; backward(params, grads)
// adds d loss / d params into grads (gradient accumulation is calling it again).
#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "train/train_shape.h"
#include "train/train_ops.h"

namespace jisu::train {

template <class T>
class TransformerGradients {
 public:
  TransformerGradients(const TrainShape& shape, size_t n_seq, size_t seq_len, ThreadPool* pool);
  ~TransformerGradients();

  const ParameterLayout& layout() const { return layout_; }
  size_t n_tokens() const { return n_seq_ * seq_len_; }

  void forward(const T* params, const int32_t* tokens);
  const T* logits() const;         // [n_tokens, n_vocab], after forward()
  T* logits_gradient();            // [n_tokens, n_vocab], filled by the caller before backward()
  void backward(const T* params, T* grads);
  // d loss / d (embedding vector looked up at position t), [n_tokens, dim], after backward():
  // one row per occurrence, before backward() scatters the rows into the table's gradient
  // (the importance of the embedding's columns needs the per-occurrence squares).
  const T* embedding_output_gradient() const;

 private:
  struct Activations;
  TrainShape shape_;
  ParameterLayout layout_;
  size_t n_seq_, seq_len_;
  ThreadPool* pool_;
  std::vector<int32_t> tokens_;
  std::vector<T> rope_table_;
  std::unique_ptr<Activations> act_;
};

}  // namespace jisu::train
