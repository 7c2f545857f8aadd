#include "train/checkpoint.h"

#include <cstring>
#include <set>

#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "format/gguf_writer.h"
#include "format/weight_matrix.h"
#include "models/model_config.h"

namespace jisu::train {

void require_vocabulary(const gguf::GgufFile& file) {
  const auto* tokens = file.find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array() || tokens->strings.empty())
    throw Error("'" + file.path() + "' has no vocabulary (tokenizer.ggml.tokens)",
                "give a model or vocabulary GGUF that has a tokenizer");
}

int32_t vocabulary_size(const gguf::GgufFile& file) {
  require_vocabulary(file);
  return static_cast<int32_t>(file.get_string_array("tokenizer.ggml.tokens")->size());
}

bool same_vocabulary(const gguf::GgufFile& a, const gguf::GgufFile& b) {
  require_vocabulary(a);
  require_vocabulary(b);
  return *a.get_string_array("tokenizer.ggml.tokens") == *b.get_string_array("tokenizer.ggml.tokens");
}

void write_checkpoint(const std::string& path, const TrainShape& shape, const float* params,
                      const gguf::GgufFile& tokenizer_file, int64_t step) {
  require_vocabulary(tokenizer_file);
  const ParameterLayout layout(shape);
  const std::string arch = shape.rope_neox ? "qwen2" : "llama";
  gguf::GgufWriter writer;
  writer.set_string("general.architecture", arch);
  writer.set_string("general.name", "jisu-trained");
  writer.set_uint32("general.file_type", 0);  // all F32
  writer.set_uint32(arch + ".context_length", uint32_t(shape.context_length));
  writer.set_uint32(arch + ".embedding_length", uint32_t(shape.dim));
  writer.set_uint32(arch + ".block_count", uint32_t(shape.n_layer));
  writer.set_uint32(arch + ".feed_forward_length", uint32_t(shape.n_ff));
  writer.set_uint32(arch + ".attention.head_count", uint32_t(shape.n_head));
  writer.set_uint32(arch + ".attention.head_count_kv", uint32_t(shape.n_head_kv));
  writer.set_float32(arch + ".attention.layer_norm_rms_epsilon", shape.rms_eps);
  writer.set_float32(arch + ".rope.freq_base", shape.rope_base);
  writer.set_uint32(arch + ".rope.dimension_count", uint32_t(shape.head_dim()));
  if (shape.q_width() != shape.dim) {  // heads pruned: the head width is not dim / heads
    writer.set_uint32(arch + ".attention.key_length", uint32_t(shape.head_dim()));
    writer.set_uint32(arch + ".attention.value_length", uint32_t(shape.head_dim()));
  }
  writer.set_uint32(arch + ".vocab_size", uint32_t(shape.n_vocab));
  writer.set_int64("jisu.train.step", step);
  for (const auto& [key, value] : tokenizer_file.metadata())
    if (key.starts_with("tokenizer.")) writer.set(key, value);
  for (const auto& tensor : layout.tensors()) {
    std::vector<uint64_t> dims = {tensor.cols};
    if (!tensor.is_norm) dims.push_back(tensor.rows);
    writer.add_tensor(tensor.name, DType::F32, dims, params + tensor.offset);
  }
  writer.write(path);
}

LoadedParameters read_parameters(const std::string& path) {
  const auto file = gguf::GgufFile::open(path);
  const ModelConfig config = read_model_config(*file);
  LoadedParameters loaded;
  TrainShape& shape = loaded.shape;
  const bool supported = !config.is_moe() && config.activation == FeedForwardActivation::SiLU &&
                         !config.scale_embeddings && config.rope.scaling == RopeScaling::None &&
                         config.rope.dims == config.head_dim;
  if (!supported)
    throw Error("'" + path + "' (" + config.arch.name + ") is not a model the trainer has backward passes for",
                "the trainer handles dense llama-family models: SiLU gate, full RoPE");
  shape.n_vocab = config.n_vocab;
  shape.dim = config.n_embd;
  shape.n_layer = config.n_layer;
  shape.n_head = config.n_head;
  shape.n_head_kv = config.n_head_kv;
  if (config.head_dim * config.n_head != config.n_embd) shape.key_length = config.head_dim;
  shape.n_ff = config.n_ff;
  shape.context_length = config.context_length;
  shape.rope_base = config.rope.freq_base;
  shape.rms_eps = config.rms_eps;
  shape.rope_neox = config.rope.style == RopeStyle::NeoX;
  shape.tied_output = file->find_tensor("output.weight") == nullptr;
  // Low-rank pairs (jisu lowrank): A is [rank, rows] in ggml order, so its rank is shape[0].
  for (const auto& info : file->tensors())
    if (info.name.ends_with(kLowRankASuffix) && info.shape.size() == 2 && info.shape[0] <= (1u << 20))
      shape.low_rank[info.name.substr(0, info.name.size() - kLowRankASuffix.size())] = int32_t(info.shape[0]);
  const ParameterLayout layout(shape);
  std::set<std::string> known;
  for (const auto& tensor : layout.tensors()) known.insert(tensor.name);
  for (const auto& info : file->tensors())
    if (!known.contains(info.name) && info.name != "rope_freqs.weight")
      throw Error("'" + path + "' has tensor '" + info.name + "', which the trainer has no backward pass for");
  loaded.params.resize(layout.total());
  for (const auto& tensor : layout.tensors()) {
    const gguf::TensorInfo* info = file->find_tensor(tensor.name);
    if (!info) throw Error("'" + path + "' lacks tensor '" + tensor.name + "'");
    if (info->element_count != tensor.size() || info->shape[0] != tensor.cols)
      throw Error("tensor '" + tensor.name + "' of '" + path + "' has the wrong shape for the model's metadata");
    for (size_t row = 0; row < tensor.rows; ++row)
      cpu::dequantize_row(info->type, info->data + row * info->row_bytes(),
                          loaded.params.data() + tensor.offset + row * tensor.cols, tensor.cols);
  }
  loaded.step = file->get_int("jisu.train.step").value_or(0);
  return loaded;
}

std::string optimizer_state_path(const std::string& checkpoint_path) { return checkpoint_path + ".optimizer"; }

void write_optimizer_state(const std::string& checkpoint_path, const OptimizerState& state) {
  gguf::GgufWriter writer;
  writer.set_string("general.architecture", "jisu-adamw-state");
  writer.set_int64("jisu.train.step", state.step);
  writer.add_tensor("adam_m", DType::F32, {state.m.size()}, state.m.data());
  writer.add_tensor("adam_v", DType::F32, {state.v.size()}, state.v.data());
  writer.write(optimizer_state_path(checkpoint_path));
}

OptimizerState read_optimizer_state(const std::string& checkpoint_path, size_t n_params) {
  const std::string path = optimizer_state_path(checkpoint_path);
  const auto file = gguf::GgufFile::open(path);
  OptimizerState state;
  state.step = file->get_int("jisu.train.step").value_or(-1);
  if (state.step < 0) throw Error("'" + path + "' has no jisu.train.step: not an optimizer state");
  for (const char* name : {"adam_m", "adam_v"}) {
    const gguf::TensorInfo* info = file->find_tensor(name);
    if (!info || info->type != DType::F32 || info->element_count != n_params)
      throw Error("'" + path + "' has no F32 tensor '" + name + "' of " + std::to_string(n_params) +
                  " values (another model's optimizer state?)");
    std::vector<float>& out = std::string(name) == "adam_m" ? state.m : state.v;
    out.resize(n_params);
    std::memcpy(out.data(), info->data, n_params * sizeof(float));
  }
  return state;
}

}  // namespace jisu::train
