#include "train/train_shape.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/random_stream.h"

namespace jisu::train {

void TrainShape::validate() const {
  const auto require = [](bool ok, const std::string& what) {
    if (!ok) throw Error("impossible model shape: " + what);
  };
  require(n_vocab > 0 && n_vocab <= (1 << 20), "vocabulary of " + std::to_string(n_vocab) + " tokens");
  require(dim > 0 && dim <= 16384, "--dim " + std::to_string(dim));
  require(n_layer > 0 && n_layer <= 256, "--layers " + std::to_string(n_layer));
  require(n_head > 0 && n_head <= 4096 && (key_length > 0 || dim % n_head == 0),
          "--heads " + std::to_string(n_head) + " must divide --dim");
  require(key_length >= 0 && key_length <= 4096, "head dimension " + std::to_string(key_length));
  require(head_dim() > 0 && head_dim() % 2 == 0, "the head dimension (dim / heads) must be even for RoPE");
  require(n_head_kv > 0 && n_head % n_head_kv == 0, "--kv-heads " + std::to_string(n_head_kv) + " must divide --heads");
  require(n_ff > 0 && n_ff <= 65536, "--ffn " + std::to_string(n_ff));
  require(context_length > 0 && context_length <= (1 << 16), "--ctx " + std::to_string(context_length));
  require(std::isfinite(rope_base) && rope_base > 1.0f, "RoPE base");
  require(std::isfinite(rms_eps) && rms_eps > 0.0f, "RMSNorm epsilon");
}

size_t ParameterLayout::add(std::string name, size_t rows, size_t cols, bool is_norm) {
  tensors_.push_back({std::move(name), rows, cols, total_, is_norm});
  total_ += rows * cols;
  return tensors_.back().offset;
}

ParameterLayout::ParameterLayout(const TrainShape& shape) {
  shape.validate();
  const auto d = size_t(shape.dim), kv = size_t(shape.head_dim()) * size_t(shape.n_head_kv);
  const auto qd = size_t(shape.q_width());
  const auto ff = size_t(shape.n_ff), vocab = size_t(shape.n_vocab);
  token_embd_ = add("token_embd.weight", vocab, d, false);
  output_norm_ = add("output_norm.weight", 1, d, true);
  output_ = shape.tied_output ? token_embd_ : add("output.weight", vocab, d, false);
  for (int32_t layer = 0; layer < shape.n_layer; ++layer) {
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    Layer offsets{};
    offsets.attn_norm = add(prefix + "attn_norm.weight", 1, d, true);
    offsets.wq = add_linear(shape, prefix + "attn_q.weight", qd, d);
    offsets.wk = add_linear(shape, prefix + "attn_k.weight", kv, d);
    offsets.wv = add_linear(shape, prefix + "attn_v.weight", kv, d);
    offsets.wo = add_linear(shape, prefix + "attn_output.weight", d, qd);
    offsets.ffn_norm = add(prefix + "ffn_norm.weight", 1, d, true);
    offsets.w_gate = add_linear(shape, prefix + "ffn_gate.weight", ff, d);
    offsets.w_up = add_linear(shape, prefix + "ffn_up.weight", ff, d);
    offsets.w_down = add_linear(shape, prefix + "ffn_down.weight", d, ff);
    layers_.push_back(offsets);
  }
  size_t pairs = 0;
  for (const auto& tensor : tensors_) pairs += tensor.name.ends_with(".lowrank_a") ? 1 : 0;
  if (pairs != shape.low_rank.size())
    throw Error("impossible model shape: a low-rank pair names no layer linear ('" + shape.low_rank.begin()->first + "'...)");
}

ParameterLayout::Linear ParameterLayout::add_linear(const TrainShape& shape, const std::string& name, size_t rows,
                                                    size_t cols) {
  const auto pair = shape.low_rank.find(name);
  if (pair == shape.low_rank.end()) return {add(name, rows, cols, false), 0, 0};
  const auto rank = size_t(std::max(pair->second, 0));
  if (rank < 1 || rank > std::min(rows, cols))
    throw Error("impossible model shape: rank " + std::to_string(pair->second) + " of the low-rank pair '" + name +
                "' (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
  Linear linear;
  linear.rank = rank;
  linear.a = add(name + ".lowrank_a", rows, rank, false);
  linear.b = add(name + ".lowrank_b", rank, cols, false);
  return linear;
}

const ParameterTensor& ParameterLayout::find(const std::string& name) const {
  for (const auto& tensor : tensors_)
    if (tensor.name == name) return tensor;
  throw Error("no parameter tensor named '" + name + "'");
}

void initialize_parameters(const ParameterLayout& layout, uint64_t seed, float* params) {
  uint64_t index = 0;
  for (const auto& tensor : layout.tensors()) {
    RandomStream random(seed, index++);
    float* values = params + tensor.offset;
    for (size_t i = 0; i < tensor.size(); ++i)
      values[i] = tensor.is_norm ? 1.0f : static_cast<float>(0.02 * random.normal());
  }
}

}  // namespace jisu::train
