#pragma once
// Which layers each pipeline stage of the grid holds (`--pp M`): contiguous ranges that balance
// the stages' work. A stage's work per token is taken as the bytes of weight it multiplies by:
// its layers' matrices (for a mixture of experts, the share of the experts a token uses) and,
// on the last stage, the output layer; the token embedding is a row lookup and costs nothing.
// Weight bytes are what a decode or small-batch step streams, and they weigh a quantized layer
// by what it costs. (Attention over the cache, equal per layer, is not counted: at serving
// context lengths it is small beside the matrices.)
#include <cstdint>
#include <vector>

#include "models/model_config.h"
#include "models/model_weights.h"
#include "parallel/shard_plan.h"

namespace jisu {

// Bytes of weight one token multiplies by in each layer.
std::vector<uint64_t> layer_weight_costs(const ModelConfig& config, const ModelWeights& weights);

// Stage `stage` of `stages`' layers for a grid of `tensor_size` ranks per stage (each rank
// holds 1/tensor_size of every layer, and of the output layer when the vocabulary divides;
// models/tensor_shards.h). The same on every rank for the same model (the caller checked
// 1 <= stages <= n_layer).
ShardRange pipeline_stage_layers(const ModelConfig& config, const ModelWeights& weights, int tensor_size, int stage,
                                 int stages);

}  // namespace jisu
