// Row-wise ops of the forward pass on the device, each the counterpart of a CPU op in
// backends/cpu (ops.h, attention.h) and checked against it by tests/cuda:
// fused residual add + RMSNorm, QKV bias + Q/K norm + RoPE + paged KV write, SwiGLU/GeGLU, and
// attention over the paged KV cache (split over positions, then merged).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"

namespace jisu::cuda {
namespace {

constexpr int kNormThreads = 256;
constexpr int kQkvWarps = 4;
constexpr int kAttentionWarps = 4;

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float value) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  value = warp_sum(value);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  float total = lane < n_warps ? partial[lane] : 0.0f;
  return warp_sum(total);
}

__global__ void add_rms_norm_kernel(float* __restrict__ hidden, const float* __restrict__ delta,
                                    const float* __restrict__ weight, float eps, int d, const int32_t* __restrict__ rows,
                                    float* __restrict__ out) {
  const int t = blockIdx.x;
  const size_t in = static_cast<size_t>(rows ? rows[t] : t) * d;
  float* x = hidden + in;
  float squares = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float value = x[i];
    if (delta) {
      value += delta[in + i];
      x[i] = value;  // each element is read back below only by the thread that wrote it
    }
    squares += value * value;
  }
  if (!out) return;  // uniform across the block: no barrier is skipped by part of it
  const float scale = rsqrtf(block_sum(squares) / static_cast<float>(d) + eps);
  float* y = out + static_cast<size_t>(t) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) y[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

// One warp per head (Q heads, then K heads, then V heads) of one token (blockIdx.x).
__global__ void qkv_rope_kv_write_kernel(QkvArgs a) {
  const int t = blockIdx.x;
  const int lane = threadIdx.x % 32;
  const int q_dim = a.n_head * a.head_dim, kv_dim = a.n_head_kv * a.head_dim;
  const int units = a.n_head + 2 * a.n_head_kv;
  float* row = a.qkv + static_cast<size_t>(t) * a.qkv_stride;
  const float* cos_sin = a.cos_sin + static_cast<size_t>(t) * a.rope_dims;
  const size_t cache_row = static_cast<size_t>(a.kv_rows[t]) * kv_dim;
  for (int unit = threadIdx.x / 32; unit < units; unit += blockDim.x / 32) {
    const bool is_q = unit < a.n_head, is_k = !is_q && unit < a.n_head + a.n_head_kv;
    const int offset = unit * a.head_dim;  // q, k and v heads are contiguous in the row
    float* head = row + offset;
    const float* norm = is_q ? a.q_norm : (is_k ? a.k_norm : nullptr);
    float squares = 0.0f;
    for (int i = lane; i < a.head_dim; i += 32) {
      float value = head[i];
      if (a.bias) value += a.bias[offset + i];
      head[i] = value;
      squares += value * value;
    }
    if (norm) {
      const float scale = rsqrtf(warp_sum(squares) / static_cast<float>(a.head_dim) + a.eps);
      for (int i = lane; i < a.head_dim; i += 32) head[i] = head[i] * scale * norm[i];
    }
    __syncwarp();  // the rotation reads elements other lanes wrote
    if (is_q || is_k) {
      const int half = a.rope_dims / 2;
      for (int i = lane; i < half; i += 32) {
        const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
        const int first = a.neox ? i : 2 * i, second = a.neox ? i + half : 2 * i + 1;
        const float x0 = head[first], x1 = head[second];
        head[first] = x0 * c - x1 * s;
        head[second] = x0 * s + x1 * c;
      }
      __syncwarp();
    }
    if (!is_q) {
      float* cache = (is_k ? a.keys : a.values) + cache_row + (offset - q_dim - (is_k ? 0 : kv_dim));
      for (int i = lane; i < a.head_dim; i += 32) cache[i] = head[i];
    }
  }
}

__global__ void glu_kernel(float* __restrict__ gate, size_t gate_stride, const float* __restrict__ up, size_t up_stride,
                           int n_tokens, int ff, bool gelu) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= static_cast<int64_t>(n_tokens) * ff) return;
  const int64_t t = index / ff, i = index % ff;
  float* g = gate + t * gate_stride + i;
  const float x = *g, u = up[t * up_stride + i];
  if (gelu) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    *g = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x))) * u;
  } else {
    *g = x / (1.0f + expf(-x)) * u;
  }
}

// Grid (n_tokens * n_head, n_splits), kAttentionWarps warps. Each warp runs an online softmax
// over every kAttentionWarps-th position of the split; the warps are merged through shared
// memory into one partial (max, sum, sum of weighted values) per split.
__global__ void __launch_bounds__(kAttentionWarps * 32) attention_partial_kernel(AttentionArgs a) {
  constexpr int kPerLane = kMaxHeadDim / 32;
  __shared__ float warp_max[kAttentionWarps], warp_sum_exp[kAttentionWarps];
  __shared__ float warp_out[kAttentionWarps][kMaxHeadDim];
  const int t = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head, split = blockIdx.y;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int per_lane = a.head_dim / 32;
  const int kv_head = h / (a.n_head / a.n_head_kv);
  const int n_positions = a.positions[t] + 1;
  const int begin = split * a.split_positions;
  const int end = min(n_positions, begin + a.split_positions);
  const int32_t* table = a.tables + a.table_offsets[t];
  const float* q = a.q + static_cast<size_t>(t) * a.q_stride + static_cast<size_t>(h) * a.head_dim;

  float query[kPerLane], out[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    query[i] = i < per_lane ? q[lane + 32 * i] : 0.0f;
    out[i] = 0.0f;
  }
  float running_max = -INFINITY, running_sum = 0.0f;
  for (int p = begin + warp; p < end; p += kAttentionWarps) {
    const size_t base = (static_cast<size_t>(table[p / a.block_size]) * a.block_size + p % a.block_size) * a.kv_dim +
                        static_cast<size_t>(kv_head) * a.head_dim;
    const float* key = a.keys + base;
    const float* value = a.values + base;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i)
      if (i < per_lane) dot += query[i] * key[lane + 32 * i];
    const float score = warp_sum(dot) * a.scale;
    const float new_max = fmaxf(running_max, score);
    const float correction = expf(running_max - new_max);  // 0 on the first position
    const float weight = expf(score - new_max);
    running_sum = running_sum * correction + weight;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i)
      if (i < per_lane) out[i] = out[i] * correction + weight * value[lane + 32 * i];
    running_max = new_max;
  }
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum_exp[warp] = running_sum;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i)
    if (i < per_lane) warp_out[warp][lane + 32 * i] = out[i];
  __syncthreads();

  float merged_max = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) merged_max = fmaxf(merged_max, warp_max[w]);
  // A warp (or the whole split) with no positions has max -inf and weight 0.
  float weights[kAttentionWarps];
  float merged_sum = 0.0f;
  for (int w = 0; w < kAttentionWarps; ++w) {
    weights[w] = warp_max[w] == -INFINITY ? 0.0f : expf(warp_max[w] - merged_max);
    merged_sum += weights[w] * warp_sum_exp[w];
  }
  float* partial = a.partials + (static_cast<size_t>(blockIdx.x) * a.n_splits + split) * (a.head_dim + 2);
  if (threadIdx.x == 0) {
    partial[0] = merged_max;
    partial[1] = merged_sum;
  }
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w) value += weights[w] * warp_out[w][d];
    partial[2 + d] = value;
  }
}

// One block per (token, head): merges the splits' partials and normalises.
__global__ void attention_merge_kernel(AttentionArgs a) {
  const int t = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head;
  const float* partials = a.partials + static_cast<size_t>(blockIdx.x) * a.n_splits * (a.head_dim + 2);
  float merged_max = -INFINITY;
  for (int s = 0; s < a.n_splits; ++s) merged_max = fmaxf(merged_max, partials[s * (a.head_dim + 2)]);
  float total = 0.0f;
  for (int s = 0; s < a.n_splits; ++s) {
    const float* p = partials + s * (a.head_dim + 2);
    if (p[0] != -INFINITY) total += expf(p[0] - merged_max) * p[1];
  }
  const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
  float* out = a.out + static_cast<size_t>(t) * a.out_stride + static_cast<size_t>(h) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int s = 0; s < a.n_splits; ++s) {
      const float* p = partials + s * (a.head_dim + 2);
      if (p[0] != -INFINITY) value += expf(p[0] - merged_max) * p[2 + d];
    }
    out[d] = value * inverse;
  }
}

unsigned blocks_for(int64_t items, int threads) { return static_cast<unsigned>((items + threads - 1) / threads); }

}  // namespace

void launch_add_rms_norm(float* hidden, const float* delta, const float* weight, float eps, int d, const int32_t* rows,
                         int n_rows, float* out, cudaStream_t stream) {
  if (n_rows == 0) return;
  add_rms_norm_kernel<<<n_rows, kNormThreads, 0, stream>>>(hidden, delta, weight, eps, d, rows, out);
  JISU_CUDA_CHECK_LAUNCH();
}

void launch_qkv_rope_kv_write(const QkvArgs& args, cudaStream_t stream) {
  JISU_ASSERT(args.rope_dims % 2 == 0 && args.rope_dims <= args.head_dim);
  if (args.n_tokens == 0) return;
  qkv_rope_kv_write_kernel<<<args.n_tokens, kQkvWarps * 32, 0, stream>>>(args);
  JISU_CUDA_CHECK_LAUNCH();
}

void launch_glu(float* gate, size_t gate_stride, const float* up, size_t up_stride, int n_tokens, int ff, bool gelu,
                cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t items = static_cast<int64_t>(n_tokens) * ff;
  if (items == 0) return;
  glu_kernel<<<blocks_for(items, kThreads), kThreads, 0, stream>>>(gate, gate_stride, up, up_stride, n_tokens, ff, gelu);
  JISU_CUDA_CHECK_LAUNCH();
}

void launch_attention(const AttentionArgs& args, cudaStream_t stream) {
  JISU_ASSERT(args.head_dim % 32 == 0 && args.head_dim <= kMaxHeadDim && args.n_splits >= 1 &&
              args.split_positions >= 1 && args.n_head % args.n_head_kv == 0);
  if (args.n_tokens == 0) return;
  const dim3 grid(static_cast<unsigned>(args.n_tokens * args.n_head), static_cast<unsigned>(args.n_splits));
  attention_partial_kernel<<<grid, kAttentionWarps * 32, 0, stream>>>(args);
  JISU_CUDA_CHECK_LAUNCH();
  attention_merge_kernel<<<args.n_tokens * args.n_head, 128, 0, stream>>>(args);
  JISU_CUDA_CHECK_LAUNCH();
}

}  // namespace jisu::cuda
