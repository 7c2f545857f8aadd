#include "compress/structured_pruning.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <numeric>
#include <set>

#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "format/gguf_writer.h"

namespace jisu::compress {
namespace {

bool is_float_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::BF16; }

// sum over rows of W[r, c]^2 for every column c.
std::vector<double> column_norms_squared(const WeightMatrix& matrix) {
  const auto cols = static_cast<size_t>(matrix.cols);
  std::vector<double> norms(cols, 0.0);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < matrix.rows; ++r) {
    cpu::dequantize_row(matrix.type, matrix.row(r), row.data(), cols);
    for (size_t c = 0; c < cols; ++c) norms[c] += static_cast<double>(row[c]) * row[c];
  }
  return norms;
}

// s_c = (sum over tokens of x_c^2) * ||W[:, c]||^2 (see the header).
std::vector<double> column_scores(const ImportanceMatrix& importance, const WeightMatrix& matrix) {
  const ImportanceEntry* entry = importance.find(matrix.name);
  if (!entry || entry->cols != static_cast<size_t>(matrix.cols) || entry->n_mat != 1)
    throw Error("the calibration run never reached " + matrix.name);
  std::vector<double> scores = column_norms_squared(matrix);
  for (size_t c = 0; c < scores.size(); ++c) scores[c] *= entry->sum2[c];
  return scores;
}

// The `keep` indices of the largest scores (ties: the lower index), ascending.
std::vector<int32_t> top_indices(const std::vector<double>& scores, size_t keep) {
  std::vector<int32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
  });
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int32_t> all_indices(int32_t n) {
  std::vector<int32_t> indices(static_cast<size_t>(n));
  std::iota(indices.begin(), indices.end(), 0);
  return indices;
}

int32_t kept_ffn_size(int32_t n_ff, double keep) {
  if (keep >= 1) return n_ff;
  const double wanted = keep * n_ff;
  if (n_ff % 32 == 0 && n_ff >= 64)
    return static_cast<int32_t>(std::clamp<double>(std::round(wanted / 32) * 32, 32, n_ff));
  return static_cast<int32_t>(std::clamp<double>(std::round(wanted), 1, n_ff));
}

bool needs_importance(const StructuredPruneOptions& options) {
  return options.ffn_keep < 1 || options.heads_keep < 1 || options.drop_layer_count > 0;
}

}  // namespace

void check_structured_pruning(const Model& model, const StructuredPruneOptions& options) {
  const ModelConfig& config = model.config();
  if (!(options.ffn_keep > 0 && options.ffn_keep <= 1))
    throw Error("--ffn-keep " + std::to_string(options.ffn_keep) + " is outside (0, 1]");
  if (!(options.heads_keep > 0 && options.heads_keep <= 1))
    throw Error("--heads-keep " + std::to_string(options.heads_keep) + " is outside (0, 1]");
  if (config.is_moe()) throw Error("structured pruning of mixture-of-experts models is not supported");
  if (options.drop_layer_count < 0 || options.drop_layer_count >= config.n_layer)
    throw Error("--drop-layers " + std::to_string(options.drop_layer_count) + " must leave at least one of the " +
                std::to_string(config.n_layer) + " layers");
  std::set<int32_t> dropped;
  for (int32_t layer : options.drop_layers) {
    if (layer < 0 || layer >= config.n_layer)
      throw Error("--drop-layers: layer " + std::to_string(layer) + " is outside [0, " + std::to_string(config.n_layer) + ")");
    if (!dropped.insert(layer).second) throw Error("--drop-layers: layer " + std::to_string(layer) + " is listed twice");
  }
  if (static_cast<int32_t>(dropped.size()) >= config.n_layer) throw Error("--drop-layers would drop every layer");
  for (const LayerWeights& layer : model.weights().layers) {
    if (layer.wqkv.present() || layer.ffn_gate_up.present())
      throw Error("structured pruning of fused attn_qkv / ffn_up tensors is not supported");
    for (const WeightMatrix* matrix : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.ffn_gate, &layer.ffn_up,
                                       &layer.ffn_down})
      if (matrix->low_rank || !is_float_type(matrix->type))
        throw Error("tensor " + matrix->name + " is " + (matrix->low_rank ? "a low-rank pair" : "quantized"),
                    "prune an F32/F16/BF16 model, then factor or quantize the result");
  }
}

StructuredPlan plan_structured_pruning(const Model& model, const ImportanceMatrix& importance,
                                       const StructuredPruneOptions& options) {
  check_structured_pruning(model, options);
  const ModelConfig& config = model.config();
  const auto& layers = model.weights().layers;
  const int32_t group = config.n_head / config.n_head_kv;
  StructuredPlan plan;
  plan.n_ff = kept_ffn_size(config.n_ff, options.ffn_keep);
  const auto kept_groups = static_cast<int32_t>(std::clamp<double>(
      std::round(options.heads_keep * config.n_head_kv), 1, config.n_head_kv));
  plan.n_head_kv = kept_groups;
  plan.n_head = kept_groups * group;

  std::vector<double> layer_scores(layers.size(), 0.0);
  for (size_t l = 0; l < layers.size(); ++l) {
    if (!needs_importance(options)) {
      plan.kept_neurons.push_back(all_indices(config.n_ff));
      plan.kept_kv_groups.push_back(all_indices(config.n_head_kv));
      continue;
    }
    const std::vector<double> neurons = column_scores(importance, layers[l].ffn_down);
    const std::vector<double> attention = column_scores(importance, layers[l].wo);
    std::vector<double> groups(static_cast<size_t>(config.n_head_kv), 0.0);
    const size_t group_columns = static_cast<size_t>(group) * static_cast<size_t>(config.head_dim);
    for (size_t c = 0; c < attention.size(); ++c) groups[c / group_columns] += attention[c];
    plan.kept_neurons.push_back(top_indices(neurons, static_cast<size_t>(plan.n_ff)));
    plan.kept_kv_groups.push_back(top_indices(groups, static_cast<size_t>(plan.n_head_kv)));
    layer_scores[l] = std::accumulate(neurons.begin(), neurons.end(), 0.0) +
                      std::accumulate(attention.begin(), attention.end(), 0.0);
  }
  std::set<int32_t> dropped(options.drop_layers.begin(), options.drop_layers.end());
  if (options.drop_layer_count > 0) {
    std::vector<int32_t> by_score = all_indices(static_cast<int32_t>(layers.size()));
    std::stable_sort(by_score.begin(), by_score.end(), [&](int32_t a, int32_t b) {
      return layer_scores[static_cast<size_t>(a)] < layer_scores[static_cast<size_t>(b)];
    });
    for (int32_t i = 0; i < options.drop_layer_count; ++i) dropped.insert(by_score[static_cast<size_t>(i)]);
  }
  for (int32_t l = 0; l < config.n_layer; ++l)
    if (!dropped.contains(l)) plan.kept_layers.push_back(l);
  if (plan.kept_layers.empty()) throw Error("--drop-layers would drop every layer");
  return plan;
}

void write_structured_model(const Model& model, const StructuredPlan& plan, const std::string& output) {
  const ModelConfig& config = model.config();
  const gguf::GgufFile& input = model.file();
  const std::string arch = *input.get_string("general.architecture");
  const int32_t group = config.n_head / config.n_head_kv;
  const auto head_dim = static_cast<int32_t>(config.head_dim);

  gguf::GgufWriter writer(input.version() >= 3 ? 3 : input.version());
  writer.copy_metadata(input);
  writer.set_uint32(arch + ".block_count", static_cast<uint32_t>(plan.kept_layers.size()));
  writer.set_uint32(arch + ".feed_forward_length", static_cast<uint32_t>(plan.n_ff));
  writer.set_uint32(arch + ".attention.head_count", static_cast<uint32_t>(plan.n_head));
  writer.set_uint32(arch + ".attention.head_count_kv", static_cast<uint32_t>(plan.n_head_kv));
  // Fewer heads change embedding_length / head_count, which readers take as the head size
  // and the RoPE width when these keys are absent.
  writer.set_uint32(arch + ".attention.key_length", static_cast<uint32_t>(head_dim));
  writer.set_uint32(arch + ".attention.value_length", static_cast<uint32_t>(head_dim));
  writer.set_uint32(arch + ".rope.dimension_count", static_cast<uint32_t>(config.rope.dims));

  // Index lists the writer's fillers read at write(): kept alive here until then.
  std::deque<std::vector<int32_t>> lists;
  auto expand = [&](const std::vector<int32_t>& units, int32_t unit_size) -> const std::vector<int32_t>& {
    std::vector<int32_t> indices;
    for (int32_t unit : units)
      for (int32_t i = 0; i < unit_size; ++i) indices.push_back(unit * unit_size + i);
    return lists.emplace_back(std::move(indices));
  };
  // The tensor with only the listed rows (outer dimension) or columns (elements of each row).
  auto add_sliced = [&](const std::string& name, const gguf::TensorInfo& tensor, const std::vector<int32_t>* rows,
                        const std::vector<int32_t>* cols) {
    if (!is_float_type(tensor.type))
      throw Error("tensor " + tensor.name + " is quantized", "prune an F32/F16/BF16 model, then quantize the result");
    if (tensor.shape.size() == 1 && rows) std::swap(rows, cols);  // a bias: its elements are the rows
    const size_t element = tensor.type == DType::F32 ? 4 : 2;  // float types only (checked)
    const size_t in_cols = tensor.shape[0], in_rows = tensor.element_count / in_cols;
    const size_t out_cols = cols ? cols->size() : in_cols, out_rows = rows ? rows->size() : in_rows;
    std::vector<uint64_t> shape = {out_cols};
    if (tensor.shape.size() > 1) shape.push_back(out_rows);
    writer.add_tensor(name, tensor.type, shape, [&tensor, rows, cols, element, in_cols, out_cols, out_rows](uint8_t* out, size_t) {
      for (size_t r = 0; r < out_rows; ++r) {
        const uint8_t* source = tensor.data + (rows ? static_cast<size_t>((*rows)[r]) : r) * in_cols * element;
        uint8_t* target = out + r * out_cols * element;
        if (!cols) {
          std::memcpy(target, source, in_cols * element);
          continue;
        }
        for (size_t c = 0; c < out_cols; ++c)
          std::memcpy(target + c * element, source + static_cast<size_t>((*cols)[c]) * element, element);
      }
    });
  };

  std::vector<int32_t> new_index(static_cast<size_t>(config.n_layer), -1);
  for (size_t i = 0; i < plan.kept_layers.size(); ++i) new_index[static_cast<size_t>(plan.kept_layers[i])] = static_cast<int32_t>(i);
  for (const gguf::TensorInfo& tensor : input.tensors()) {
    int32_t layer = -1;
    size_t name_start = 0;
    if (tensor.name.rfind("blk.", 0) == 0) {
      const char* first = tensor.name.data() + 4;
      const char* end = tensor.name.data() + tensor.name.size();
      const auto [stop, error] = std::from_chars(first, end, layer);
      if (error != std::errc() || stop == end || *stop != '.' || layer >= config.n_layer) layer = -1;
      name_start = static_cast<size_t>(stop - tensor.name.data()) + 1;
    }
    if (layer < 0) {
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
      continue;
    }
    const int32_t kept = new_index[static_cast<size_t>(layer)];
    if (kept < 0) continue;  // a dropped layer
    const std::string rest = tensor.name.substr(name_start);
    const std::string name = "blk." + std::to_string(kept) + "." + rest;
    const auto& groups = plan.kept_kv_groups[static_cast<size_t>(layer)];
    const auto& neurons = plan.kept_neurons[static_cast<size_t>(layer)];
    if (rest == "attn_q.weight" || rest == "attn_q.bias") {
      add_sliced(name, tensor, &expand(groups, group * head_dim), nullptr);
    } else if (rest == "attn_k.weight" || rest == "attn_v.weight" || rest == "attn_k.bias" || rest == "attn_v.bias") {
      add_sliced(name, tensor, &expand(groups, head_dim), nullptr);
    } else if (rest == "attn_output.weight") {
      add_sliced(name, tensor, nullptr, &expand(groups, group * head_dim));
    } else if (rest == "ffn_gate.weight" || rest == "ffn_up.weight") {
      add_sliced(name, tensor, &neurons, nullptr);
    } else if (rest == "ffn_down.weight") {
      add_sliced(name, tensor, nullptr, &neurons);
    } else {
      writer.add_tensor(name, tensor.type, tensor.shape, tensor.data);
    }
  }
  writer.write(output);
}

}  // namespace jisu::compress
