#pragma once
// Host-side launchers of the CUDA kernels (quant_gemv.cu, ops.cu). Plain C++ declarations:
// callers need only the CUDA runtime's stream type. Every launcher checks the launch and
// throws jisu::Error on failure; arguments are device pointers unless named otherwise.
//
// Layout invariants the kernels rely on (checked once at upload / construction):
// - matrix widths (cols) are multiples of 32, rows of a matrix are row_bytes apart and the
//   matrix starts 256-byte aligned (cudaMalloc), so a 32-element chunk of an F32/F16/BF16 row
//   can be read with 16-byte vector loads;
// - activation rows are float, 16-byte aligned, with strides that are multiples of 4 floats.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace jisu::cuda {

// The types the kernels read in place; any other weight type is dequantized to F16 at upload.
bool device_reads_type(DType type);

// Skinny products (decode) are done by the GEMV kernel up to this many tokens; more go to
// cuBLAS on dequantized F16 tiles.
inline constexpr int kMaxGemvTokens = 16;

struct DeviceMatrix {
  DType type = DType::F16;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// y[t * y_stride + r] = sum_k W[r][k] * x[t * x_stride + k], r < rows, t < n_tokens.
// 1 <= n_tokens <= kMaxGemvTokens. Each weight byte is read once per call.
void launch_gemv(const DeviceMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y, size_t y_stride,
                 cudaStream_t stream);
// out[(r - row_begin) * cols + k] = W[r][k] as IEEE half, rows [row_begin, row_end).
void launch_dequantize_f16(const DeviceMatrix& w, int64_t row_begin, int64_t row_end, void* out, cudaStream_t stream);
// out[t * cols + k] = half(x[t * x_stride + k]).
void launch_convert_f16(const float* x, size_t x_stride, int n_tokens, int cols, void* out, cudaStream_t stream);

// For each output row t < n_rows, input row i = rows ? rows[t] : t (rows must then be distinct):
//   if delta:  hidden[i] += delta[i]            (the residual add)
//   if out:    out[t] = hidden[i] / rms(hidden[i]) * weight   (weight may be null)
// Rows are d floats apart.
void launch_add_rms_norm(float* hidden, const float* delta, const float* weight, float eps, int d, const int32_t* rows,
                         int n_rows, float* out, cudaStream_t stream);

// After the QKV projection, per token: bias add, per-head Q/K RMSNorm (when given), RoPE on Q
// and K, then K and V written to the paged cache at row kv_rows[t] (= block * block_size + slot).
struct QkvArgs {
  float* qkv;            // [n_tokens][qkv_stride]: q (n_head heads), k, v (n_head_kv heads each)
  size_t qkv_stride;
  int n_tokens;
  int n_head, n_head_kv, head_dim, rope_dims;
  bool neox;
  const float* bias;     // [q_dim + 2 kv_dim] or null
  const float* q_norm;   // [head_dim] or null
  const float* k_norm;   // [head_dim] or null
  float eps;
  const float* cos_sin;  // [n_tokens][rope_dims]: (cos, sin) pairs
  const int32_t* kv_rows;
  float* keys;           // this layer's cache: [n_blocks * block_size][kv_dim]
  float* values;
};
void launch_qkv_rope_kv_write(const QkvArgs& args, cudaStream_t stream);

// gate[t * gate_stride + i] = act(gate[...]) * up[t * up_stride + i], i < ff (SwiGLU / GeGLU-tanh).
void launch_glu(float* gate, size_t gate_stride, const float* up, size_t up_stride, int n_tokens, int ff, bool gelu,
                cudaStream_t stream);

// Causal attention over the paged cache, flash-decoding style: the visible positions
// [0, positions[t]] of each (token, head) are cut into n_splits ranges of split_positions;
// each range gives a partial softmax (max, sum, weighted values), and a second kernel merges
// them. Token t reads only its own sequence's block table, at tables + table_offsets[t].
struct AttentionArgs {
  const float* q;        // head h of token t at q + t * q_stride + h * head_dim
  size_t q_stride;
  const float* keys;     // this layer's cache
  const float* values;
  const int32_t* tables;
  const int32_t* table_offsets;
  const int32_t* positions;
  int n_tokens, n_head, n_head_kv, head_dim, block_size, kv_dim;
  float scale;
  int n_splits, split_positions;
  float* partials;       // [n_tokens * n_head][n_splits][head_dim + 2]
  float* out;            // head h of token t at out + t * out_stride + h * head_dim
  size_t out_stride;
};
inline constexpr int kMaxHeadDim = 256;  // head_dim: a multiple of 32, at most this
void launch_attention(const AttentionArgs& args, cudaStream_t stream);

}  // namespace jisu::cuda
