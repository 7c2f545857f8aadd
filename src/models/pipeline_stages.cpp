#include "models/pipeline_stages.h"

#include "core/error.h"

namespace jisu {
namespace {

uint64_t matrix_bytes(const WeightMatrix& matrix) {
  if (matrix.low_rank) return matrix_bytes(matrix.low_rank->a) + matrix_bytes(matrix.low_rank->b);
  return matrix.present() ? matrix.bytes() : 0;
}

}  // namespace

std::vector<uint64_t> layer_weight_costs(const ModelConfig& config, const ModelWeights& weights) {
  std::vector<uint64_t> costs;
  costs.reserve(weights.layers.size());
  for (const LayerWeights& layer : weights.layers) {
    uint64_t bytes = 0;
    for (const WeightMatrix* matrix : {&layer.wq, &layer.wk, &layer.wv, &layer.wqkv, &layer.wo, &layer.ffn_gate,
                                       &layer.ffn_up, &layer.ffn_gate_up, &layer.ffn_down, &layer.ffn_router})
      bytes += matrix_bytes(*matrix);
    uint64_t experts = 0;
    for (const WeightMatrix* matrix : {&layer.experts_gate, &layer.experts_up, &layer.experts_down})
      experts += matrix_bytes(*matrix);
    if (experts > 0 && config.n_expert > 0)
      bytes += experts * static_cast<uint64_t>(config.n_expert_used) / static_cast<uint64_t>(config.n_expert);
    costs.push_back(bytes);
  }
  return costs;
}

ShardRange pipeline_stage_layers(const ModelConfig& config, const ModelWeights& weights, int tensor_size, int stage,
                                 int stages) {
  JISU_ASSERT(static_cast<int64_t>(weights.layers.size()) == config.n_layer && stage >= 0 && stage < stages);
  const std::vector<uint64_t> costs = layer_weight_costs(config, weights);
  // Per tensor rank every layer costs 1/tensor_size; so does the output layer when the
  // vocabulary divides, else each rank multiplies by all of it.
  uint64_t head = matrix_bytes(weights.output);
  if (config.n_vocab % tensor_size != 0) head *= static_cast<uint64_t>(tensor_size);
  return balanced_layer_ranges(costs, head, stages)[static_cast<size_t>(stage)];
}

}  // namespace jisu
