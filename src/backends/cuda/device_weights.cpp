#include "backends/cuda/device_weights.h"

#include <algorithm>
#include <string>

#include "backends/cpu/quant_kernels.h"
#include "core/error.h"

namespace jisu::cuda {

DeviceWeights::DeviceWeights(const ModelConfig& config, const ModelWeights& weights, int32_t n_layers, bool with_head) {
  layers_.reserve(static_cast<size_t>(n_layers));
  for (int32_t i = 0; i < n_layers; ++i) {
    const LayerWeights& layer = weights.layers[static_cast<size_t>(i)];
    DeviceLayer device;
    device.attn_norm = upload(layer.attn_norm);
    if (layer.wqkv.present()) {
      device.wqkv = upload(layer.wqkv);
    } else {
      device.wq = upload(layer.wq);
      device.wk = upload(layer.wk);
      device.wv = upload(layer.wv);
    }
    device.qkv_bias = upload_qkv_bias(config, layer);
    device.q_norm = upload(layer.q_norm);
    device.k_norm = upload(layer.k_norm);
    device.wo = upload(layer.wo);
    device.ffn_norm = upload(layer.ffn_norm);
    if (layer.ffn_gate_up.present()) {
      device.ffn_gate_up = upload(layer.ffn_gate_up);
    } else {
      device.ffn_gate = upload(layer.ffn_gate);
      device.ffn_up = upload(layer.ffn_up);
    }
    device.ffn_down = upload(layer.ffn_down);
    layers_.push_back(device);
  }
  if (with_head) {
    output_norm_ = upload(weights.output_norm);
    output_ = upload(weights.output);
  }
  // cudaMemcpy from pageable memory may return before the data lands, and the forward pass
  // runs on a non-blocking stream that does not wait for the legacy stream: wait here.
  JISU_CUDA_CHECK(cudaDeviceSynchronize());
}

DeviceMatrix DeviceWeights::upload(const WeightMatrix& matrix) {
  if (matrix.cols % 32 != 0)
    throw Error("tensor " + matrix.name + " has " + std::to_string(matrix.cols) +
                " columns; the CUDA backend needs multiples of 32", "run this model with --device cpu");
  DeviceMatrix device;
  device.rows = matrix.rows;
  device.cols = matrix.cols;
  max_cols_ = std::max(max_cols_, matrix.cols);
  if (device_reads_type(matrix.type)) {
    device.type = matrix.type;
    device.row_bytes = matrix.row_bytes;
    DeviceBuffer& buffer = buffers_.emplace_back(matrix.bytes());
    JISU_CUDA_CHECK(cudaMemcpy(buffer.get(), matrix.data, matrix.bytes(), cudaMemcpyHostToDevice));
    device.data = buffer.get();
  } else {
    // Types without a device decoder: dequantized to F16 on the host, in slabs of rows of at
    // most kSlabBytes, each copied at once.
    constexpr size_t kSlabBytes = size_t{32} << 20;
    device.type = DType::F16;
    const auto cols = static_cast<size_t>(matrix.cols);
    device.row_bytes = cols * 2;
    DeviceBuffer& buffer = buffers_.emplace_back(static_cast<size_t>(matrix.rows) * device.row_bytes);
    const int64_t slab_rows = std::max<int64_t>(1, static_cast<int64_t>(kSlabBytes / device.row_bytes));
    std::vector<float> row(cols);
    std::vector<uint16_t> slab(static_cast<size_t>(std::min(slab_rows, matrix.rows)) * cols);
    for (int64_t first = 0; first < matrix.rows; first += slab_rows) {
      const int64_t count = std::min(slab_rows, matrix.rows - first);
      for (int64_t r = 0; r < count; ++r) {
        cpu::dequantize_row(matrix.type, matrix.row(first + r), row.data(), cols);
        uint16_t* half = slab.data() + static_cast<size_t>(r) * cols;
        for (size_t k = 0; k < cols; ++k) half[k] = cpu::fp32_to_fp16(row[k]);
      }
      JISU_CUDA_CHECK(cudaMemcpy(buffer.get<char>() + static_cast<size_t>(first) * device.row_bytes, slab.data(),
                                 static_cast<size_t>(count) * device.row_bytes, cudaMemcpyHostToDevice));
    }
    device.data = buffer.get();
  }
  bytes_ += static_cast<size_t>(device.rows) * device.row_bytes;
  return device;
}

const float* DeviceWeights::upload(const std::vector<float>& values) {
  if (values.empty()) return nullptr;
  DeviceBuffer& buffer = buffers_.emplace_back(values.size() * sizeof(float));
  JISU_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  bytes_ += buffer.bytes();
  return buffer.get<float>();
}

const float* DeviceWeights::upload_qkv_bias(const ModelConfig& config, const LayerWeights& layer) {
  if (layer.bq.empty() && layer.bk.empty() && layer.bv.empty()) return nullptr;
  const auto q_dim = static_cast<size_t>(config.q_dim()), kv_dim = static_cast<size_t>(config.kv_dim());
  JISU_ASSERT(layer.bq.size() <= q_dim && layer.bk.size() <= kv_dim && layer.bv.size() <= kv_dim);
  // One vector laid out as a QKV row, so the kernel adds it with the row's own offsets.
  std::vector<float> bias(q_dim + 2 * kv_dim, 0.0f);
  std::copy(layer.bq.begin(), layer.bq.end(), bias.begin());
  std::copy(layer.bk.begin(), layer.bk.end(), bias.begin() + static_cast<std::ptrdiff_t>(q_dim));
  std::copy(layer.bv.begin(), layer.bv.end(), bias.begin() + static_cast<std::ptrdiff_t>(q_dim + kv_dim));
  return upload(bias);
}

}  // namespace jisu::cuda
