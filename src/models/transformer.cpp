#include "models/transformer.h"

#include <chrono>
#include <string>

#include "core/error.h"
#include "models/batch_validation.h"

namespace jisu {
namespace {

size_t as_size(int64_t value) { return static_cast<size_t>(value); }

// The activation buffers of a stage, in plan order (see Transformer::prepare_stage).
enum BufferIndex { kHidden, kNormed, kQkv, kAttention, kProjected, kGate, kUp, kLogits, kBufferCount };

}  // namespace

// One layer's weights as a backend prepared them. A null LinearWeight means the tensor is absent
// (e.g. wqkv for a model with separate projections).
struct Transformer::PreparedLayer {
  const float* attn_norm = nullptr;
  std::unique_ptr<LinearWeight> wq, wk, wv, wqkv, wo;
  const float* qkv_bias = nullptr;  // [q_dim + 2 kv_dim], zeros for the parts without one
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  std::unique_ptr<LinearWeight> ffn_gate, ffn_up, ffn_gate_up, ffn_down;
  PreparedExperts experts;  // router null for a dense layer
};

struct Transformer::PreparedStage {
  std::unique_ptr<Backend> backend;
  int32_t first_layer = 0, end_layer = 0;
  std::vector<PreparedLayer> layers;  // [first_layer, end_layer)
  const float* output_norm = nullptr;
  std::unique_ptr<LinearWeight> output;  // last stage only
  Activations buffers[kBufferCount];
  // A residual delta not yet added to the hidden state: the FFN output of the previous layer is
  // added by the next layer's attention norm (one pass over the hidden state instead of two).
  Activations pending_delta;
};

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, std::vector<Stage> stages,
                         int32_t max_batch_tokens, const KvCache& cache)
    : config_(config),
      weights_(weights),
      max_batch_tokens_(max_batch_tokens),
      kv_geometry_(cache.geometry()),
      rope_table_(config.rope, weights.rope_frequency_factors) {
  if (max_batch_tokens <= 0) throw Error("the batch size must be positive");
  if (stages.empty()) throw Error("no backend to run the model on");
  const auto start = std::chrono::steady_clock::now();
  rope_cos_sin_.resize(as_size(max_batch_tokens) * as_size(config.rope.dims));
  if (stages.size() > 1) hidden_transfer_.resize(as_size(max_batch_tokens) * as_size(config.n_embd));
  int32_t next_layer = 0;
  for (Stage& stage : stages) {
    if (stage.n_layers <= 0) throw Error("a stage of the layer split has no layers");
    stage.backend->check_supported(config, config.is_moe());
    PreparedStage prepared;
    prepared.backend = std::move(stage.backend);
    prepared.first_layer = next_layer;
    prepared.end_layer = next_layer + stage.n_layers;
    next_layer = prepared.end_layer;
    stages_.push_back(std::move(prepared));
  }
  if (next_layer != config.n_layer)
    throw Error("the layer split covers " + std::to_string(next_layer) + " layers but the model has " +
                std::to_string(config.n_layer));
  for (size_t i = 0; i < stages_.size(); ++i) prepare_stage(stages_[i], i == 0, i + 1 == stages_.size());
  prepare_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

Transformer::~Transformer() = default;

size_t Transformer::prepared_weight_bytes() const {
  size_t bytes = 0;
  for (const PreparedStage& stage : stages_) bytes += stage.backend->weight_bytes();
  return bytes;
}

void Transformer::set_linear_observer(LinearObserver* observer) {
  for (PreparedStage& stage : stages_) stage.backend->set_linear_observer(observer);
}

void Transformer::prepare_stage(PreparedStage& stage, bool first, bool last) {
  Backend& backend = *stage.backend;
  const ModelConfig& c = config_;
  const size_t q_dim = as_size(c.q_dim()), kv_dim = as_size(c.kv_dim());
  const bool tied_output = weights_.output.data == weights_.token_embedding.data;
  if (first) backend.prepare_embedding(weights_.token_embedding);
  auto linear = [&](const WeightMatrix& matrix) {
    return matrix.present() ? backend.prepare_linear(matrix) : nullptr;
  };
  for (int32_t index = stage.first_layer; index < stage.end_layer; ++index) {
    const LayerWeights& source = weights_.layers[as_size(index)];
    PreparedLayer layer;
    layer.attn_norm = backend.prepare_vector(source.attn_norm);
    layer.wq = linear(source.wq);
    layer.wk = linear(source.wk);
    layer.wv = linear(source.wv);
    layer.wqkv = linear(source.wqkv);
    if (!source.bq.empty() || !source.bk.empty() || !source.bv.empty()) {
      std::vector<float> bias(q_dim + 2 * kv_dim, 0.0f);
      std::copy(source.bq.begin(), source.bq.end(), bias.begin());
      std::copy(source.bk.begin(), source.bk.end(), bias.begin() + static_cast<ptrdiff_t>(q_dim));
      std::copy(source.bv.begin(), source.bv.end(), bias.begin() + static_cast<ptrdiff_t>(q_dim + kv_dim));
      layer.qkv_bias = backend.prepare_vector(bias);
    }
    layer.q_norm = backend.prepare_vector(source.q_norm);
    layer.k_norm = backend.prepare_vector(source.k_norm);
    layer.wo = linear(source.wo);
    layer.ffn_norm = backend.prepare_vector(source.ffn_norm);
    if (c.is_moe()) {
      layer.experts.router = linear(source.ffn_router);
      layer.experts.gate = backend.prepare_linear_slices(source.experts_gate, c.n_expert);
      layer.experts.up = backend.prepare_linear_slices(source.experts_up, c.n_expert);
      layer.experts.down = backend.prepare_linear_slices(source.experts_down, c.n_expert);
    } else {
      layer.ffn_gate = linear(source.ffn_gate);
      layer.ffn_up = linear(source.ffn_up);
      layer.ffn_gate_up = linear(source.ffn_gate_up);
      layer.ffn_down = linear(source.ffn_down);
    }
    stage.layers.push_back(std::move(layer));
  }
  const bool logits_buffer = last && !backend.writes_host_memory();
  if (last) {
    stage.output_norm = backend.prepare_vector(weights_.output_norm);
    // A tied output reads the embedding's rows, which lookups read too.
    stage.output = backend.prepare_linear(weights_.output, /*original_read_later=*/tied_output);
  }
  const size_t d = as_size(c.n_embd), ff = as_size(c.n_ff);
  const size_t columns[kBufferCount] = {d, d, q_dim + 2 * kv_dim, q_dim, d, 2 * ff, ff,
                                        logits_buffer ? as_size(c.n_vocab) : 0};
  const std::vector<Activations> buffers =
      backend.plan_buffers(as_size(max_batch_tokens_), std::span(columns, logits_buffer ? kBufferCount : kLogits));
  for (size_t i = 0; i < buffers.size(); ++i) stage.buffers[i] = buffers[i];
  backend.plan_kv(stage.first_layer, stage.end_layer - stage.first_layer, kv_geometry_);
}

void Transformer::forward(const Batch& batch, KvCache& cache, float* logits) {
  const KvGeometry geometry = cache.geometry();
  if (geometry.n_blocks != kv_geometry_.n_blocks || geometry.block_size != kv_geometry_.block_size ||
      geometry.max_table_entries != kv_geometry_.max_table_entries || geometry.key_type != kv_geometry_.key_type ||
      geometry.value_type != kv_geometry_.value_type)
    throw Error("the forward pass was planned for a KV cache of another shape");
  validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
  const size_t n = batch.size(), d = as_size(config_.n_embd), rope_dims = as_size(config_.rope.dims);
  for (size_t t = 0; t < n; ++t) rope_table_.angles(batch.positions[t], rope_cos_sin_.data() + t * rope_dims);

  for (size_t s = 0; s < stages_.size(); ++s) {
    PreparedStage& stage = stages_[s];
    Backend& backend = *stage.backend;
    backend.begin_step(batch, cache, rope_cos_sin_.data());
    if (s == 0)
      backend.embed(stage.buffers[kHidden]);
    else
      backend.write_rows(hidden_transfer_.data(), n, d, stage.buffers[kHidden]);
    stage.pending_delta = {};
    for (int32_t layer = stage.first_layer; layer < stage.end_layer; ++layer) run_layer(stage, layer, n);
    if (stage.pending_delta.data) backend.add_rms_norm(stage.buffers[kHidden], stage.pending_delta, nullptr, {});
    if (s + 1 == stages_.size())
      output_head(stage, logits);
    else
      backend.read_rows(stage.buffers[kHidden], n, d, hidden_transfer_.data());
  }
  for (size_t t = 0; t < n; ++t) cache.set_length(batch.sequences[t], batch.positions[t] + 1);
}

void Transformer::run_layer(PreparedStage& stage, int32_t layer_index, size_t n) {
  Backend& backend = *stage.backend;
  const PreparedLayer& layer = stage.layers[as_size(layer_index - stage.first_layer)];
  const Activations hidden = stage.buffers[kHidden], normed = stage.buffers[kNormed], qkv = stage.buffers[kQkv];
  const Activations attention = stage.buffers[kAttention], projected = stage.buffers[kProjected];
  const size_t d = as_size(config_.n_embd), q_dim = as_size(config_.q_dim()), kv_dim = as_size(config_.kv_dim());

  // Attention.
  backend.add_rms_norm(hidden, stage.pending_delta, layer.attn_norm, normed);
  if (layer.wqkv) {
    backend.linear(*layer.wqkv, normed, qkv, n);
  } else {
    backend.linear(*layer.wq, normed, qkv, n);
    backend.linear(*layer.wk, normed, qkv.columns_from(q_dim), n);
    backend.linear(*layer.wv, normed, qkv.columns_from(q_dim + kv_dim), n);
  }
  backend.qkv_rope_kv_write(layer_index, qkv, layer.qkv_bias, layer.q_norm, layer.k_norm);
  backend.attention(layer_index, qkv, attention);
  backend.linear(*layer.wo, attention, projected, n);
  backend.all_reduce_sum(projected, n, d);
  backend.add_rms_norm(hidden, projected, layer.ffn_norm, normed);

  // Feed-forward.
  if (layer.experts.router) {
    backend.mixture_of_experts(layer.experts, normed, hidden);
    stage.pending_delta = {};
    return;
  }
  const size_t ff = as_size(config_.n_ff);
  const Activations gate = stage.buffers[kGate];
  Activations up = stage.buffers[kUp];
  if (layer.ffn_gate_up) {
    backend.linear(*layer.ffn_gate_up, normed, gate, n);  // fused rows: [gate (ff); up (ff)] per token
    up = gate.columns_from(ff);
  } else {
    backend.linear(*layer.ffn_gate, normed, gate, n);
    backend.linear(*layer.ffn_up, normed, up, n);
  }
  backend.glu(gate, up, n);
  backend.linear(*layer.ffn_down, gate, projected, n);
  backend.all_reduce_sum(projected, n, d);
  stage.pending_delta = projected;
}

void Transformer::output_head(PreparedStage& stage, float* logits) {
  Backend& backend = *stage.backend;
  const size_t n_out = backend.norm_wanted_rows(stage.buffers[kHidden], stage.output_norm, stage.buffers[kNormed]);
  if (n_out == 0) return;
  const size_t vocab = as_size(config_.n_vocab);
  if (backend.writes_host_memory()) {
    backend.linear(*stage.output, stage.buffers[kNormed], {logits, vocab}, n_out);
    return;
  }
  backend.linear(*stage.output, stage.buffers[kNormed], stage.buffers[kLogits], n_out);
  backend.read_logits(stage.buffers[kLogits], n_out, logits);
}

}  // namespace jisu
