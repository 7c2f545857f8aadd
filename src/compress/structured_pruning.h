#pragma once
// Structured (width and depth) pruning in the manner of Minitron (Muralidharan et al., 2024):
// whole FFN neurons, whole attention KV groups (a KV head with its query heads) and whole
// layers are removed by their activation importance over a calibration text, and the result is
// written as a smaller dense model in standard GGUF (same architecture, smaller
// feed_forward_length / head_count / head_count_kv / block_count), which any engine runs.
//
// Importance (from the importance matrix, compress/importance_matrix.h: the sum over calibration
// tokens of each input column's squared activation x_c^2 of a linear W):
//   column score s_c = sum_tokens x_c^2 * ||W[:, c]||^2  (the squared output the column makes,
//   were the columns orthogonal);
//   FFN neuron i of layer l: s_i of ffn_down (its input is the GLU output);
//   KV group g of layer l: the sum of s_c of attn_output over the columns of its query heads;
//   layer l: the sum of every s_c of its attn_output and ffn_down, relative to the same sum of
//   every layer (the size of the layer's updates to the residual stream).
// Every layer keeps the same number of neurons and of KV groups (Minitron's uniform width), so
// the metadata stays scalar; the least important in each layer go.
#include <cstdint>
#include <string>
#include <vector>

#include "compress/importance_matrix.h"
#include "models/model.h"

namespace jisu::compress {

struct StructuredPruneOptions {
  std::string output;
  double ffn_keep = 1;               // fraction of FFN neurons kept, in (0, 1]
  double heads_keep = 1;             // fraction of KV groups (with their query heads) kept, in (0, 1]
  int32_t drop_layer_count = 0;      // drop this many least important layers, or
  std::vector<int32_t> drop_layers;  // these layers
};

struct StructuredPlan {
  std::vector<int32_t> kept_layers;                 // ascending, original indices
  std::vector<std::vector<int32_t>> kept_neurons;   // per original layer, ascending
  std::vector<std::vector<int32_t>> kept_kv_groups; // per original layer, ascending
  int32_t n_ff = 0, n_head = 0, n_head_kv = 0;      // the pruned model's
};

// Validates the options against the model (one-line jisu::Error: a fraction outside (0, 1], a
// layer out of range or repeated, every layer dropped, a model it cannot prune: MoE, fused QKV
// or gate/up, quantized weights) and chooses what stays. FFN sizes are multiples of 32 when the
// model's is, so the pruned model quantizes like the original.
void check_structured_pruning(const Model& model, const StructuredPruneOptions& options);
StructuredPlan plan_structured_pruning(const Model& model, const ImportanceMatrix& importance,
                                       const StructuredPruneOptions& options);

// Writes the pruned model atomically (no file on error).
void write_structured_model(const Model& model, const StructuredPlan& plan, const std::string& output);

}  // namespace jisu::compress
