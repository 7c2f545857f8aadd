#include "models/transformer.h"

#include <chrono>
#include <initializer_list>
#include <span>
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
// (e.g. wqkv for a model with separate projections); so does a null bias.
struct Transformer::PreparedLayer {
  NormWeights attn_norm;  // pre-norm: before attention; post-norm: after its residual add
  std::unique_ptr<LinearWeight> wq, wk, wv, wqkv, wo;
  const float* qkv_bias = nullptr;  // [q_dim + 2 kv_dim], zeros for the parts without one
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* wo_bias = nullptr;
  NormWeights ffn_norm;   // pre-norm: before the FFN; post-norm: after its residual add
  std::unique_ptr<LinearWeight> ffn_gate, ffn_up, ffn_gate_up, ffn_down;  // ffn_up alone: ungated
  const float* ffn_up_bias = nullptr;
  const float* ffn_down_bias = nullptr;
  PreparedExperts experts;  // router null for a dense layer
};

struct Transformer::PreparedStage {
  std::unique_ptr<Backend> backend;
  int32_t first_layer = 0, end_layer = 0;
  std::vector<PreparedLayer> layers;  // [first_layer, end_layer)
  const float* position_table = nullptr;  // first stage, learned positions only
  NormWeights embedding_norm;             // first stage, when the model has token_embd_norm
  const float* output_norm = nullptr;
  std::unique_ptr<LinearWeight> output;  // last stage only
  Activations buffers[kBufferCount];
  // A residual delta not yet added to the hidden state: the FFN output of the previous layer is
  // added by the next layer's attention norm (one pass over the hidden state instead of two).
  Activations pending_delta;
};

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, std::vector<Stage> stages,
                         int32_t max_batch_tokens, const KvCache& cache, int32_t first_layer)
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
  int32_t next_layer = first_layer;
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
  if (first_layer < 0 || next_layer > config.n_layer)
    throw Error("the layer split covers layers [" + std::to_string(first_layer) + ", " + std::to_string(next_layer) +
                ") but the model has " + std::to_string(config.n_layer));
  first_layer_ = first_layer;
  end_layer_ = next_layer;
  for (size_t i = 0; i < stages_.size(); ++i)
    prepare_stage(stages_[i], i == 0 && first_layer_ == 0, i + 1 == stages_.size() && end_layer_ == config.n_layer);
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
  if (first) {
    backend.prepare_embedding(weights_.token_embedding);
    stage.position_table = backend.prepare_vector(weights_.position_table);
    stage.embedding_norm = {backend.prepare_vector(weights_.embedding_norm),
                            backend.prepare_vector(weights_.embedding_norm_bias)};
  }
  auto linear = [&](const WeightMatrix& matrix) {
    return matrix.present() ? backend.prepare_linear(matrix) : nullptr;
  };
  // Matrices reading the same input as one weight where the backend can (the fused layouts
  // wqkv and ffn_gate_up below); null otherwise, or when one of them is absent.
  auto stack = [&](std::initializer_list<const WeightMatrix*> parts) -> std::unique_ptr<LinearWeight> {
    for (const WeightMatrix* part : parts)
      if (!part->present()) return nullptr;
    return backend.prepare_linear_stack(std::span(parts.begin(), parts.size()));
  };
  for (int32_t index = stage.first_layer; index < stage.end_layer; ++index) {
    const LayerWeights& source = weights_.layers[as_size(index)];
    PreparedLayer layer;
    layer.attn_norm = {backend.prepare_vector(source.attn_norm), backend.prepare_vector(source.attn_norm_bias)};
    layer.wqkv = source.wqkv.present() ? linear(source.wqkv) : stack({&source.wq, &source.wk, &source.wv});
    if (!layer.wqkv) {
      layer.wq = linear(source.wq);
      layer.wk = linear(source.wk);
      layer.wv = linear(source.wv);
    }
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
    layer.wo_bias = backend.prepare_vector(source.bo);
    layer.ffn_norm = {backend.prepare_vector(source.ffn_norm), backend.prepare_vector(source.ffn_norm_bias)};
    layer.ffn_up_bias = backend.prepare_vector(source.ffn_up_bias);
    layer.ffn_down_bias = backend.prepare_vector(source.ffn_down_bias);
    if (c.is_moe()) {
      layer.experts.router = linear(source.ffn_router);
      layer.experts.gate = backend.prepare_linear_slices(source.experts_gate, c.n_expert);
      layer.experts.up = backend.prepare_linear_slices(source.experts_up, c.n_expert);
      layer.experts.down = backend.prepare_linear_slices(source.experts_down, c.n_expert);
    } else {
      layer.ffn_gate_up =
          source.ffn_gate_up.present() ? linear(source.ffn_gate_up) : stack({&source.ffn_gate, &source.ffn_up});
      if (!layer.ffn_gate_up) {
        layer.ffn_gate = linear(source.ffn_gate);
        layer.ffn_up = linear(source.ffn_up);
      }
      layer.ffn_down = linear(source.ffn_down);
    }
    stage.layers.push_back(std::move(layer));
  }
  const bool has_head = c.arch.has_output_head && stage.end_layer == c.n_layer;
  const bool logits_buffer = has_head && !backend.writes_host_memory();
  if (has_head) {
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
  if (!config_.arch.has_output_head)
    throw Error("a '" + config_.arch.name + "' model is an encoder: it gives embeddings, not logits",
                "use jisu embed or POST /v1/embeddings");
  run(batch, cache, logits, nullptr);
}

void Transformer::forward_hidden(const Batch& batch, KvCache& cache, float* hidden) { run(batch, cache, nullptr, hidden); }

void Transformer::add_norm(Backend& backend, Activations hidden, Activations delta, const NormWeights& norm,
                           Activations out) const {
  if (config_.arch.norm == NormKind::Layer)
    backend.add_layer_norm(hidden, delta, norm.weight, norm.bias, out);
  else
    backend.add_rms_norm(hidden, delta, norm.weight, out);
}

void Transformer::run(const Batch& batch, KvCache& cache, float* logits, float* hidden_out) {
  JISU_ASSERT(first_layer_ == 0 && end_layer_ == config_.n_layer);
  const KvGeometry geometry = cache.geometry();
  if (geometry.n_blocks != kv_geometry_.n_blocks || geometry.block_size != kv_geometry_.block_size ||
      geometry.max_table_entries != kv_geometry_.max_table_entries || geometry.key_type != kv_geometry_.key_type ||
      geometry.value_type != kv_geometry_.value_type)
    throw Error("the forward pass was planned for a KV cache of another shape");
  if (config_.arch.positions == PositionKind::Learned)
    for (const int32_t position : batch.positions)
      if (position < 0 || position >= config_.context_length)
        throw Error("position " + std::to_string(position) + " is beyond the model's " +
                    std::to_string(config_.context_length) + " learned positions");
  validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
  run_part(batch, cache, nullptr, hidden_out, logits);
  for (size_t t = 0; t < batch.size(); ++t) cache.set_length(batch.sequences[t], batch.positions[t] + 1);
}

void Transformer::run_part(const Batch& batch, const KvCache& cache, const float* hidden_in, float* hidden_out,
                           float* logits) {
  // A part that ends before the last layer hands its residual stream on (hidden_out); the last
  // layer's part gives logits, or an encoder's final hidden states (hidden_out).
  JISU_ASSERT((hidden_in == nullptr) == (first_layer_ == 0));
  JISU_ASSERT(end_layer_ < config_.n_layer ? hidden_out != nullptr : (logits != nullptr) != (hidden_out != nullptr));
  JISU_ASSERT(batch.size() <= static_cast<size_t>(max_batch_tokens_));
  const size_t n = batch.size(), d = as_size(config_.n_embd), rope_dims = as_size(config_.rope.dims);
  if (rope_dims > 0)
    for (size_t t = 0; t < n; ++t) rope_table_.angles(batch.positions[t], rope_cos_sin_.data() + t * rope_dims);

  for (size_t s = 0; s < stages_.size(); ++s) {
    PreparedStage& stage = stages_[s];
    Backend& backend = *stage.backend;
    const Activations hidden = stage.buffers[kHidden];
    const bool last = s + 1 == stages_.size();
    backend.begin_step(batch, cache, rope_cos_sin_.data());
    if (s == 0 && !hidden_in) {
      backend.embed(hidden);
      if (stage.position_table) backend.add_position_embedding(hidden, stage.position_table);
      if (stage.embedding_norm.weight) add_norm(backend, hidden, {}, stage.embedding_norm, hidden);
    } else {
      backend.write_rows(s == 0 ? hidden_in : hidden_transfer_.data(), n, d, hidden);
    }
    stage.pending_delta = {};
    for (int32_t layer = stage.first_layer; layer < stage.end_layer; ++layer) run_layer(stage, layer, n);
    if (stage.pending_delta.data) backend.add_rms_norm(hidden, stage.pending_delta, nullptr, {});
    if (!last || end_layer_ < config_.n_layer) {
      // The next stage's, or the next pipeline rank's, input: the residual stream as it is.
      backend.read_rows(hidden, n, d, last ? hidden_out : hidden_transfer_.data());
    } else if (logits) {
      output_head(stage, logits);
    } else if (stage.output_norm) {  // an encoder's final hidden states
      backend.add_rms_norm(hidden, {}, stage.output_norm, stage.buffers[kNormed]);
      backend.read_rows(stage.buffers[kNormed], n, d, hidden_out);
    } else {
      backend.read_rows(hidden, n, d, hidden_out);
    }
  }
}

void Transformer::run_layer(PreparedStage& stage, int32_t layer_index, size_t n) {
  Backend& backend = *stage.backend;
  const PreparedLayer& layer = stage.layers[as_size(layer_index - stage.first_layer)];
  const Activations hidden = stage.buffers[kHidden], normed = stage.buffers[kNormed], qkv = stage.buffers[kQkv];
  const Activations attention = stage.buffers[kAttention], projected = stage.buffers[kProjected];
  const size_t d = as_size(config_.n_embd), q_dim = as_size(config_.q_dim()), kv_dim = as_size(config_.kv_dim());
  // Pre-norm: each sublayer reads norm(hidden) and its output waits to be added (the FFN's by the
  // next layer's first norm). Post-norm: each sublayer reads hidden, then hidden = norm(hidden +
  // output), in place.
  const bool post_norm = config_.arch.norm_placement == NormPlacement::Post;

  // Attention.
  Activations input = hidden;
  if (!post_norm) {
    add_norm(backend, hidden, stage.pending_delta, layer.attn_norm, normed);
    input = normed;
  }
  if (layer.wqkv) {
    backend.linear(*layer.wqkv, input, qkv, n);
  } else {
    backend.linear(*layer.wq, input, qkv, n);
    backend.linear(*layer.wk, input, qkv.columns_from(q_dim), n);
    backend.linear(*layer.wv, input, qkv.columns_from(q_dim + kv_dim), n);
  }
  backend.qkv_rope_kv_write(layer_index, qkv, layer.qkv_bias, layer.q_norm, layer.k_norm);
  backend.attention(layer_index, qkv, attention);
  backend.linear(*layer.wo, attention, projected, n);
  backend.all_reduce_sum(projected, n, d);
  if (layer.wo_bias) backend.add_bias(projected, layer.wo_bias, d, n);
  if (post_norm) {
    add_norm(backend, hidden, projected, layer.attn_norm, hidden);
  } else {
    add_norm(backend, hidden, projected, layer.ffn_norm, normed);
    input = normed;
  }

  // Feed-forward.
  if (layer.experts.router) {
    backend.mixture_of_experts(layer.experts, input, hidden);
    stage.pending_delta = {};
    return;
  }
  const size_t ff = as_size(config_.n_ff);
  const Activations gate = stage.buffers[kGate];
  Activations up = stage.buffers[kUp];
  if (layer.ffn_gate_up) {
    backend.linear(*layer.ffn_gate_up, input, gate, n);  // fused rows: [gate (ff); up (ff)] per token
    up = gate.columns_from(ff);
  } else if (layer.ffn_gate) {
    backend.linear(*layer.ffn_gate, input, gate, n);
    backend.linear(*layer.ffn_up, input, up, n);
  } else {
    up = gate;  // ungated: act(up x + b), computed in the gate buffer
    backend.linear(*layer.ffn_up, input, up, n);
  }
  if (layer.ffn_up_bias) backend.add_bias(up, layer.ffn_up_bias, ff, n);
  if (layer.ffn_gate || layer.ffn_gate_up)
    backend.glu(gate, up, n);
  else
    backend.activate(gate, n);
  backend.linear(*layer.ffn_down, gate, projected, n);
  backend.all_reduce_sum(projected, n, d);
  if (layer.ffn_down_bias) backend.add_bias(projected, layer.ffn_down_bias, d, n);
  if (post_norm) {
    add_norm(backend, hidden, projected, layer.ffn_norm, hidden);
    stage.pending_delta = {};
  } else {
    stage.pending_delta = projected;
  }
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
