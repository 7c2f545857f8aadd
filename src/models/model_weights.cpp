#include "models/model_weights.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/half_float.h"
#include "core/sparse_dtype.h"
#include "format/gguf_file.h"

namespace jisu {
namespace {

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

class WeightLoader {
 public:
  explicit WeightLoader(const gguf::GgufFile& file) : file_(file) {}

  const gguf::TensorInfo* find(const std::string& name) const { return file_.find_tensor(name); }
  // The matrix `name` is in the file, whole or as a low-rank pair.
  bool has_matrix(const std::string& name) const { return find(name) || find(name + std::string(kLowRankASuffix)); }

  // A matrix of `rows` x `cols` (GGUF shape [cols, rows]); a 3-D stacked tensor is accepted
  // when `stacked` > 0 and has shape [cols, rows, stacked]. A 2-D matrix may be stored as a
  // low-rank pair (format/weight_matrix.h: LowRankFactors) when `low_rank_allowed`.
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols, bool required = true, int64_t stacked = 0,
                      bool low_rank_allowed = true) {
    const gguf::TensorInfo* tensor = find(name);
    if (!tensor && find(name + std::string(kLowRankASuffix))) {
      if (stacked > 0 || !low_rank_allowed) throw Error("tensor '" + name + "' cannot be stored as a low-rank pair");
      return low_rank_pair(name, rows, cols);
    }
    if (!tensor) {
      if (required) throw Error("model '" + file_.path() + "' lacks tensor '" + name + "'", "the file is incomplete or of another architecture");
      return {};
    }
    std::vector<uint64_t> expected = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
    if (stacked > 0) expected.push_back(static_cast<uint64_t>(stacked));
    if (tensor->shape != expected)
      throw Error("tensor '" + name + "' has shape " + shape_text(tensor->shape) + ", expected " + shape_text(expected),
                  "the metadata and the tensors of this file disagree");
    WeightMatrix matrix;
    matrix.name = name;
    matrix.type = tensor->type;
    matrix.data = tensor->data;
    matrix.in_file_mapping = tensor->in_file_mapping;
    matrix.rows = rows * (stacked > 0 ? stacked : 1);
    matrix.cols = cols;
    matrix.row_bytes = row_bytes(tensor->type, static_cast<size_t>(cols));
    if (tensor->type == kJisuCb4) matrix.codebook = codebook(name, stacked > 0 ? stacked : 1);
    if (tensor->type == kJisuI8Row) matrix.row_scales = row_scales(name, rows, stacked);
    total_bytes_ += tensor->byte_size;
    return matrix;
  }

  // The companion tensor of a jisu-only matrix (core/sparse_dtype.h): "<name><suffix>" of
  // `type` and `shape`, or an error naming what is missing or wrong.
  const uint8_t* companion(const std::string& name, DType matrix_type, std::string_view suffix, DType type,
                           const std::vector<uint64_t>& shape, const std::string& what) {
    const std::string companion_name = name + std::string(suffix);
    const gguf::TensorInfo* tensor = find(companion_name);
    if (!tensor)
      throw Error("tensor '" + name + "' is " + std::string(dtype_name(matrix_type)) + " but the file lacks its " + what +
                      " '" + companion_name + "'",
                  "the file is incomplete; quantize it again with jisu quantize");
    if (tensor->type != type || tensor->shape != shape)
      throw Error(what + " '" + companion_name + "' is " + std::string(dtype_name(tensor->type)) + " of shape " +
                      shape_text(tensor->shape) + ", expected " + std::string(dtype_name(type)) + " of shape " +
                      shape_text(shape),
                  "the file is damaged or not written by jisu quantize");
    total_bytes_ += tensor->byte_size;
    return tensor->data;
  }
  // i8_row: F32 [rows] ([rows, n_mat] stacked). cb4: I8 [16] ([16, n_mat] stacked).
  const float* row_scales(const std::string& name, int64_t rows, int64_t stacked) {
    std::vector<uint64_t> shape = {static_cast<uint64_t>(rows)};
    if (stacked > 0) shape.push_back(static_cast<uint64_t>(stacked));
    return reinterpret_cast<const float*>(companion(name, kJisuI8Row, kRowScaleSuffix, DType::F32, shape, "row scales"));
  }
  const int8_t* codebook(const std::string& name, int64_t n_mat) {
    std::vector<uint64_t> shape = {kCodebookLevels};
    if (n_mat > 1) shape.push_back(static_cast<uint64_t>(n_mat));
    return reinterpret_cast<const int8_t*>(companion(name, kJisuCb4, kCodebookSuffix, DType::I8, shape, "codebook"));
  }

  // A 1-D tensor of `length` values converted to float.
  std::vector<float> vector(const std::string& name, int64_t length, bool required = true) {
    return floats(name, {static_cast<uint64_t>(length)}, required);
  }

  // A small f32/f16/bf16 tensor of GGUF shape `shape` converted to float, in file order.
  std::vector<float> floats(const std::string& name, const std::vector<uint64_t>& shape, bool required = true) {
    const gguf::TensorInfo* tensor = find(name);
    if (!tensor) {
      if (required) throw Error("model '" + file_.path() + "' lacks tensor '" + name + "'");
      return {};
    }
    if (tensor->shape != shape)
      throw Error("tensor '" + name + "' has shape " + shape_text(tensor->shape) + ", expected " + shape_text(shape));
    size_t count = 1;
    for (uint64_t extent : shape) count *= static_cast<size_t>(extent);
    std::vector<float> values(count);
    switch (tensor->type) {
      case DType::F32: std::memcpy(values.data(), tensor->data, values.size() * sizeof(float)); break;
      case DType::F16:
      case DType::BF16:
        for (size_t i = 0; i < values.size(); ++i) {
          uint16_t bits;
          std::memcpy(&bits, tensor->data + 2 * i, sizeof bits);
          values[i] = tensor->type == DType::F16 ? half_to_float(bits) : bfloat_to_float(bits);
        }
        break;
      default:
        throw Error("tensor '" + name + "' has type " + std::string(dtype_name(tensor->type)) +
                    "; norm weights, biases and position embeddings must be f32, f16 or bf16");
    }
    return values;
  }

  size_t total_bytes() const { return total_bytes_; }
  bool saw_low_rank() const { return saw_low_rank_; }

 private:
  // "<name>.lowrank_a" (rows x rank) and "<name>.lowrank_b" (rank x cols), 1 <= rank <= min(rows, cols).
  WeightMatrix low_rank_pair(const std::string& name, int64_t rows, int64_t cols) {
    const std::string a_name = name + std::string(kLowRankASuffix), b_name = name + std::string(kLowRankBSuffix);
    const gguf::TensorInfo* a = find(a_name);
    const gguf::TensorInfo* b = find(b_name);
    if (!b) throw Error("model '" + file_.path() + "' has '" + a_name + "' but lacks '" + b_name + "'");
    if (a->shape.size() != 2 || a->shape[0] < 1 || a->shape[0] > static_cast<uint64_t>(std::min(rows, cols)))
      throw Error("tensor '" + a_name + "' has shape " + shape_text(a->shape) + ", expected [rank, " +
                  std::to_string(rows) + "] with 1 <= rank <= " + std::to_string(std::min(rows, cols)));
    const auto rank = static_cast<int64_t>(a->shape[0]);
    auto factors = std::make_shared<LowRankFactors>();
    factors->a = matrix(a_name, rows, rank);
    factors->b = matrix(b_name, rank, cols);
    WeightMatrix pair;
    pair.name = name;
    pair.type = factors->a.type;
    pair.rows = rows;
    pair.cols = cols;
    pair.low_rank = std::move(factors);
    saw_low_rank_ = true;
    return pair;
  }

  const gguf::GgufFile& file_;
  size_t total_bytes_ = 0;
  bool saw_low_rank_ = false;
};

}  // namespace

ModelWeights load_model_weights(const gguf::GgufFile& file, ModelConfig& config) {
  WeightLoader loader(file);
  ModelWeights weights;

  const gguf::TensorInfo* embedding = loader.find("token_embd.weight");
  if (!embedding) throw Error("model '" + file.path() + "' lacks tensor 'token_embd.weight'");
  if (embedding->shape.size() != 2) throw Error("tensor 'token_embd.weight' is not 2-D");
  const auto vocab_rows = static_cast<int64_t>(embedding->shape[1]);
  if (config.n_vocab == 0) config.n_vocab = static_cast<int32_t>(vocab_rows);
  if (vocab_rows != config.n_vocab)
    throw Error("token_embd.weight has " + std::to_string(vocab_rows) + " rows but the vocabulary has " +
                std::to_string(config.n_vocab) + " tokens");

  const int64_t d = config.n_embd;
  const ArchitectureTraits& arch = config.arch;
  const bool layer_norm = arch.norm == NormKind::Layer;
  // A norm's weight, and its bias for LayerNorm.
  auto norm = [&](const std::string& name, std::vector<float>& weight, std::vector<float>& bias) {
    weight = loader.vector(name + ".weight", d);
    if (layer_norm) bias = loader.vector(name + ".bias", d);
  };
  weights.token_embedding = loader.matrix("token_embd.weight", config.n_vocab, d, true, 0, /*low_rank_allowed=*/false);
  if (arch.has_output_head) {
    weights.output_norm = loader.vector("output_norm.weight", d);
    weights.output = loader.matrix("output.weight", config.n_vocab, d, /*required=*/!arch.output_may_be_tied);
    if (!weights.output.present()) weights.output = weights.token_embedding;  // tied
  }
  if (arch.positions == PositionKind::Learned) {
    const auto positions = static_cast<uint64_t>(config.context_length);
    weights.position_table = loader.floats("position_embd.weight", {static_cast<uint64_t>(d), positions});
    if (const gguf::TensorInfo* types = loader.find("token_types.weight")) {
      if (types->shape.size() != 2 || types->shape[0] != static_cast<uint64_t>(d) || types->shape[1] == 0)
        throw Error("tensor 'token_types.weight' has shape " + shape_text(types->shape) + ", expected [" +
                    std::to_string(d) + ", types]");
      const std::vector<float> type_rows = loader.floats("token_types.weight", types->shape);
      for (size_t p = 0; p < positions; ++p)
        for (size_t i = 0; i < static_cast<size_t>(d); ++i) weights.position_table[p * static_cast<size_t>(d) + i] += type_rows[i];
    }
  }
  if (loader.find("token_embd_norm.weight")) norm("token_embd_norm", weights.embedding_norm, weights.embedding_norm_bias);
  weights.rope_frequency_factors = loader.vector("rope_freqs.weight", config.rope.dims / 2, false);
  const bool post_norm = arch.norm_placement == NormPlacement::Post;

  const int64_t q_dim = config.q_dim(), kv_dim = config.kv_dim(), ff = config.n_ff;
  weights.layers.resize(static_cast<size_t>(config.n_layer));
  for (int32_t index = 0; index < config.n_layer; ++index) {
    LayerWeights& layer = weights.layers[static_cast<size_t>(index)];
    const std::string prefix = "blk." + std::to_string(index) + ".";
    norm(prefix + (post_norm ? "attn_output_norm" : "attn_norm"), layer.attn_norm, layer.attn_norm_bias);
    if (loader.has_matrix(prefix + "attn_qkv.weight")) {
      layer.wqkv = loader.matrix(prefix + "attn_qkv.weight", q_dim + 2 * kv_dim, d);
    } else {
      layer.wq = loader.matrix(prefix + "attn_q.weight", q_dim, d);
      layer.wk = loader.matrix(prefix + "attn_k.weight", kv_dim, d);
      layer.wv = loader.matrix(prefix + "attn_v.weight", kv_dim, d);
      layer.bq = loader.vector(prefix + "attn_q.bias", q_dim, false);
      layer.bk = loader.vector(prefix + "attn_k.bias", kv_dim, false);
      layer.bv = loader.vector(prefix + "attn_v.bias", kv_dim, false);
    }
    layer.q_norm = loader.vector(prefix + "attn_q_norm.weight", config.head_dim, false);
    layer.k_norm = loader.vector(prefix + "attn_k_norm.weight", config.head_dim, false);
    layer.wo = loader.matrix(prefix + "attn_output.weight", d, q_dim);
    layer.bo = loader.vector(prefix + "attn_output.bias", d, false);
    norm(prefix + (post_norm ? "layer_output_norm" : "ffn_norm"), layer.ffn_norm, layer.ffn_norm_bias);

    if (config.is_moe()) {
      const int64_t experts = config.n_expert;
      layer.ffn_router = loader.matrix(prefix + "ffn_gate_inp.weight", experts, d, true, 0, /*low_rank_allowed=*/false);
      layer.experts_gate = loader.matrix(prefix + "ffn_gate_exps.weight", ff, d, true, experts);
      layer.experts_up = loader.matrix(prefix + "ffn_up_exps.weight", ff, d, true, experts);
      layer.experts_down = loader.matrix(prefix + "ffn_down_exps.weight", d, ff, true, experts);
    } else if (!loader.has_matrix(prefix + "ffn_gate.weight") && loader.has_matrix(prefix + "ffn_up.weight")) {
      // ffn_up alone: n_ff rows is an ungated FFN (BERT), 2 n_ff rows the fused gate and up (phi3).
      const gguf::TensorInfo* up = loader.find(prefix + "ffn_up.weight");
      if (up && up->shape.size() == 2 && up->shape[1] == static_cast<uint64_t>(ff))
        layer.ffn_up = loader.matrix(prefix + "ffn_up.weight", ff, d);
      else
        layer.ffn_gate_up = loader.matrix(prefix + "ffn_up.weight", 2 * ff, d);
      layer.ffn_down = loader.matrix(prefix + "ffn_down.weight", d, ff);
    } else {
      layer.ffn_gate = loader.matrix(prefix + "ffn_gate.weight", ff, d);
      layer.ffn_up = loader.matrix(prefix + "ffn_up.weight", ff, d);
      layer.ffn_down = loader.matrix(prefix + "ffn_down.weight", d, ff);
    }
    layer.ffn_up_bias = loader.vector(prefix + "ffn_up.bias", ff, false);
    layer.ffn_down_bias = loader.vector(prefix + "ffn_down.bias", d, false);
  }
  if (config.n_ff == 0) throw Error("model metadata lacks feed_forward_length");
  weights.total_bytes = loader.total_bytes();
  config.has_low_rank_linears = loader.saw_low_rank();
  return weights;
}

}  // namespace jisu
