// The CUDA backend: the layer sequence's ops as device kernels (kernels.h) on one non-blocking
// stream. Token embedding rows are looked up on the host and uploaded with the step's other
// small inputs (positions, K/V rows, block tables, RoPE angles: one copy per step); the hidden
// state then stays on the device until the logits of the wanted tokens, or the hidden state for
// the next stage, are copied back.
//
// The device K/V storage has the cache's geometry (blocks, block size) for the layers this
// backend runs and is addressed through the cache's block tables, uploaded per step, so prefix
// sharing, truncation and release need no device work.
#include "backends/cuda/device_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backends/cpu/quant_kernels.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_linear.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

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

class DeviceLinearWeight final : public LinearWeight {
 public:
  explicit DeviceLinearWeight(const DeviceMatrix& matrix) : LinearWeight(matrix.rows, matrix.cols), matrix_(matrix) {}
  const DeviceMatrix& matrix() const { return matrix_; }

 private:
  DeviceMatrix matrix_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const TransformerShape& shape) : shape_(shape) {}

  ~CudaBackend() override {
    cudaStreamSynchronize(stream_.get());  // no kernel may outlive the buffers it uses
  }

  std::string name() const override { return "cuda"; }

  void check_supported(const TransformerShape& shape, bool has_experts) const override {
    if (has_experts || shape.is_moe())
      throw Error("the CUDA backend does not run mixture-of-experts models yet", "use --device cpu");
    if (shape.head_dim % 32 != 0 || shape.head_dim > kMaxHeadDim)
      throw Error("the CUDA backend needs head_dim a multiple of 32 up to " + std::to_string(kMaxHeadDim) +
                      " (the model has " + std::to_string(shape.head_dim) + ")",
                  "use --device cpu");
    if (shape.n_embd % 32 != 0) throw Error("the CUDA backend needs n_embd a multiple of 32", "use --device cpu");
    if (!shape.causal || shape.activation == FeedForwardActivation::GeluErf || shape.rope.dims == 0)
      throw Error("the CUDA backend does not run encoder (BERT-class) models yet: no bidirectional attention, "
                  "LayerNorm, learned positions or exact GELU kernels",
                  "use --device cpu");
    if (shape.has_low_rank_linears)
      throw Error("the CUDA backend does not run low-rank factored linears (jisu lowrank) yet",
                  "use --device cpu, or write a dense twin with jisu lowrank --dense-output");
  }

  std::unique_ptr<LinearWeight> prepare_linear(const WeightMatrix& matrix, bool) override {
    if (matrix.low_rank) throw Error("the CUDA backend cannot run the low-rank pair '" + matrix.name + "'", "use --device cpu");
    // Tensor-parallel column shards need NCCL collectives, which this backend lacks (the
    // backend factory refuses --tp on CUDA first; this keeps a shard from being read whole).
    if (matrix.is_column_shard())
      throw Error("tensor '" + matrix.name + "' is a tensor-parallel shard; the CUDA backend cannot run --tp yet");
    return std::make_unique<DeviceLinearWeight>(upload(matrix));
  }

  std::vector<std::unique_ptr<LinearWeight>> prepare_linear_slices(const WeightMatrix& stacked, int64_t n_slices) override {
    std::vector<std::unique_ptr<LinearWeight>> slices;
    const int64_t rows = stacked.rows / n_slices;
    for (int64_t i = 0; i < n_slices; ++i) slices.push_back(prepare_linear(stacked.slice_rows(i * rows, rows), false));
    return slices;
  }

  const float* prepare_vector(std::span<const float> values) override {
    if (values.empty()) return nullptr;
    DeviceBuffer& buffer = weights_.emplace_back(values.size() * sizeof(float));
    JISU_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
    weight_bytes_ += buffer.bytes();
    synchronize_uploads();
    return buffer.get<float>();
  }

  void prepare_embedding(const WeightMatrix& embedding) override { embedding_ = embedding; }

  std::vector<Activations> plan_buffers(size_t max_tokens, std::span<const size_t> columns) override {
    max_tokens_ = max_tokens;
    std::vector<Activations> buffers;
    for (size_t cols : columns) {
      DeviceBuffer& buffer = activations_.emplace_back(max_tokens * cols * sizeof(float));
      buffers.push_back({buffer.get<float>(), cols});
    }
    partial_rows_ = max_tokens * as_size(shape_.n_head) * kPlannedSplits;
    partials_ = DeviceBuffer(partial_rows_ * (as_size(shape_.head_dim) + 2) * sizeof(float));
    linear_ = std::make_unique<DeviceLinear>(stream_.get(), static_cast<int64_t>(max_tokens), std::max<int64_t>(max_cols_, 32));
    embedded_host_ = PinnedBuffer(max_tokens * as_size(shape_.n_embd) * sizeof(float));
    return buffers;
  }

  void plan_kv(int32_t first_layer, int32_t n_layers, const KvGeometry& geometry) override {
    if (geometry.key_type != DType::F32 || geometry.value_type != DType::F32)
      throw Error("the cuda backend stores its KV cache as f32 only, not " + std::string(dtype_name(geometry.key_type)) +
                      "/" + std::string(dtype_name(geometry.value_type)),
                  "use --cache-type-k f32 --cache-type-v f32 with --device cuda");
    first_kv_layer_ = first_layer;
    n_blocks_ = geometry.n_blocks;
    block_size_ = geometry.block_size;
    layer_floats_ = as_size(n_blocks_) * as_size(block_size_) * as_size(shape_.kv_dim());
    keys_ = DeviceBuffer(layer_floats_ * as_size(n_layers) * sizeof(float));
    values_ = DeviceBuffer(layer_floats_ * as_size(n_layers) * sizeof(float));
    // Positions never written are never read (attention stops at each token's position), but
    // zeroed memory keeps a bug in that invariant from reading NaN patterns.
    JISU_CUDA_CHECK(cudaMemsetAsync(keys_.get(), 0, keys_.bytes(), stream_.get()));
    JISU_CUDA_CHECK(cudaMemsetAsync(values_.get(), 0, values_.bytes(), stream_.get()));
    // Every sequence's full-context table fits the staging buffer.
    const size_t largest = layout_for(max_tokens_, as_size(geometry.max_table_entries)).total;
    step_device_ = DeviceBuffer(largest);
    step_host_ = PinnedBuffer(largest);
    JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

  size_t weight_bytes() const override { return weight_bytes_; }
  size_t kv_bytes() const override { return keys_.bytes() + values_.bytes(); }

  void begin_step(const Batch& batch, const KvCache& cache, const float* rope_cos_sin) override {
    // The pinned staging buffer is rewritten below: no copy of an earlier step may still read
    // it. Every step ends synchronised, except one that threw midway; this wait covers that.
    JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    const size_t n = batch.size();
    JISU_ASSERT(n <= max_tokens_);
    char* host = step_host_.get<char>();
    // The block tables go last: where they start does not depend on how many there are. Each
    // sequence's table is staged once, however many of its tokens the batch holds.
    auto* tables = reinterpret_cast<int32_t*>(host + layout_for(n, 0).tables);
    size_t table_entries = 0;
    sequence_table_offset_.assign(as_size(cache.max_sequences()), -1);
    for (size_t t = 0; t < n; ++t) {
      int32_t& offset = sequence_table_offset_[as_size(batch.sequences[t])];
      if (offset >= 0) continue;
      const std::vector<int32_t>& table = cache.block_table(batch.sequences[t]);
      offset = static_cast<int32_t>(table_entries);
      std::memcpy(tables + table_entries, table.data(), table.size() * sizeof(int32_t));
      table_entries += table.size();
    }
    step_ = layout_for(n, table_entries);
    JISU_ASSERT(step_.total <= step_host_.bytes());
    const size_t rope_dims = as_size(shape_.rope.dims);
    std::memcpy(host + step_.cos_sin, rope_cos_sin, n * rope_dims * sizeof(float));
    auto* positions = reinterpret_cast<int32_t*>(host + step_.positions);
    auto* kv_rows = reinterpret_cast<int32_t*>(host + step_.kv_rows);
    auto* table_offsets = reinterpret_cast<int32_t*>(host + step_.table_offsets);
    auto* out_rows = reinterpret_cast<int32_t*>(host + step_.out_rows);
    n_out_ = 0;
    max_positions_ = 0;
    for (size_t t = 0; t < n; ++t) {
      const int32_t sequence = batch.sequences[t], position = batch.positions[t];
      positions[t] = position;
      kv_rows[t] = cache.row_of(sequence, position);
      table_offsets[t] = sequence_table_offset_[as_size(sequence)];
      if (batch.wants_logits[t]) out_rows[n_out_++] = static_cast<int32_t>(t);
      max_positions_ = std::max(max_positions_, position + 1);
    }
    JISU_CUDA_CHECK(cudaMemcpyAsync(step_device_.get(), host, step_.total, cudaMemcpyHostToDevice, stream_.get()));
    batch_ = &batch;
    n_tokens_ = static_cast<int>(n);
  }

  void embed(Activations hidden) override {
    const size_t d = as_size(shape_.n_embd);
    float* rows = embedded_host_.get<float>();
    const float scale = shape_.scale_embeddings ? std::sqrt(static_cast<float>(shape_.n_embd)) : 1.0f;
    for (int t = 0; t < n_tokens_; ++t) {
      float* row = rows + as_size(t) * d;
      cpu::dequantize_row(embedding_.type, embedding_.row(batch_->tokens[as_size(t)]), row, d);
      if (shape_.scale_embeddings)
        for (size_t i = 0; i < d; ++i) row[i] *= scale;
    }
    write_rows(rows, as_size(n_tokens_), d, hidden);
  }

  void add_rms_norm(Activations hidden, Activations delta, const float* weight, Activations out) override {
    check_contiguous(hidden);
    launch_add_rms_norm(hidden.data, delta.data, weight, shape_.rms_eps, shape_.n_embd, nullptr, n_tokens_, out.data,
                        stream_.get());
  }

  void linear(const LinearWeight& weight, Activations x, Activations y, size_t n_rows) override {
    linear_->run(static_cast<const DeviceLinearWeight&>(weight).matrix(), x.data, x.stride, static_cast<int>(n_rows),
                 y.data, y.stride);
  }

  void qkv_rope_kv_write(int32_t layer, Activations qkv, const float* qkv_bias, const float* q_norm,
                         const float* k_norm) override {
    QkvArgs args{};
    args.qkv = qkv.data;
    args.qkv_stride = qkv.stride;
    args.n_tokens = n_tokens_;
    args.n_head = shape_.n_head;
    args.n_head_kv = shape_.n_head_kv;
    args.head_dim = shape_.head_dim;
    args.rope_dims = shape_.rope.dims;
    args.neox = shape_.rope.style == RopeStyle::NeoX;
    args.bias = qkv_bias;
    args.q_norm = q_norm;
    args.k_norm = k_norm;
    args.eps = shape_.rms_eps;
    args.cos_sin = step<float>(step_.cos_sin);
    args.kv_rows = step<int32_t>(step_.kv_rows);
    args.keys = keys_.get<float>() + kv_layer_offset(layer);
    args.values = values_.get<float>() + kv_layer_offset(layer);
    launch_qkv_rope_kv_write(args, stream_.get());
  }

  void attention(int32_t layer, Activations qkv, Activations out) override {
    const size_t rows_per_split = as_size(n_tokens_) * as_size(shape_.n_head);
    int splits = std::min(ceil_div(max_positions_, kMinSplitPositions), kMaxSplits);
    splits = std::max(1, std::min(splits, static_cast<int>(partial_rows_ / rows_per_split)));
    AttentionArgs args{};
    args.q = qkv.data;
    args.q_stride = qkv.stride;
    args.keys = keys_.get<float>() + kv_layer_offset(layer);
    args.values = values_.get<float>() + kv_layer_offset(layer);
    args.tables = step<int32_t>(step_.tables);
    args.table_offsets = step<int32_t>(step_.table_offsets);
    args.positions = step<int32_t>(step_.positions);
    args.n_tokens = n_tokens_;
    args.n_head = shape_.n_head;
    args.n_head_kv = shape_.n_head_kv;
    args.head_dim = shape_.head_dim;
    args.block_size = block_size_;
    args.kv_dim = shape_.kv_dim();
    args.scale = 1.0f / std::sqrt(static_cast<float>(shape_.head_dim));
    args.n_splits = splits;
    args.split_positions = ceil_div(max_positions_, splits);
    args.partials = partials_.get<float>();
    args.out = out.data;
    args.out_stride = out.stride;
    launch_attention(args, stream_.get());
  }

  void glu(Activations gate, Activations up, size_t n_rows) override {
    launch_glu(gate.data, gate.stride, up.data, up.stride, static_cast<int>(n_rows), shape_.n_ff,
               shape_.activation == FeedForwardActivation::GeluTanh, stream_.get());
  }

  void mixture_of_experts(const PreparedExperts&, Activations, Activations) override {
    // check_supported() refuses such models at load.
    throw Error("the CUDA backend does not run mixture-of-experts models yet", "use --device cpu");
  }

  size_t norm_wanted_rows(Activations hidden, const float* weight, Activations out) override {
    check_contiguous(hidden);
    if (n_out_ > 0)
      launch_add_rms_norm(hidden.data, nullptr, weight, shape_.rms_eps, shape_.n_embd, step<int32_t>(step_.out_rows),
                          n_out_, out.data, stream_.get());
    return as_size(n_out_);
  }

  bool writes_host_memory() const override { return false; }

  void read_logits(Activations logits, size_t n_rows, float* host) override {
    read_rows(logits, n_rows, as_size(shape_.n_vocab), host);
  }

  void read_rows(Activations from, size_t n_rows, size_t cols, float* host) override {
    JISU_CUDA_CHECK(cudaMemcpy2DAsync(host, cols * sizeof(float), from.data, from.stride * sizeof(float),
                                      cols * sizeof(float), n_rows, cudaMemcpyDeviceToHost, stream_.get()));
    JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

  void write_rows(const float* host, size_t n_rows, size_t cols, Activations to) override {
    JISU_CUDA_CHECK(cudaMemcpy2DAsync(to.data, to.stride * sizeof(float), host, cols * sizeof(float),
                                      cols * sizeof(float), n_rows, cudaMemcpyHostToDevice, stream_.get()));
    // The source may be pageable host memory the caller rewrites next step.
    JISU_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

 private:
  // Offsets (bytes) of the step inputs in the staging buffers, packed for the batch at hand.
  struct StepLayout {
    size_t cos_sin, positions, kv_rows, table_offsets, out_rows, tables, total;
  };

  StepLayout layout_for(size_t n, size_t n_table_entries) const {
    StepLayout layout{};
    size_t offset = 0;
    auto take = [&](size_t bytes) {
      const size_t at = offset;
      offset += align16(bytes);
      return at;
    };
    layout.cos_sin = take(n * as_size(shape_.rope.dims) * sizeof(float));
    layout.positions = take(n * sizeof(int32_t));
    layout.kv_rows = take(n * sizeof(int32_t));
    layout.table_offsets = take(n * sizeof(int32_t));
    layout.out_rows = take(n * sizeof(int32_t));
    layout.tables = take(n_table_entries * sizeof(int32_t));
    layout.total = offset;
    return layout;
  }

  template <typename T>
  T* step(size_t offset) const {
    return reinterpret_cast<T*>(step_device_.get<char>() + offset);
  }

  size_t kv_layer_offset(int32_t layer) const { return as_size(layer - first_kv_layer_) * layer_floats_; }

  // The norm kernel takes rows n_embd floats apart.
  void check_contiguous(Activations hidden) const { JISU_ASSERT(hidden.stride == as_size(shape_.n_embd)); }

  // cudaMemcpy from pageable memory may return before the data lands, and the ops run on a
  // non-blocking stream that does not wait for the legacy stream: wait after uploads.
  static void synchronize_uploads() { JISU_CUDA_CHECK(cudaDeviceSynchronize()); }

  // A matrix in its file type when the kernels read it (kernels.h: device_reads_type),
  // otherwise dequantized to F16 on the host first.
  DeviceMatrix upload(const WeightMatrix& matrix) {
    // The jisu-only types (pruned models, i8_row, cb4) have CPU kernels only; check_supported
    // sees shapes, not types, so they are refused here, before anything is uploaded.
    if (is_jisu_only(matrix.type))
      throw Error("tensor " + matrix.name + " is stored as " + std::string(dtype_name(matrix.type)) +
                      ", a jisu-only type the CUDA backend does not run",
                  "run this model with --device cpu, or write a GGUF type (prune --dense-output, or quantize the "
                  "float model)");
    if (matrix.cols % 32 != 0)
      throw Error("tensor " + matrix.name + " has " + std::to_string(matrix.cols) +
                      " columns; the CUDA backend needs multiples of 32",
                  "run this model with --device cpu");
    DeviceMatrix device;
    device.rows = matrix.rows;
    device.cols = matrix.cols;
    max_cols_ = std::max(max_cols_, matrix.cols);
    if (device_reads_type(matrix.type)) {
      device.type = matrix.type;
      device.row_bytes = matrix.row_bytes;
      DeviceBuffer& buffer = weights_.emplace_back(matrix.bytes());
      JISU_CUDA_CHECK(cudaMemcpy(buffer.get(), matrix.data, matrix.bytes(), cudaMemcpyHostToDevice));
      device.data = buffer.get();
    } else {
      // Types without a device decoder: dequantized to F16 on the host, in slabs of rows of at
      // most kSlabBytes, each copied at once.
      constexpr size_t kSlabBytes = size_t{32} << 20;
      device.type = DType::F16;
      const auto cols = as_size(matrix.cols);
      device.row_bytes = cols * 2;
      DeviceBuffer& buffer = weights_.emplace_back(as_size(matrix.rows) * device.row_bytes);
      const int64_t slab_rows = std::max<int64_t>(1, static_cast<int64_t>(kSlabBytes / device.row_bytes));
      std::vector<float> row(cols);
      std::vector<uint16_t> slab(as_size(std::min(slab_rows, matrix.rows)) * cols);
      for (int64_t first = 0; first < matrix.rows; first += slab_rows) {
        const int64_t count = std::min(slab_rows, matrix.rows - first);
        for (int64_t r = 0; r < count; ++r) {
          cpu::dequantize_row(matrix.type, matrix.row(first + r), row.data(), cols);
          uint16_t* half = slab.data() + as_size(r) * cols;
          for (size_t k = 0; k < cols; ++k) half[k] = cpu::fp32_to_fp16(row[k]);
        }
        JISU_CUDA_CHECK(cudaMemcpy(buffer.get<char>() + as_size(first) * device.row_bytes, slab.data(),
                                   as_size(count) * device.row_bytes, cudaMemcpyHostToDevice));
      }
      device.data = buffer.get();
    }
    weight_bytes_ += as_size(device.rows) * device.row_bytes;
    synchronize_uploads();
    return device;
  }

  TransformerShape shape_;
  Stream stream_;  // declared before the buffers: destroyed after them
  WeightMatrix embedding_;
  std::vector<DeviceBuffer> weights_;      // uploaded matrices, norm weights and biases
  size_t weight_bytes_ = 0;
  int64_t max_cols_ = 0;
  std::unique_ptr<DeviceLinear> linear_;
  std::vector<DeviceBuffer> activations_;  // plan_buffers
  size_t max_tokens_ = 0;
  size_t partial_rows_ = 0;  // (token, head, split) rows the attention scratch holds
  DeviceBuffer partials_;
  PinnedBuffer embedded_host_;  // [tokens][n_embd]: embedding rows before their upload

  int32_t first_kv_layer_ = 0, n_blocks_ = 0, block_size_ = 0;
  size_t layer_floats_ = 0;
  DeviceBuffer keys_, values_;  // [layer][n_blocks * block_size][kv_dim]

  DeviceBuffer step_device_;
  PinnedBuffer step_host_;
  StepLayout step_{};
  std::vector<int32_t> sequence_table_offset_;  // per sequence slot, -1: not staged this step
  const Batch* batch_ = nullptr;
  int n_tokens_ = 0, n_out_ = 0, max_positions_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_device_backend(const TransformerShape& shape) {
  return std::make_unique<CudaBackend>(shape);
}

}  // namespace jisu::cuda
