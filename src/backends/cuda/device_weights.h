#pragma once
// The model's weights for the layers that run on the device, uploaded once: matrices in their
// file type when the kernels read it (kernels.h: device_reads_type), otherwise dequantized to
// F16 on the host first; norm weights and biases as float.
#include <cstdint>
#include <vector>

#include "backends/cuda/device_buffer.h"
#include "backends/cuda/kernels.h"
#include "models/model_config.h"
#include "models/model_weights.h"

namespace jisu::cuda {

struct DeviceLayer {
  const float* attn_norm = nullptr;
  DeviceMatrix wq, wk, wv, wqkv;  // wqkv.data set when fused
  const float* qkv_bias = nullptr;  // [q_dim + 2 kv_dim] (zeros for missing parts) or null
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  DeviceMatrix wo;
  const float* ffn_norm = nullptr;
  DeviceMatrix ffn_gate, ffn_up, ffn_gate_up;  // ffn_gate_up.data set when fused
  DeviceMatrix ffn_down;
};

class DeviceWeights {
 public:
  // Layers [0, n_layers); with_head: also output_norm and output. Throws jisu::Error for a
  // matrix the kernels cannot take (width not a multiple of 32) or a failed upload.
  DeviceWeights(const ModelConfig& config, const ModelWeights& weights, int32_t n_layers, bool with_head);

  const std::vector<DeviceLayer>& layers() const { return layers_; }
  const float* output_norm() const { return output_norm_; }
  const DeviceMatrix& output() const { return output_; }
  size_t bytes() const { return bytes_; }
  int64_t max_cols() const { return max_cols_; }

 private:
  DeviceMatrix upload(const WeightMatrix& matrix);
  const float* upload(const std::vector<float>& values);
  const float* upload_qkv_bias(const ModelConfig& config, const LayerWeights& layer);

  std::vector<DeviceBuffer> buffers_;
  std::vector<DeviceLayer> layers_;
  const float* output_norm_ = nullptr;
  DeviceMatrix output_;
  size_t bytes_ = 0;
  int64_t max_cols_ = 0;
};

}  // namespace jisu::cuda
