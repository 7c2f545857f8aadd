#include "models/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/attention.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "models/batch_validation.h"
#include "models/embedding.h"

namespace jisu {
namespace {

size_t as_size(int64_t value) { return static_cast<size_t>(value); }

}  // namespace

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool,
                         int32_t max_batch_tokens)
    : config_(config),
      weights_(weights),
      pool_(pool),
      max_batch_tokens_(max_batch_tokens),
      rope_table_(config.rope, weights.rope_frequency_factors),
      qkv_stride_(as_size(config.q_dim() + 2 * config.kv_dim())) {
  if (max_batch_tokens <= 0) throw Error("the batch size must be positive");
  const size_t tokens = as_size(max_batch_tokens);
  const size_t d = as_size(config.n_embd), ff = as_size(config.n_ff);
  const size_t experts = as_size(config.n_expert), used = as_size(config.n_expert_used);
  size_t bytes = 0;
  bytes += 3 * Arena::bytes_for<float>(tokens * d);  // hidden, normed, projected
  bytes += Arena::bytes_for<float>(tokens * qkv_stride_);
  bytes += Arena::bytes_for<float>(tokens * as_size(config.q_dim()));
  bytes += Arena::bytes_for<float>(tokens * 2 * ff) + Arena::bytes_for<float>(tokens * ff);
  bytes += Arena::bytes_for<float>(tokens * as_size(config.rope.dims));
  // Largest input of a linear: n_embd (attention, gate/up), q_dim (output projection), n_ff (down).
  const size_t max_input = std::max({d, as_size(config.q_dim()), ff});
  quantized_stride_ = std::max(cpu::int8_activation_row_bytes(max_input), cpu::int8_super_block_row_bytes(max_input));
  bytes += Arena::bytes_for<uint8_t>(tokens * quantized_stride_);
  if (config.is_moe()) {
    bytes += Arena::bytes_for<float>(tokens * experts) + Arena::bytes_for<int32_t>(tokens * used) +
             Arena::bytes_for<float>(tokens * used) + Arena::bytes_for<int32_t>(tokens * used) +
             Arena::bytes_for<float>(tokens * d) + Arena::bytes_for<float>(tokens * used * d);
  }
  arena_ = std::make_unique<Arena>(bytes);
  buffers_.hidden = arena_->allocate<float>(tokens * d);
  buffers_.normed = arena_->allocate<float>(tokens * d);
  buffers_.projected = arena_->allocate<float>(tokens * d);
  buffers_.qkv = arena_->allocate<float>(tokens * qkv_stride_);
  buffers_.attention = arena_->allocate<float>(tokens * as_size(config.q_dim()));
  buffers_.gate = arena_->allocate<float>(tokens * 2 * ff);
  buffers_.up = arena_->allocate<float>(tokens * ff);
  buffers_.rope = arena_->allocate<float>(tokens * as_size(config.rope.dims));
  buffers_.quantized = arena_->allocate<uint8_t>(tokens * quantized_stride_);
  if (config.is_moe()) {
    buffers_.router = arena_->allocate<float>(tokens * experts);
    buffers_.chosen_expert = arena_->allocate<int32_t>(tokens * used);
    buffers_.chosen_weight = arena_->allocate<float>(tokens * used);
    buffers_.expert_rows = arena_->allocate<int32_t>(tokens * used);
    buffers_.expert_input = arena_->allocate<float>(tokens * d);
    buffers_.expert_output = arena_->allocate<float>(tokens * used * d);
  }
}

void Transformer::quantize_input(const float* x, size_t x_stride, size_t n_tokens, size_t cols, Input input,
                                 ActivationFormat format) {
  if (input == Input::SameInput && quantized_source_ == x && quantized_cols_ == cols && quantized_tokens_ == n_tokens &&
      quantized_format_ == format)
    return;
  auto quantize_row = [&](size_t t) {
    const float* row = x + t * x_stride;
    uint8_t* out = buffers_.quantized + t * quantized_stride_;
    if (format == ActivationFormat::SuperBlocks)
      cpu::quantize_activations_super_blocks(row, cols, reinterpret_cast<cpu::ActivationSuperBlock*>(out));
    else
      cpu::quantize_activations(row, cols, reinterpret_cast<cpu::ActivationBlock*>(out));
  };
  // One token (decode): a few microseconds of work, cheaper than waking the pool.
  if (n_tokens == 1)
    quantize_row(0);
  else
    pool_.parallel_for(n_tokens, [&](size_t t, size_t) { quantize_row(t); });
  quantized_source_ = x;
  quantized_cols_ = cols;
  quantized_tokens_ = n_tokens;
  quantized_format_ = format;
}

void Transformer::linear(const WeightMatrix& weight, const float* x, size_t x_stride, size_t n_tokens, float* y,
                         size_t y_stride, Input input) {
  const size_t rows = as_size(weight.rows), cols = as_size(weight.cols);
  // A fresh input invalidates the int8 copy even when this weight takes the float path: a later
  // SameInput call must not reuse a copy made of an earlier, since overwritten, input.
  if (input == Input::Fresh) quantized_source_ = nullptr;
  // About four tasks per thread balances uneven progress; at least 16 rows keeps each task's
  // weight reads long enough to stream well. Multiples of 16 rows keep the kernels' row tiles full.
  // With 8 or more tokens a task is long (its rows times every token) and the thread that
  // finishes first waits for the other's last one: four times as many tasks halved that wait
  // (perf, pp128 Q4_0: 4.5 % -> 2.0 % of samples in the pool's waits, matmul 82.6 -> 86.4 %).
  const size_t wanted_tasks = pool_.size() * (n_tokens >= 8 ? 16 : 4);
  const size_t rows_per_task = std::max<size_t>(16, ((rows + wanted_tasks - 1) / wanted_tasks + 15) / 16 * 16);
  const size_t n_tasks = (rows + rows_per_task - 1) / rows_per_task;
  if (weight.repacked) {
    // Task boundaries are multiples of 16 rows and the matrix has whole groups of 8.
    quantize_input(x, x_stride, n_tokens, cols, input,
                   cpu::takes_int8_super_blocks(weight.type) ? ActivationFormat::SuperBlocks : ActivationFormat::Blocks);
    const void* xq = buffers_.quantized;
    const uint8_t* w = weight.repacked->data() + weight.repacked_group * weight.repacked->group_bytes();
    pool_.parallel_for(n_tasks, [&](size_t task, size_t) {
      cpu::matmul_repacked_int8({weight.type, w, weight.repacked->group_bytes(), cols, xq, quantized_stride_,
                                 n_tokens, y, y_stride, task * rows_per_task, std::min(rows, (task + 1) * rows_per_task)});
    });
    return;
  }
  const bool super_blocks = cpu::takes_int8_super_blocks(weight.type) && cols % cpu::kActivationSuperBlockElements == 0;
  if (super_blocks || (cpu::takes_int8_activations(weight.type) && cols % cpu::kActivationBlockElements == 0)) {
    quantize_input(x, x_stride, n_tokens, cols, input, super_blocks ? ActivationFormat::SuperBlocks : ActivationFormat::Blocks);
    const auto* xq = reinterpret_cast<const cpu::ActivationBlock*>(buffers_.quantized);
    pool_.parallel_for(n_tasks, [&](size_t task, size_t) {
      const cpu::Int8MatmulArgs args{weight.type, weight.data, weight.row_bytes, cols, xq, quantized_stride_,
                                     n_tokens, y, y_stride, task * rows_per_task, std::min(rows, (task + 1) * rows_per_task)};
      super_blocks ? cpu::matmul_rows_int8_super_blocks(args) : cpu::matmul_rows_int8(args);
    });
    return;
  }
  pool_.parallel_for(n_tasks, [&](size_t task, size_t) {
    cpu::MatmulArgs args{weight.type, weight.data, weight.row_bytes, cols, x, x_stride, n_tokens,
                         y, y_stride, task * rows_per_task, std::min(rows, (task + 1) * rows_per_task)};
    cpu::matmul_rows(args);
  });
}

void Transformer::forward(const Batch& batch, KvCache& cache, float* logits) {
  validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
  const size_t d = as_size(config_.n_embd);
  pool_.parallel_for(batch.size(), [&](size_t t, size_t) {
    embed_token(config_, weights_, batch.tokens[t], buffers_.hidden + t * d);
    rope_table_.angles(batch.positions[t], buffers_.rope + t * as_size(config_.rope.dims));
  });
  layers_and_head(batch, cache, 0, logits);
}

void Transformer::forward_from_layer(const Batch& batch, KvCache& cache, int32_t first_layer, const float* hidden,
                                     float* logits) {
  validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
  const size_t d = as_size(config_.n_embd);
  std::memcpy(buffers_.hidden, hidden, batch.size() * d * sizeof(float));
  pool_.parallel_for(batch.size(), [&](size_t t, size_t) {
    rope_table_.angles(batch.positions[t], buffers_.rope + t * as_size(config_.rope.dims));
  });
  layers_and_head(batch, cache, first_layer, logits);
}

void Transformer::layers_and_head(const Batch& batch, KvCache& cache, int32_t first_layer, float* logits) {
  const size_t n = batch.size();
  const size_t d = as_size(config_.n_embd);
  for (int32_t layer = first_layer; layer < config_.n_layer; ++layer) {
    attention_block(layer, batch, cache);
    if (config_.is_moe())
      mixture_of_experts_block(layer, n);
    else
      feed_forward_block(layer, n);
  }

  // Final norm only for the tokens whose logits are wanted, gathered contiguously.
  size_t n_out = 0;
  for (size_t t = 0; t < n; ++t) {
    if (!batch.wants_logits[t]) continue;
    cpu::rms_norm(buffers_.hidden + t * d, weights_.output_norm.data(), config_.rms_eps, buffers_.normed + n_out * d, d);
    ++n_out;
  }
  if (n_out > 0) linear(weights_.output, buffers_.normed, d, n_out, logits, as_size(config_.n_vocab));

  for (size_t t = 0; t < n; ++t) cache.set_length(batch.sequences[t], batch.positions[t] + 1);
}

void Transformer::attention_block(int32_t layer_index, const Batch& batch, KvCache& cache) {
  const LayerWeights& layer = weights_.layers[as_size(layer_index)];
  const size_t n = batch.size();
  const size_t d = as_size(config_.n_embd), head_dim = as_size(config_.head_dim);
  const size_t q_dim = as_size(config_.q_dim()), kv_dim = as_size(config_.kv_dim());
  const size_t rope_dims = as_size(config_.rope.dims);

  pool_.parallel_for(n, [&](size_t t, size_t) {
    cpu::rms_norm(buffers_.hidden + t * d, layer.attn_norm.data(), config_.rms_eps, buffers_.normed + t * d, d);
  });
  if (layer.wqkv.present()) {
    linear(layer.wqkv, buffers_.normed, d, n, buffers_.qkv, qkv_stride_);
  } else {
    linear(layer.wq, buffers_.normed, d, n, buffers_.qkv, qkv_stride_);
    linear(layer.wk, buffers_.normed, d, n, buffers_.qkv + q_dim, qkv_stride_, Input::SameInput);
    linear(layer.wv, buffers_.normed, d, n, buffers_.qkv + q_dim + kv_dim, qkv_stride_, Input::SameInput);
  }

  const bool neox = config_.rope.style == RopeStyle::NeoX;
  pool_.parallel_for(n, [&](size_t t, size_t) {
    float* q = buffers_.qkv + t * qkv_stride_;
    float* k = q + q_dim;
    float* v = k + kv_dim;
    if (!layer.bq.empty()) cpu::add_in_place(q, layer.bq.data(), q_dim);
    if (!layer.bk.empty()) cpu::add_in_place(k, layer.bk.data(), kv_dim);
    if (!layer.bv.empty()) cpu::add_in_place(v, layer.bv.data(), kv_dim);
    const float* cos_sin = buffers_.rope + t * rope_dims;
    for (size_t h = 0; h < as_size(config_.n_head); ++h) {
      float* head = q + h * head_dim;
      if (!layer.q_norm.empty()) cpu::rms_norm(head, layer.q_norm.data(), config_.rms_eps, head, head_dim);
      neox ? cpu::rope_neox(head, cos_sin, rope_dims) : cpu::rope_interleaved(head, cos_sin, rope_dims);
    }
    for (size_t h = 0; h < as_size(config_.n_head_kv); ++h) {
      float* head = k + h * head_dim;
      if (!layer.k_norm.empty()) cpu::rms_norm(head, layer.k_norm.data(), config_.rms_eps, head, head_dim);
      neox ? cpu::rope_neox(head, cos_sin, rope_dims) : cpu::rope_interleaved(head, cos_sin, rope_dims);
    }
    std::memcpy(cache.key_row(layer_index, batch.sequences[t], batch.positions[t]), k, kv_dim * sizeof(float));
    std::memcpy(cache.value_row(layer_index, batch.sequences[t], batch.positions[t]), v, kv_dim * sizeof(float));
  });

  const size_t n_head = as_size(config_.n_head);
  const size_t group = n_head / as_size(config_.n_head_kv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // One task per (token, kv head): the query heads of a GQA group read each K/V row once.
  const size_t n_head_kv = as_size(config_.n_head_kv);
  pool_.parallel_for(n * n_head_kv, [&](size_t task, size_t) {
    const size_t t = task / n_head_kv, kv_head = task % n_head_kv;
    const cpu::KvLayerView view = cache.layer_view(layer_index, batch.sequences[t]);
    const size_t first_head_offset = kv_head * group * head_dim;
    cpu::attention_group(buffers_.qkv + t * qkv_stride_ + first_head_offset, static_cast<int32_t>(group), view,
                         static_cast<int32_t>(kv_head), config_.head_dim, batch.positions[t] + 1, scale,
                         buffers_.attention + t * q_dim + first_head_offset);
  });

  linear(layer.wo, buffers_.attention, q_dim, n, buffers_.projected, d);
  pool_.parallel_for(n, [&](size_t t, size_t) {
    cpu::add_in_place(buffers_.hidden + t * d, buffers_.projected + t * d, d);
    cpu::rms_norm(buffers_.hidden + t * d, layer.ffn_norm.data(), config_.rms_eps, buffers_.normed + t * d, d);
  });
}

void Transformer::feed_forward_block(int32_t layer_index, size_t n) {
  const LayerWeights& layer = weights_.layers[as_size(layer_index)];
  const size_t d = as_size(config_.n_embd), ff = as_size(config_.n_ff);
  const bool gelu = config_.arch.activation == FeedForwardActivation::GeluTanh;
  size_t gate_stride = ff;
  const float* up = buffers_.up;
  size_t up_stride = ff;
  if (layer.ffn_gate_up.present()) {
    // Fused rows: [gate (ff); up (ff)] per token.
    gate_stride = 2 * ff;
    linear(layer.ffn_gate_up, buffers_.normed, d, n, buffers_.gate, gate_stride);
    up = buffers_.gate + ff;
    up_stride = gate_stride;
  } else {
    linear(layer.ffn_gate, buffers_.normed, d, n, buffers_.gate, gate_stride);
    linear(layer.ffn_up, buffers_.normed, d, n, buffers_.up, up_stride, Input::SameInput);
  }
  pool_.parallel_for(n, [&](size_t t, size_t) {
    float* gate = buffers_.gate + t * gate_stride;
    gelu ? cpu::gelu_tanh_multiply(gate, up + t * up_stride, ff) : cpu::silu_multiply(gate, up + t * up_stride, ff);
  });
  linear(layer.ffn_down, buffers_.gate, gate_stride, n, buffers_.projected, d);
  pool_.parallel_for(n, [&](size_t t, size_t) { cpu::add_in_place(buffers_.hidden + t * d, buffers_.projected + t * d, d); });
}

void Transformer::mixture_of_experts_block(int32_t layer_index, size_t n) {
  const LayerWeights& layer = weights_.layers[as_size(layer_index)];
  const size_t d = as_size(config_.n_embd), ff = as_size(config_.n_ff);
  const size_t experts = as_size(config_.n_expert), used = as_size(config_.n_expert_used);
  const bool gelu = config_.arch.activation == FeedForwardActivation::GeluTanh;

  // Routing: softmax over all experts, keep the top `used` (ties: lower index), renormalise
  // their weights to sum to one.
  linear(layer.ffn_router, buffers_.normed, d, n, buffers_.router, experts);
  for (size_t t = 0; t < n; ++t) {
    float* probabilities = buffers_.router + t * experts;
    cpu::softmax(probabilities, experts);
    int32_t* chosen = buffers_.chosen_expert + t * used;
    float* weight = buffers_.chosen_weight + t * used;
    float total = 0.0f;
    for (size_t slot = 0; slot < used; ++slot) {
      size_t best = experts;
      for (size_t e = 0; e < experts; ++e) {
        bool taken = false;
        for (size_t s = 0; s < slot; ++s) taken |= chosen[s] == static_cast<int32_t>(e);
        if (!taken && (best == experts || probabilities[e] > probabilities[best])) best = e;
      }
      chosen[slot] = static_cast<int32_t>(best);
      weight[slot] = probabilities[best];
      total += probabilities[best];
    }
    for (size_t slot = 0; slot < used; ++slot) weight[slot] /= total;
  }

  // Each expert runs once over all tokens routed to it, so its weights are read once per batch.
  for (size_t e = 0; e < experts; ++e) {
    size_t m = 0;
    for (size_t row = 0; row < n * used; ++row)
      if (buffers_.chosen_expert[row] == static_cast<int32_t>(e)) buffers_.expert_rows[m++] = static_cast<int32_t>(row);
    if (m == 0) continue;
    for (size_t i = 0; i < m; ++i)
      std::memcpy(buffers_.expert_input + i * d, buffers_.normed + as_size(buffers_.expert_rows[i]) / used * d, d * sizeof(float));
    linear(layer.expert_gate[e], buffers_.expert_input, d, m, buffers_.gate, ff);
    linear(layer.expert_up[e], buffers_.expert_input, d, m, buffers_.up, ff, Input::SameInput);
    pool_.parallel_for(m, [&](size_t i, size_t) {
      gelu ? cpu::gelu_tanh_multiply(buffers_.gate + i * ff, buffers_.up + i * ff, ff)
           : cpu::silu_multiply(buffers_.gate + i * ff, buffers_.up + i * ff, ff);
    });
    linear(layer.expert_down[e], buffers_.gate, ff, m, buffers_.projected, d);
    for (size_t i = 0; i < m; ++i)
      std::memcpy(buffers_.expert_output + as_size(buffers_.expert_rows[i]) * d, buffers_.projected + i * d, d * sizeof(float));
  }

  // Weighted sum in slot order, so a token's result does not depend on the other tokens.
  pool_.parallel_for(n, [&](size_t t, size_t) {
    for (size_t slot = 0; slot < used; ++slot)
      cpu::add_scaled_in_place(buffers_.hidden + t * d, buffers_.expert_output + (t * used + slot) * d,
                               buffers_.chosen_weight[t * used + slot], d);
  });
}

}  // namespace jisu
