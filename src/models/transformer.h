#pragma once
// The one transformer: every supported architecture and every device run through forward(),
// steered by the ModelConfig (dims, RoPE style, activation, and the architecture's norm kind and
// placement, positions, causality and output head) and by which tensors the weights contain
// (fused QKV, biases, ungated FFN, MoE). The input is always a Batch of tokens from any number of
// sequences. The steps are written here once and call backends/backend.h only; which backend
// runs which layers is a list of stages (e.g. layers [0, N) on CUDA, the rest on the CPU), with
// one hidden-state copy through the host between two stages.
//
// Buffers are planned once for max_batch_tokens; forward() does not allocate.
#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "backends/rope.h"
#include "models/forward_pass.h"
#include "models/model_config.h"
#include "models/model_weights.h"

namespace jisu {

// Layers [first_layer, first_layer + n_layers) on `backend`; the last stage also runs the
// output head, the first the token embedding.
struct Stage {
  std::unique_ptr<Backend> backend;
  int32_t n_layers = 0;
};

class Transformer final : public ForwardPass {
 public:
  // Stages cover layers [first_layer, n_layer or less) in order: every layer for one process,
  // a pipeline stage's contiguous range in a grid (models/grid_forward.h). Only the process
  // holding layer 0 embeds tokens and only the one holding the last layer runs the output
  // head. Prepares each stage's weights, buffers and K/V storage for `cache`'s geometry.
  // Throws jisu::Error when a backend refuses the model.
  Transformer(const ModelConfig& config, const ModelWeights& weights, std::vector<Stage> stages,
              int32_t max_batch_tokens, const KvCache& cache, int32_t first_layer = 0);
  ~Transformer() override;

  int32_t max_batch_tokens() const override { return max_batch_tokens_; }
  void forward(const Batch& batch, KvCache& cache, float* logits) override;
  void forward_hidden(const Batch& batch, KvCache& cache, float* hidden) override;
  size_t prepared_weight_bytes() const override;
  double prepare_ms() const override { return prepare_ms_; }
  void set_linear_observer(LinearObserver* observer) override;

  // This process's layers over `part`, a batch (or a pipeline micro-batch of one) that the
  // caller validated and reserved in the cache; lengths are not updated. hidden_in: rows
  // [tokens][n_embd] from the previous pipeline stage (null: embed the tokens). hidden_out:
  // where the rows go for the next stage (null: run the output head, the logits of the tokens
  // that want them to `logits`).
  void run_part(const Batch& part, const KvCache& cache, const float* hidden_in, float* hidden_out, float* logits);

 private:
  struct PreparedLayer;
  struct PreparedStage;

  struct NormWeights {
    const float* weight = nullptr;
    const float* bias = nullptr;  // LayerNorm only
  };

  void prepare_stage(PreparedStage& stage, bool first, bool last);
  // Runs every stage over the batch; then the last writes logits, or hidden states when
  // `logits` is null.
  void run(const Batch& batch, KvCache& cache, float* logits, float* hidden);
  void run_layer(PreparedStage& stage, int32_t layer_index, size_t n);
  // hidden += delta (when delta.data), then out = norm(hidden) (when out.data), with the
  // architecture's kind of norm.
  void add_norm(Backend& backend, Activations hidden, Activations delta, const NormWeights& norm, Activations out) const;
  void output_head(PreparedStage& stage, float* logits);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  int32_t max_batch_tokens_;
  KvGeometry kv_geometry_;
  RopeTable rope_table_;
  std::vector<float> rope_cos_sin_;       // [tokens][rope dims], host
  std::vector<float> hidden_transfer_;    // [tokens][n_embd], host: between stages
  std::vector<PreparedStage> stages_;
  int32_t first_layer_ = 0, end_layer_ = 0;
  double prepare_ms_ = 0;
};

}  // namespace jisu
