#pragma once
// The forward pass with its first gpu_layers layers on the GPU: the same steps as the CPU
// Transformer, through the device kernels (kernels.h) and DeviceLinear. Token embedding and
// RoPE angles are computed on the host and uploaded with the step's other small inputs (one
// copy); the hidden state then stays on the device until either the logits of the wanted
// tokens (all layers on the GPU) or the hidden state after the last GPU layer (the CPU
// Transformer runs the rest) is copied back, once per step.
//
// The device KV cache has the host KvCache's geometry (blocks, block size) for the GPU layers
// and is addressed through the host cache's block tables, uploaded per step, so prefix sharing,
// truncation and release need no device work.
#include <memory>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_linear.h"
#include "backends/cuda/device_weights.h"
#include "models/forward_pass.h"
#include "models/rope.h"
#include "models/transformer.h"

namespace jisu::cuda {

class Stream {
 public:
  Stream() { JISU_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaForward final : public ForwardPass {
 public:
  CudaForward(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens,
              const KvCache& cache, int32_t gpu_layers);
  ~CudaForward() override;

  int32_t max_batch_tokens() const override { return max_batch_tokens_; }
  void forward(const Batch& batch, KvCache& cache, float* logits) override;

 private:
  // Offsets (bytes) of the step inputs in the staging buffers, packed for the batch at hand.
  struct StepLayout {
    size_t hidden, cos_sin, positions, kv_rows, table_offsets, out_rows, tables, total;
  };
  StepLayout layout_for(size_t n_tokens, size_t n_table_entries) const;
  // Fills the pinned staging buffer; returns the layout, the number of output rows and the
  // longest visible context in the batch.
  StepLayout stage_inputs(const Batch& batch, const KvCache& cache, int& n_out, int& max_positions);
  void layer(int32_t index, int n, const StepLayout& step);
  void attention(int32_t index, int n, int max_positions, const StepLayout& step);
  template <typename T>
  T* device_step(const StepLayout&, size_t offset) const { return reinterpret_cast<T*>(step_device_.get<char>() + offset); }

  const ModelConfig& config_;
  const ModelWeights& weights_;
  int32_t max_batch_tokens_;
  int32_t gpu_layers_;
  RopeTable rope_table_;
  int32_t n_blocks_, block_size_, max_sequences_;
  size_t table_capacity_;   // block ids of all sequences' full-context tables
  size_t qkv_stride_;
  size_t partial_rows_;     // (token, head, split) rows the attention scratch holds

  Stream stream_;  // declared before the buffers: destroyed after them
  std::unique_ptr<DeviceWeights> device_weights_;
  std::unique_ptr<DeviceLinear> linear_;
  DeviceBuffer keys_, values_;  // [gpu_layers][n_blocks * block_size][kv_dim]
  DeviceBuffer hidden_, normed_, qkv_, attention_, projected_, gate_, up_, partials_, logits_;
  DeviceBuffer step_device_;
  PinnedBuffer step_host_;
  PinnedBuffer hidden_out_;  // the hidden state handed to the CPU layers
  std::vector<int32_t> sequence_table_offset_;  // per sequence slot, -1: not staged this step
  std::unique_ptr<Transformer> cpu_tail_;       // layers [gpu_layers, n_layer) and the head
};

}  // namespace jisu::cuda
