#pragma once
// Embeddings from an encoder's forward pass: packs whole inputs into batches (each input its own
// sequence slot, positions from 0), runs forward_hidden once per batch, pools each input's rows
// and normalises, then frees the slots. Buffers are sized once; one caller at a time.
#include <jisu/embedding.h>

#include <cstdint>
#include <vector>

#include "kv/batch.h"
#include "kv/kv_cache.h"
#include "models/forward_pass.h"
#include "models/model_config.h"

namespace jisu {

// out = pooled rows (n_rows x dims, row-major) as `pooling` says (not ModelDefault), each
// resulting vector scaled to L2 norm 1 when `normalize` (an all-zero vector stays zero).
void pool_embedding(EmbeddingPooling pooling, const float* rows, size_t n_rows, size_t dims, bool normalize,
                    std::vector<float>& out);

class EmbeddingRunner {
 public:
  // `cache` must be empty and stay reserved for this runner.
  EmbeddingRunner(const ModelConfig& config, ForwardPass& forward, KvCache& cache);

  // The longest input: the model's positions, the cache's context and the batch all bound it.
  int32_t max_input_tokens() const { return max_input_tokens_; }
  EmbeddingResult embed(const std::vector<std::vector<int32_t>>& inputs, const EmbeddingOptions& options);

 private:
  const ModelConfig& config_;
  ForwardPass& forward_;
  KvCache& cache_;
  int32_t max_input_tokens_ = 0;
  Batch batch_;
  std::vector<float> hidden_;  // [max batch tokens][n_embd]
};

}  // namespace jisu
