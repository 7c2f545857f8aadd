#pragma once
// What every backend's forward pass offers the runtime and the CLI: one batched forward over a
// paged KV cache. The CPU Transformer and the CUDA backend both implement it, so callers pick a
// device once (models/forward_factory.h) and never branch on it again.
#include <cstdint>

#include "runtime/batch.h"
#include "runtime/kv_cache.h"

namespace jisu {

class ForwardPass {
 public:
  virtual ~ForwardPass() = default;
  virtual int32_t max_batch_tokens() const = 0;
  // Evaluates `batch` (size <= max_batch_tokens), appending its K/V to each sequence's cache,
  // and writes n_vocab logits for each token with wants_logits, in batch order, to `logits`
  // (host memory). Throws jisu::Error for invalid batches or a full cache.
  virtual void forward(const Batch& batch, KvCache& cache, float* logits) = 0;
};

}  // namespace jisu
