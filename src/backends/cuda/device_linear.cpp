#include "backends/cuda/device_linear.h"

#include <algorithm>

#include "core/error.h"

namespace jisu::cuda {
namespace {
// Dequantized weight tile: at most this many bytes, whole multiples of 256 rows.
constexpr int64_t kTileBytes = int64_t{128} << 20;
constexpr size_t kHalfBytes = 2;
}  // namespace

DeviceLinear::DeviceLinear(cudaStream_t stream, int64_t max_tokens, int64_t max_cols)
    : stream_(stream), max_tokens_(max_tokens), max_cols_(max_cols) {
  JISU_ASSERT(max_tokens > 0 && max_cols > 0);
  tile_rows_ = std::max<int64_t>(256, kTileBytes / (max_cols * static_cast<int64_t>(kHalfBytes)) / 256 * 256);
  x_half_ = DeviceBuffer(static_cast<size_t>(max_tokens * max_cols) * kHalfBytes);
  w_half_ = DeviceBuffer(static_cast<size_t>(tile_rows_ * max_cols) * kHalfBytes);
  JISU_CUBLAS_CHECK(cublasCreate(&handle_));
  JISU_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
}

DeviceLinear::~DeviceLinear() {
  if (handle_) cublasDestroy(handle_);
}

void DeviceLinear::run(const DeviceMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y, size_t y_stride) {
  JISU_ASSERT(n_tokens >= 1 && n_tokens <= max_tokens_ && w.cols <= max_cols_);
  if (n_tokens <= kMaxGemvTokens) {
    launch_gemv(w, x, x_stride, n_tokens, y, y_stride, stream_);
    return;
  }
  // Column-major view (cuBLAS): W row-major [rows][cols] is a cols x rows matrix, used
  // transposed; x row-major [n][x_stride] is cols x n with ld x_half's cols; y row-major
  // [n][y_stride] is rows x n with ld y_stride. So y = op(W)^T x in one GEMM per row tile.
  const int cols = static_cast<int>(w.cols);
  launch_convert_f16(x, x_stride, n_tokens, cols, x_half_.get(), stream_);
  const float alpha = 1.0f, beta = 0.0f;
  for (int64_t row = 0; row < w.rows; row += tile_rows_) {
    const int64_t tile = std::min(tile_rows_, w.rows - row);
    const void* a;
    if (w.type == DType::F16) {
      a = static_cast<const char*>(w.data) + static_cast<size_t>(row) * w.row_bytes;
    } else {
      launch_dequantize_f16(w, row, row + tile, w_half_.get(), stream_);
      a = w_half_.get();
    }
    JISU_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(tile), n_tokens, cols, &alpha, a,
                                   CUDA_R_16F, cols, x_half_.get(), CUDA_R_16F, cols, &beta, y + row, CUDA_R_32F,
                                   static_cast<int>(y_stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace jisu::cuda
