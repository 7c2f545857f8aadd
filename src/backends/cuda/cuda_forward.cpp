#include "backends/cuda/cuda_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "models/batch_validation.h"
#include "models/embedding.h"

namespace jisu::cuda {
namespace {

size_t as_size(int64_t value) { return static_cast<size_t>(value); }
size_t align16(size_t bytes) { return (bytes + 15) / 16 * 16; }
int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Attention splits: at least kMinSplitPositions positions each, at most kMaxSplits per
// (token, head); the scratch holds kPlannedSplits splits for a full batch, more for smaller ones.
constexpr int kMinSplitPositions = 64;
constexpr int kMaxSplits = 32;
constexpr size_t kPlannedSplits = 4;

template <typename T>
DeviceBuffer device_array(size_t count) {
  return DeviceBuffer(count * sizeof(T));
}

void check_supported(const ModelConfig& config) {
  if (config.is_moe())
    throw Error("the CUDA backend does not run mixture-of-experts models yet", "use --device cpu");
  if (config.head_dim % 32 != 0 || config.head_dim > kMaxHeadDim)
    throw Error("the CUDA backend needs head_dim a multiple of 32 up to " + std::to_string(kMaxHeadDim) +
                    " (the model has " + std::to_string(config.head_dim) + ")",
                "use --device cpu");
  if (config.n_embd % 32 != 0) throw Error("the CUDA backend needs n_embd a multiple of 32", "use --device cpu");
}

}  // namespace

CudaForward::CudaForward(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool,
                         int32_t max_batch_tokens, const KvCache& cache, int32_t gpu_layers)
    : config_(config),
      weights_(weights),
      max_batch_tokens_(max_batch_tokens),
      gpu_layers_(std::clamp(gpu_layers, 1, config.n_layer)),
      rope_table_(config.rope, weights.rope_frequency_factors),
      n_blocks_(cache.pool().capacity()),
      block_size_(cache.block_size()),
      max_sequences_(cache.max_sequences()),
      table_capacity_(as_size(cache.max_sequences()) *
                      as_size((cache.context_length() + cache.block_size() - 1) / cache.block_size())),
      qkv_stride_(as_size(config.q_dim() + 2 * config.kv_dim())) {
  if (max_batch_tokens <= 0) throw Error("the batch size must be positive");
  check_supported(config);
  const bool head_on_gpu = gpu_layers_ == config.n_layer;
  const size_t tokens = as_size(max_batch_tokens);
  const size_t d = as_size(config.n_embd), ff = as_size(config.n_ff), head_dim = as_size(config.head_dim);

  device_weights_ = std::make_unique<DeviceWeights>(config, weights, gpu_layers_, head_on_gpu);
  linear_ = std::make_unique<DeviceLinear>(stream_.get(), max_batch_tokens, device_weights_->max_cols());

  const size_t layer_floats = as_size(n_blocks_) * as_size(block_size_) * as_size(config.kv_dim());
  keys_ = device_array<float>(layer_floats * as_size(gpu_layers_));
  values_ = device_array<float>(layer_floats * as_size(gpu_layers_));
  // Positions never written are never read (attention stops at each token's position), but
  // zeroed memory keeps a bug in that invariant from reading NaN patterns.
  JISU_CUDA_CHECK(cudaMemsetAsync(keys_.get(), 0, keys_.bytes(), stream_.get()));
  JISU_CUDA_CHECK(cudaMemsetAsync(values_.get(), 0, values_.bytes(), stream_.get()));

  hidden_ = device_array<float>(tokens * d);
  normed_ = device_array<float>(tokens * d);
  qkv_ = device_array<float>(tokens * qkv_stride_);
  attention_ = device_array<float>(tokens * as_size(config.q_dim()));
  projected_ = device_array<float>(tokens * d);
  gate_ = device_array<float>(tokens * 2 * ff);
  up_ = device_array<float>(tokens * ff);
  partial_rows_ = tokens * as_size(config.n_head) * kPlannedSplits;
  partials_ = device_array<float>(partial_rows_ * (head_dim + 2));
  if (head_on_gpu) logits_ = device_array<float>(tokens * as_size(config.n_vocab));

  const StepLayout largest = layout_for(tokens, table_capacity_);
  step_device_ = DeviceBuffer(largest.total);
  step_host_ = PinnedBuffer(largest.total);
  sequence_table_offset_.assign(as_size(max_sequences_), -1);
  if (!head_on_gpu) {
    hidden_out_ = PinnedBuffer(tokens * d * sizeof(float));
    cpu_tail_ = std::make_unique<Transformer>(config, weights, pool, max_batch_tokens);
  }
  JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

CudaForward::~CudaForward() {
  cudaStreamSynchronize(stream_.get());  // no kernel may outlive the buffers it uses
}

CudaForward::StepLayout CudaForward::layout_for(size_t n, size_t n_table_entries) const {
  StepLayout layout{};
  size_t offset = 0;
  auto take = [&](size_t bytes) {
    const size_t at = offset;
    offset += align16(bytes);
    return at;
  };
  layout.hidden = take(n * as_size(config_.n_embd) * sizeof(float));
  layout.cos_sin = take(n * as_size(config_.rope.dims) * sizeof(float));
  layout.positions = take(n * sizeof(int32_t));
  layout.kv_rows = take(n * sizeof(int32_t));
  layout.table_offsets = take(n * sizeof(int32_t));
  layout.out_rows = take(n * sizeof(int32_t));
  layout.tables = take(n_table_entries * sizeof(int32_t));
  layout.total = offset;
  return layout;
}

CudaForward::StepLayout CudaForward::stage_inputs(const Batch& batch, const KvCache& cache, int& n_out,
                                                  int& max_positions) {
  const size_t n = batch.size();
  char* host = step_host_.get<char>();
  // The block tables go last: where they start does not depend on how many there are. Each
  // sequence's table is staged once, however many of its tokens the batch holds.
  auto* tables = reinterpret_cast<int32_t*>(host + layout_for(n, 0).tables);
  size_t table_entries = 0;
  std::fill(sequence_table_offset_.begin(), sequence_table_offset_.end(), -1);
  for (size_t t = 0; t < n; ++t) {
    int32_t& offset = sequence_table_offset_[as_size(batch.sequences[t])];
    if (offset >= 0) continue;
    const std::vector<int32_t>& table = cache.block_table(batch.sequences[t]);
    JISU_ASSERT(table_entries + table.size() <= table_capacity_);
    offset = static_cast<int32_t>(table_entries);
    std::memcpy(tables + table_entries, table.data(), table.size() * sizeof(int32_t));
    table_entries += table.size();
  }
  const StepLayout layout = layout_for(n, table_entries);
  auto* hidden = reinterpret_cast<float*>(host + layout.hidden);
  auto* cos_sin = reinterpret_cast<float*>(host + layout.cos_sin);
  auto* positions = reinterpret_cast<int32_t*>(host + layout.positions);
  auto* kv_rows = reinterpret_cast<int32_t*>(host + layout.kv_rows);
  auto* table_offsets = reinterpret_cast<int32_t*>(host + layout.table_offsets);
  auto* out_rows = reinterpret_cast<int32_t*>(host + layout.out_rows);
  const size_t d = as_size(config_.n_embd), rope_dims = as_size(config_.rope.dims);
  n_out = 0;
  max_positions = 0;
  for (size_t t = 0; t < n; ++t) {
    const int32_t sequence = batch.sequences[t], position = batch.positions[t];
    const std::vector<int32_t>& table = cache.block_table(sequence);
    const int32_t offset = sequence_table_offset_[as_size(sequence)];
    embed_token(config_, weights_, batch.tokens[t], hidden + t * d);
    rope_table_.angles(position, cos_sin + t * rope_dims);
    positions[t] = position;
    kv_rows[t] = table[as_size(position / block_size_)] * block_size_ + position % block_size_;
    table_offsets[t] = offset;
    if (batch.wants_logits[t]) out_rows[n_out++] = static_cast<int32_t>(t);
    max_positions = std::max(max_positions, position + 1);
  }
  JISU_CUDA_CHECK(cudaMemcpyAsync(step_device_.get(), host, layout.total, cudaMemcpyHostToDevice, stream_.get()));
  return layout;
}

void CudaForward::forward(const Batch& batch, KvCache& cache, float* logits) {
  if (cache.pool().capacity() != n_blocks_ || cache.block_size() != block_size_ ||
      cache.max_sequences() != max_sequences_)
    throw Error("the CUDA forward pass was planned for a KV cache of another shape");
  validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
  // The pinned staging buffer is rewritten below: no copy of an earlier step may still read
  // it. Every step ends synchronised, except one that threw midway; this wait covers that.
  JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  int n_out = 0, max_positions = 0;
  const StepLayout step = stage_inputs(batch, cache, n_out, max_positions);
  const int n = static_cast<int>(batch.size());
  const size_t d = as_size(config_.n_embd);
  cudaStream_t stream = stream_.get();
  JISU_CUDA_CHECK(cudaMemcpyAsync(hidden_.get(), device_step<float>(step, step.hidden), as_size(n) * d * sizeof(float),
                                  cudaMemcpyDeviceToDevice, stream));

  for (int32_t index = 0; index < gpu_layers_; ++index) {
    layer(index, n, step);
    attention(index, n, max_positions, step);
    const DeviceLayer& L = device_weights_->layers()[as_size(index)];
    const size_t q_dim = as_size(config_.q_dim()), ff = as_size(config_.n_ff);
    float* hidden = hidden_.get<float>();
    float* normed = normed_.get<float>();
    float* projected = projected_.get<float>();
    linear_->run(L.wo, attention_.get<float>(), q_dim, n, projected, d);
    launch_add_rms_norm(hidden, projected, L.ffn_norm, config_.rms_eps, config_.n_embd, nullptr, n, normed, stream);
    float* gate = gate_.get<float>();
    const float* up = up_.get<float>();
    size_t gate_stride = ff, up_stride = ff;
    if (L.ffn_gate_up.data) {
      gate_stride = up_stride = 2 * ff;  // fused rows: [gate (ff); up (ff)]
      linear_->run(L.ffn_gate_up, normed, d, n, gate, gate_stride);
      up = gate + ff;
    } else {
      linear_->run(L.ffn_gate, normed, d, n, gate, gate_stride);
      linear_->run(L.ffn_up, normed, d, n, up_.get<float>(), up_stride);
    }
    launch_glu(gate, gate_stride, up, up_stride, n, config_.n_ff,
               config_.arch.activation == FeedForwardActivation::GeluTanh, stream);
    linear_->run(L.ffn_down, gate, gate_stride, n, projected, d);
    // The FFN's residual add is fused into the next layer's attention norm (see layer()); after
    // the last GPU layer it is done on its own.
    if (index + 1 == gpu_layers_)
      launch_add_rms_norm(hidden, projected, nullptr, config_.rms_eps, config_.n_embd, nullptr, n, nullptr, stream);
  }

  if (cpu_tail_) {
    JISU_CUDA_CHECK(cudaMemcpyAsync(hidden_out_.get(), hidden_.get(), as_size(n) * d * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream));
    JISU_CUDA_CHECK(cudaStreamSynchronize(stream));
    cpu_tail_->forward_from_layer(batch, cache, gpu_layers_, hidden_out_.get<float>(), logits);
    return;  // the CPU Transformer recorded the new lengths
  }
  if (n_out > 0) {
    launch_add_rms_norm(hidden_.get<float>(), nullptr, device_weights_->output_norm(), config_.rms_eps, config_.n_embd,
                        device_step<int32_t>(step, step.out_rows), n_out, normed_.get<float>(), stream);
    linear_->run(device_weights_->output(), normed_.get<float>(), d, n_out, logits_.get<float>(),
                 as_size(config_.n_vocab));
    JISU_CUDA_CHECK(cudaMemcpyAsync(logits, logits_.get(), as_size(n_out) * as_size(config_.n_vocab) * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream));
  }
  JISU_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (size_t t = 0; t < batch.size(); ++t) cache.set_length(batch.sequences[t], batch.positions[t] + 1);
}

// Attention norm (with the previous layer's FFN residual), QKV projection, bias/norm/RoPE and
// the KV write.
void CudaForward::layer(int32_t index, int n, const StepLayout& step) {
  const DeviceLayer& L = device_weights_->layers()[as_size(index)];
  const size_t d = as_size(config_.n_embd), q_dim = as_size(config_.q_dim()), kv_dim = as_size(config_.kv_dim());
  float* normed = normed_.get<float>();
  float* qkv = qkv_.get<float>();
  launch_add_rms_norm(hidden_.get<float>(), index == 0 ? nullptr : projected_.get<float>(), L.attn_norm,
                      config_.rms_eps, config_.n_embd, nullptr, n, normed, stream_.get());
  if (L.wqkv.data) {
    linear_->run(L.wqkv, normed, d, n, qkv, qkv_stride_);
  } else {
    linear_->run(L.wq, normed, d, n, qkv, qkv_stride_);
    linear_->run(L.wk, normed, d, n, qkv + q_dim, qkv_stride_);
    linear_->run(L.wv, normed, d, n, qkv + q_dim + kv_dim, qkv_stride_);
  }
  const size_t layer_floats = as_size(n_blocks_) * as_size(block_size_) * kv_dim;
  QkvArgs args{};
  args.qkv = qkv;
  args.qkv_stride = qkv_stride_;
  args.n_tokens = n;
  args.n_head = config_.n_head;
  args.n_head_kv = config_.n_head_kv;
  args.head_dim = config_.head_dim;
  args.rope_dims = config_.rope.dims;
  args.neox = config_.rope.style == RopeStyle::NeoX;
  args.bias = L.qkv_bias;
  args.q_norm = L.q_norm;
  args.k_norm = L.k_norm;
  args.eps = config_.rms_eps;
  args.cos_sin = device_step<float>(step, step.cos_sin);
  args.kv_rows = device_step<int32_t>(step, step.kv_rows);
  args.keys = keys_.get<float>() + as_size(index) * layer_floats;
  args.values = values_.get<float>() + as_size(index) * layer_floats;
  launch_qkv_rope_kv_write(args, stream_.get());
}

void CudaForward::attention(int32_t index, int n, int max_positions, const StepLayout& step) {
  const size_t layer_floats = as_size(n_blocks_) * as_size(block_size_) * as_size(config_.kv_dim());
  const size_t rows_per_split = as_size(n) * as_size(config_.n_head);
  int splits = std::min(ceil_div(max_positions, kMinSplitPositions), kMaxSplits);
  splits = std::max(1, std::min(splits, static_cast<int>(partial_rows_ / rows_per_split)));
  AttentionArgs args{};
  args.q = qkv_.get<float>();
  args.q_stride = qkv_stride_;
  args.keys = keys_.get<float>() + as_size(index) * layer_floats;
  args.values = values_.get<float>() + as_size(index) * layer_floats;
  args.tables = device_step<int32_t>(step, step.tables);
  args.table_offsets = device_step<int32_t>(step, step.table_offsets);
  args.positions = device_step<int32_t>(step, step.positions);
  args.n_tokens = n;
  args.n_head = config_.n_head;
  args.n_head_kv = config_.n_head_kv;
  args.head_dim = config_.head_dim;
  args.block_size = block_size_;
  args.kv_dim = config_.kv_dim();
  args.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  args.n_splits = splits;
  args.split_positions = ceil_div(max_positions, splits);
  args.partials = partials_.get<float>();
  args.out = attention_.get<float>();
  args.out_stride = as_size(config_.q_dim());
  launch_attention(args, stream_.get());
}

}  // namespace jisu::cuda
