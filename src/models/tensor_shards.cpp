#include "models/tensor_shards.h"

#include <string>

#include "core/error.h"

namespace jisu {

void check_tensor_split(const ModelConfig& config, int size) {
  const auto refuse = [&](const char* what, int32_t value) {
    throw Error("--tp " + std::to_string(size) + " does not divide the model's " + what + " (" + std::to_string(value) + ")",
                "pick a --tp that divides the query heads, KV heads and FFN width");
  };
  if (size == 1) return;
  if (config.is_moe())
    throw Error("--tp does not split mixture-of-experts layers yet", "use --pp to split this model's layers");
  if (config.n_head % size != 0) refuse("query heads", config.n_head);
  if (config.n_head_kv % size != 0) refuse("KV heads", config.n_head_kv);
  if (config.n_ff % size != 0) refuse("FFN width", config.n_ff);
}

std::unique_ptr<TensorShard> make_tensor_shard(const ModelConfig& config, const ModelWeights& weights, int rank,
                                               int size, ShardRange layers) {
  check_tensor_split(config, size);
  auto shard = std::make_unique<TensorShard>();
  shard->config = config;
  shard->weights = weights;
  if (size == 1) return shard;
  // Not split yet: an encoder's output and FFN biases (they would be added once per rank before
  // the all-reduce) and low-rank pairs (their factors would need their own split).
  if (!config.arch.has_output_head)
    throw Error("--tp does not split encoder (" + std::string(config.arch.name) + ") models yet", "run without --tp");
  for (const LayerWeights& layer : weights.layers)
    for (const WeightMatrix* matrix : {&layer.wq, &layer.wk, &layer.wv, &layer.wqkv, &layer.wo, &layer.ffn_gate,
                                       &layer.ffn_up, &layer.ffn_gate_up, &layer.ffn_down})
      if (matrix->row_scales)
        throw Error("--tp does not split i8_row matrices (their row scales) yet: '" + matrix->name + "' is one",
                    "run without --tp, or quantize to Q8_0");
      else if (matrix->low_rank)
        throw Error("--tp does not split low-rank pairs (jisu lowrank) yet: '" + matrix->name + "' is one",
                    "run without --tp, or write a dense twin with jisu lowrank --dense-output");
  ModelConfig& local = shard->config;
  local.n_head /= size;
  local.n_head_kv /= size;
  local.n_ff /= size;
  const ShardRange q = equal_part(config.q_dim(), rank, size), kv = equal_part(config.kv_dim(), rank, size);
  const ShardRange ff = equal_part(config.n_ff, rank, size);
  const int64_t q_dim = config.q_dim(), kv_dim = config.kv_dim();
  for (int64_t index = layers.first; index < layers.end(); ++index) {
    const LayerWeights& source = weights.layers[static_cast<size_t>(index)];
    LayerWeights& layer = shard->weights.layers[static_cast<size_t>(index)];
    auto rows = [&](const WeightMatrix& matrix, std::initializer_list<ShardRange> ranges) {
      return matrix.present() ? gather_rows(matrix, std::span(ranges.begin(), ranges.size()), shard->copies) : matrix;
    };
    layer.wq = rows(source.wq, {q});
    layer.wk = rows(source.wk, {kv});
    layer.wv = rows(source.wv, {kv});
    layer.wqkv = rows(source.wqkv, {q, {q_dim + kv.first, kv.count}, {q_dim + kv_dim + kv.first, kv.count}});
    layer.bq = slice_values(source.bq, q);
    layer.bk = slice_values(source.bk, kv);
    layer.bv = slice_values(source.bv, kv);
    layer.wo = column_shard(source.wo, q);
    layer.ffn_gate = rows(source.ffn_gate, {ff});
    layer.ffn_up = rows(source.ffn_up, {ff});
    layer.ffn_gate_up = rows(source.ffn_gate_up, {ff, {config.n_ff + ff.first, ff.count}});
    layer.ffn_down = column_shard(source.ffn_down, ff);
  }
  // The output layer split by vocabulary (rows, a view even when tied to the embedding): each
  // rank computes n_vocab / N logits, gathered by the grid (models/grid_forward.cpp). A
  // vocabulary that does not divide keeps the output whole on every rank.
  if (layers.end() == config.n_layer && config.n_vocab % size == 0) {
    const ShardRange vocab = equal_part(config.n_vocab, rank, size);
    shard->weights.output = weights.output.slice_rows(vocab.first, vocab.count);
    local.n_vocab = static_cast<int32_t>(vocab.count);
  }
  return shard;
}

}  // namespace jisu
