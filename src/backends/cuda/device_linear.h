#pragma once
// y = W x on the device for any batch: the GEMV kernel up to kMaxGemvTokens tokens (decode,
// weights read once in their file type), cuBLAS FP16 GEMM with FP32 accumulation above it
// (prefill), the weights dequantized to F16 one row tile at a time into a scratch buffer
// planned at construction (F16 weights are used in place).
#include <cstddef>
#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/kernels.h"

namespace jisu::cuda {

class DeviceLinear {
 public:
  // Plans scratch for inputs of up to max_tokens x max_cols and weights up to max_cols wide.
  DeviceLinear(cudaStream_t stream, int64_t max_tokens, int64_t max_cols);
  ~DeviceLinear();
  DeviceLinear(const DeviceLinear&) = delete;
  DeviceLinear& operator=(const DeviceLinear&) = delete;

  // y[t * y_stride + r] = sum_k W[r][k] x[t * x_stride + k], r < W.rows, t < n_tokens.
  void run(const DeviceMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y, size_t y_stride);

 private:
  cudaStream_t stream_;
  cublasHandle_t handle_ = nullptr;
  int64_t max_tokens_, max_cols_;
  int64_t tile_rows_;
  DeviceBuffer x_half_;  // [max_tokens][max_cols] half
  DeviceBuffer w_half_;  // [tile_rows][max_cols] half
};

}  // namespace jisu::cuda
