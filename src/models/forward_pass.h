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
  virtual void forward(const Batch& batch, KvCache& cache, float* logits) = 0;
  // Bytes the backends made of the weights at load (repacked or device copies), and the time
  // preparing the weights took.
  virtual size_t prepared_weight_bytes() const = 0;
  virtual double prepare_ms() const = 0;
  // Shows `observer` every linear layer's input rows from now on (null: stop); throws
  // jisu::Error when a backend in use cannot.
  virtual void set_linear_observer(LinearObserver* observer) = 0;
};

}  // namespace jisu
