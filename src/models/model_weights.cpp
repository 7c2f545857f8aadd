#include "models/model_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>

#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
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

  // A matrix of `rows` x `cols` (GGUF shape [cols, rows]); a 3-D stacked tensor is accepted
  // when `stacked` > 0 and has shape [cols, rows, stacked].
  // Matrices the integer kernels read are repacked (see repack()); the token embedding, read a
  // row at a time by lookups, passes repack = false.
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols, bool required = true, int64_t stacked = 0,
                      bool repack = true) {
    const gguf::TensorInfo* tensor = find(name);
    if (!tensor) {
      if (required) throw Error("model '" + file_.path() + "' lacks tensor '" + name + "'", "the file is incomplete or of another architecture");
      return {};
    }
    std::vector<uint64_t> expected = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
    if (stacked > 0) expected.push_back(static_cast<uint64_t>(stacked));
    if (tensor->shape != expected)
      throw Error("tensor '" + name + "' has shape " + shape_text(tensor->shape) + ", expected " + shape_text(expected),
                  "the metadata and the tensors of this file disagree");
    if (!cpu::weight_type_supported(tensor->type))
      throw Error("tensor '" + name + "' has type " + std::string(dtype_name(tensor->type)) + ", which jisu cannot compute with yet");
    WeightMatrix matrix;
    matrix.name = name;
    matrix.type = tensor->type;
    matrix.data = tensor->data;
    matrix.rows = rows * (stacked > 0 ? stacked : 1);
    matrix.cols = cols;
    matrix.row_bytes = row_bytes(tensor->type, static_cast<size_t>(cols));
    total_bytes_ += tensor->byte_size;
    if (repack) this->repack(matrix, /*release_original=*/true);
    return matrix;
  }

  // Attaches a repacked copy when the type and shape allow one. With release_original, the
  // mapped file pages of the matrix are dropped from memory afterwards: nothing reads them
  // again, and if something did, they would fault back in from the file (a read-only private
  // mapping), so this only saves resident memory.
  void repack(WeightMatrix& matrix, bool release_original) {
    const auto rows = static_cast<size_t>(matrix.rows), cols = static_cast<size_t>(matrix.cols);
    if (!cpu::can_repack(matrix.type, rows, cols)) return;
    const auto start = std::chrono::steady_clock::now();
    matrix.repacked = std::make_shared<const cpu::RepackedWeights>(matrix.type, matrix.data, matrix.row_bytes, rows, cols);
    repacked_bytes_ += matrix.repacked->bytes();
    if (release_original) {
      const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
      const auto begin = (reinterpret_cast<uintptr_t>(matrix.data) + page - 1) / page * page;
      const auto end = (reinterpret_cast<uintptr_t>(matrix.data) + matrix.bytes()) / page * page;
      if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
    repack_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  // A 1-D tensor of `length` values converted to float.
  std::vector<float> vector(const std::string& name, int64_t length, bool required = true) {
    const gguf::TensorInfo* tensor = find(name);
    if (!tensor) {
      if (required) throw Error("model '" + file_.path() + "' lacks tensor '" + name + "'");
      return {};
    }
    if (tensor->shape != std::vector<uint64_t>{static_cast<uint64_t>(length)})
      throw Error("tensor '" + name + "' has shape " + shape_text(tensor->shape) + ", expected [" + std::to_string(length) + "]");
    if (!cpu::weight_type_supported(tensor->type))
      throw Error("tensor '" + name + "' has unsupported type " + std::string(dtype_name(tensor->type)));
    std::vector<float> values(static_cast<size_t>(length));
    cpu::dequantize_row(tensor->type, tensor->data, values.data(), values.size());
    return values;
  }

  size_t total_bytes() const { return total_bytes_; }
  size_t repacked_bytes() const { return repacked_bytes_; }
  double repack_ms() const { return repack_ms_; }

 private:
  const gguf::GgufFile& file_;
  size_t total_bytes_ = 0;
  size_t repacked_bytes_ = 0;
  double repack_ms_ = 0;
};

}  // namespace

WeightMatrix WeightMatrix::slice_rows(int64_t first, int64_t count) const {
  WeightMatrix slice = *this;
  slice.data = row(first);
  slice.rows = count;
  // The repacked copy serves a slice of whole groups; any other slice uses the file rows.
  const auto group = static_cast<int64_t>(cpu::kRepackRows);
  if (first % group == 0 && count % group == 0)
    slice.repacked_group += static_cast<size_t>(first / group);
  else
    slice.repacked.reset();
  return slice;
}

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
  weights.token_embedding = loader.matrix("token_embd.weight", config.n_vocab, d, true, 0, /*repack=*/false);
  weights.output_norm = loader.vector("output_norm.weight", d);
  weights.output = loader.matrix("output.weight", config.n_vocab, d, /*required=*/!config.arch.output_may_be_tied);
  if (!weights.output.present()) {
    // Tied: the output projection reads the embedding's rows; lookups still read the file.
    weights.output = weights.token_embedding;
    loader.repack(weights.output, /*release_original=*/false);
  }
  weights.rope_frequency_factors = loader.vector("rope_freqs.weight", config.rope.dims / 2, false);

  const int64_t q_dim = config.q_dim(), kv_dim = config.kv_dim(), ff = config.n_ff;
  weights.layers.resize(static_cast<size_t>(config.n_layer));
  for (int32_t index = 0; index < config.n_layer; ++index) {
    LayerWeights& layer = weights.layers[static_cast<size_t>(index)];
    const std::string prefix = "blk." + std::to_string(index) + ".";
    layer.attn_norm = loader.vector(prefix + "attn_norm.weight", d);
    if (loader.find(prefix + "attn_qkv.weight")) {
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
    layer.ffn_norm = loader.vector(prefix + "ffn_norm.weight", d);

    if (config.is_moe()) {
      const int64_t experts = config.n_expert;
      layer.ffn_router = loader.matrix(prefix + "ffn_gate_inp.weight", experts, d);
      const WeightMatrix gate = loader.matrix(prefix + "ffn_gate_exps.weight", ff, d, true, experts);
      const WeightMatrix up = loader.matrix(prefix + "ffn_up_exps.weight", ff, d, true, experts);
      const WeightMatrix down = loader.matrix(prefix + "ffn_down_exps.weight", d, ff, true, experts);
      for (int64_t e = 0; e < experts; ++e) {
        layer.expert_gate.push_back(gate.slice_rows(e * ff, ff));
        layer.expert_up.push_back(up.slice_rows(e * ff, ff));
        layer.expert_down.push_back(down.slice_rows(e * d, d));
      }
    } else if (!loader.find(prefix + "ffn_gate.weight") && loader.find(prefix + "ffn_up.weight")) {
      layer.ffn_gate_up = loader.matrix(prefix + "ffn_up.weight", 2 * ff, d);
      layer.ffn_down = loader.matrix(prefix + "ffn_down.weight", d, ff);
    } else {
      layer.ffn_gate = loader.matrix(prefix + "ffn_gate.weight", ff, d);
      layer.ffn_up = loader.matrix(prefix + "ffn_up.weight", ff, d);
      layer.ffn_down = loader.matrix(prefix + "ffn_down.weight", d, ff);
    }
  }
  if (config.n_ff == 0) throw Error("model metadata lacks feed_forward_length");
  weights.total_bytes = loader.total_bytes();
  weights.repacked_bytes = loader.repacked_bytes();
  weights.repack_ms = loader.repack_ms();
  return weights;
}

}  // namespace jisu
