#pragma once
// What the model offers the runtime and the CLI: one batched forward over a paged KV cache.
// The Transformer implements it over any mix of backends, so callers pick a device once
// (models/forward_factory.h) and never branch on it again.
#include <cstddef>
#include <cstdint>

#include "backends/linear_observer.h"
#include "kv/batch.h"
#include "kv/kv_cache.h"

namespace jisu {

class ForwardPass {
 public:
  virtual ~ForwardPass() = default;
  virtual int32_t max_batch_tokens() const = 0;
  // Evaluates `batch` (size <= max_batch_tokens), appending its K/V to each sequence's cache,
  // and writes n_vocab logits for each token with wants_logits, in batch order, to `logits`
  // (host memory). Throws jisu::Error for invalid batches or a full cache.
  // Throws for an encoder (a model without an output head).
  virtual void forward(const Batch& batch, KvCache& cache, float* logits) = 0;
  // As forward, but writes the final hidden state of every token of the batch (n_embd floats
  // each, in batch order; after the output norm where the model has one) instead of logits: what
  // an encoder's embeddings are pooled from. A non-causal model sees each sequence only within
  // this batch, so every input must come whole.
  virtual void forward_hidden(const Batch& batch, KvCache& cache, float* hidden) = 0;
  // Bytes the backends made of the weights at load (repacked or device copies), and the time
  // preparing the weights took.
  virtual size_t prepared_weight_bytes() const = 0;
  virtual double prepare_ms() const = 0;
  // Shows `observer` every linear layer's input rows from now on (null: stop); throws
  // jisu::Error when a backend in use cannot.
  virtual void set_linear_observer(LinearObserver* observer) = 0;
};

}  // namespace jisu
