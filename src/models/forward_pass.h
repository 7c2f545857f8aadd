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
  // Steps that may usefully be in flight at once: a pipeline of M stages works on M steps of
  // disjoint sequences (stage 0 on the newest while the last stage finishes the oldest). One
  // for a pass that computes a step whole before returning.
  virtual int32_t pipeline_depth() const { return 1; }
  // forward() in two halves, so that the caller can start the next step (of other sequences)
  // before this one's logits exist: start_forward validates the batch, appends its K/V (as
  // forward does, the cache's lengths included) and starts the computation; finish_forward
  // waits until the oldest started step's logits are in the `logits` given to its start.
  // `batch` may be reused once start_forward returns; `logits` not before its finish. At most
  // pipeline_depth() steps are in flight; their sequences must be disjoint.
  virtual void start_forward(const Batch& batch, KvCache& cache, float* logits) { forward(batch, cache, logits); }
  virtual void finish_forward() {}
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
