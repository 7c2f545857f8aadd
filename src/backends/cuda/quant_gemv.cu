// Weight-reading kernels: the skinny product for decode (one warp per weight row, up to
// kMaxGemvTokens tokens per pass, so each weight byte is read once per call) and the
// dequantization to F16 tiles that feed cuBLAS for prefill.
//
// Both are built on one decoder per type: decode_chunk<T>(row, c, v) writes elements
// [32c, 32c + 32) of a weight row to v, exactly as cpu::dequantize_row_scalar computes them.
// A lane of a warp owns whole chunks, so the lanes of a warp together read a contiguous run of
// the row (32 chunks) per step: coalesced, and 16-byte vector loads for the plain types.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels.h"
#include "backends/weight_types.h"
#include "core/error.h"

namespace jisu::cuda {
namespace {

constexpr int kChunk = 32;
constexpr int kGemvWarps = 4;  // rows per block of the GEMV kernel

__device__ __forceinline__ float half_bits_to_float(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }

// Two bytes at an even offset; all quantized fields used below sit at even offsets of blocks
// whose sizes are even, so these loads are aligned.
__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

template <DType T>
struct Decoder;

template <>
struct Decoder<DType::F32> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    const float4* p = reinterpret_cast<const float4*>(row + static_cast<size_t>(c) * kChunk * 4);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float4 f = __ldg(p + i);
      v[4 * i] = f.x, v[4 * i + 1] = f.y, v[4 * i + 2] = f.z, v[4 * i + 3] = f.w;
    }
  }
};

// F16 and BF16: 32 two-byte values in four 16-byte loads; `convert` maps 16 bits to a float.
template <typename Convert>
__device__ __forceinline__ void decode_16bit_chunk(const uint8_t* row, int c, float* v, Convert convert) {
  const uint4* p = reinterpret_cast<const uint4*>(row + static_cast<size_t>(c) * kChunk * 2);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint4 u = __ldg(p + i);
    const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v[8 * i + 2 * j] = convert(words[j] & 0xffffu);
      v[8 * i + 2 * j + 1] = convert(words[j] >> 16);
    }
  }
}

template <>
struct Decoder<DType::F16> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    decode_16bit_chunk(row, c, v, [](uint32_t bits) { return half_bits_to_float(static_cast<uint16_t>(bits)); });
  }
};

template <>
struct Decoder<DType::BF16> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    decode_16bit_chunk(row, c, v, [](uint32_t bits) { return __uint_as_float(bits << 16); });
  }
};

// Q8_0: 34-byte blocks {fp16 d; int8 qs[32]}.
template <>
struct Decoder<DType::Q8_0> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    const uint8_t* b = row + static_cast<size_t>(c) * 34;
    const float d = half_bits_to_float(load_u16(b));
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const uint16_t pair = load_u16(b + 2 + 2 * i);
      v[2 * i] = d * static_cast<float>(static_cast<int8_t>(pair & 0xff));
      v[2 * i + 1] = d * static_cast<float>(static_cast<int8_t>(pair >> 8));
    }
  }
};

// Q4_0: 18-byte blocks {fp16 d; qs[16]}: element j is low nibble of qs[j], j + 16 the high one.
template <>
struct Decoder<DType::Q4_0> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    const uint8_t* b = row + static_cast<size_t>(c) * 18;
    const float d = half_bits_to_float(load_u16(b));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint16_t pair = load_u16(b + 2 + 2 * i);
      const int q0 = pair & 0xff, q1 = pair >> 8;
      v[2 * i] = static_cast<float>((q0 & 0x0f) - 8) * d;
      v[2 * i + 1] = static_cast<float>((q1 & 0x0f) - 8) * d;
      v[2 * i + 16] = static_cast<float>((q0 >> 4) - 8) * d;
      v[2 * i + 17] = static_cast<float>((q1 >> 4) - 8) * d;
    }
  }
};

// Q4_K: 144-byte super-blocks of 256 {fp16 d, dmin; scales[12]; qs[128]}; chunk j of a
// super-block is sub-block j: the low (j even) or high nibbles of qs[32 (j/2) ..], with 6-bit
// scale/min j (cpu::k4_scale_min).
template <>
struct Decoder<DType::Q4_K> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    const uint8_t* b = row + static_cast<size_t>(c / 8) * 144;
    const int j = c % 8;
    const float d = half_bits_to_float(load_u16(b));
    const float dmin = half_bits_to_float(load_u16(b + 2));
    const uint8_t* scales = b + 4;
    int scale, min;
    if (j < 4) {
      scale = scales[j] & 63;
      min = scales[j + 4] & 63;
    } else {
      scale = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
      min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
    const float dl = d * static_cast<float>(scale), ml = dmin * static_cast<float>(min);
    // qs + 32 g sits at byte 16 + 32 g of a 144-byte (16-aligned) block: aligned for uint4.
    const uint4* q = reinterpret_cast<const uint4*>(b + 16 + 32 * (j / 2));
    const int shift = (j & 1) * 4;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const uint4 u = __ldg(q + i);
      const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int w = 0; w < 4; ++w)
#pragma unroll
        for (int k = 0; k < 4; ++k)
          v[16 * i + 4 * w + k] = dl * static_cast<float>((words[w] >> (8 * k + shift)) & 0x0f) - ml;
    }
  }
};

// Q6_K: 210-byte super-blocks {ql[128]; qh[64]; int8 scales[16]; fp16 d}. Chunk j = 4h + q
// holds elements 128h + 32q + l (l < 32): low bits from ql[64h + 32 (q & 1) + l] (low nibble
// for q < 2, high for q >= 2), bits 4-5 from field q of qh[32h + l], scale scales[8h + 2q + l/16].
template <>
struct Decoder<DType::Q6_K> {
  __device__ static void chunk(const uint8_t* row, int c, float* v) {
    const uint8_t* b = row + static_cast<size_t>(c / 8) * 210;
    const int j = c % 8, h = j / 4, q = j % 4;
    const float d = half_bits_to_float(load_u16(b + 208));
    const uint8_t* ql = b + 64 * h + 32 * (q & 1);
    const uint8_t* qh = b + 128 + 32 * h;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * q);
    const float d0 = d * static_cast<float>(sc[0]), d1 = d * static_cast<float>(sc[1]);
    const int low_shift = (q >> 1) * 4, high_shift = 2 * q;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const uint16_t low = load_u16(ql + 2 * i), high = load_u16(qh + 2 * i);
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int l = 2 * i + k;
        const int lo = ((low >> (8 * k)) >> low_shift) & 0x0f;
        const int hi = ((high >> (8 * k)) >> high_shift) & 3;
        v[l] = (l < 16 ? d0 : d1) * static_cast<float>((lo | (hi << 4)) - 32);
      }
    }
  }
};

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// One warp per weight row; lane l takes chunks l, l + 32, ...; all n_tokens activations are
// multiplied with each decoded chunk while it is in registers.
template <DType T>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int chunks, const float* __restrict__ x,
                size_t x_stride, int n_tokens, float* __restrict__ y, size_t y_stride) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together; no block-wide sync follows
  const uint8_t* weights = w + static_cast<size_t>(row) * row_bytes;
  float acc[kMaxGemvTokens];
#pragma unroll
  for (int t = 0; t < kMaxGemvTokens; ++t) acc[t] = 0.0f;
  for (int c = lane; c < chunks; c += 32) {
    float v[kChunk];
    Decoder<T>::chunk(weights, c, v);
#pragma unroll
    for (int t = 0; t < kMaxGemvTokens; ++t) {
      if (t < n_tokens) {
        const float4* xp = reinterpret_cast<const float4*>(x + t * x_stride + static_cast<size_t>(c) * kChunk);
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float4 a = __ldg(xp + i);
          sum += v[4 * i] * a.x + v[4 * i + 1] * a.y + v[4 * i + 2] * a.z + v[4 * i + 3] * a.w;
        }
        acc[t] += sum;
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxGemvTokens; ++t) {
    if (t < n_tokens) {
      const float total = warp_sum(acc[t]);
      if (lane == 0) y[t * y_stride + row] = total;
    }
  }
}

// One thread per chunk of the tile: decodes and stores 32 halves (four 16-byte stores).
template <DType T>
__global__ void dequantize_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t row_begin,
                                      int64_t n_rows, int chunks, __half* __restrict__ out) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_rows * chunks) return;
  const int64_t r = index / chunks;
  const int c = static_cast<int>(index % chunks);
  float v[kChunk];
  Decoder<T>::chunk(w + static_cast<size_t>(row_begin + r) * row_bytes, c, v);
  alignas(16) __half2 packed[kChunk / 2];  // read back as four uint4
#pragma unroll
  for (int i = 0; i < kChunk / 2; ++i) packed[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
  uint4* dst = reinterpret_cast<uint4*>(out + (r * chunks + c) * kChunk);
  const uint4* src = reinterpret_cast<const uint4*>(packed);
#pragma unroll
  for (int i = 0; i < 4; ++i) dst[i] = src[i];
}

__global__ void convert_f16_kernel(const float* __restrict__ x, size_t x_stride, int n_tokens, int cols,
                                   __half* __restrict__ out) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= static_cast<int64_t>(n_tokens) * cols) return;
  const int64_t t = index / cols, k = index % cols;
  out[index] = __float2half_rn(x[t * x_stride + k]);
}

[[noreturn]] void unsupported_on_device(DType type) {
  throw Error("weight type " + std::string(dtype_name(type)) + " is not read by the CUDA kernels (internal: it should have been converted at upload)");
}

// Calls f.template operator()<T>() for the device type of `type`.
template <typename F>
void dispatch_type(DType type, F&& f) {
  switch (type) {
    case DType::F32: return f.template operator()<DType::F32>();
    case DType::F16: return f.template operator()<DType::F16>();
    case DType::BF16: return f.template operator()<DType::BF16>();
    case DType::Q8_0: return f.template operator()<DType::Q8_0>();
    case DType::Q4_0: return f.template operator()<DType::Q4_0>();
    case DType::Q4_K: return f.template operator()<DType::Q4_K>();
    case DType::Q6_K: return f.template operator()<DType::Q6_K>();
    default: unsupported_on_device(type);
  }
}

unsigned blocks_for(int64_t items, int threads) { return static_cast<unsigned>((items + threads - 1) / threads); }

}  // namespace

bool device_reads_type(DType type) {
  const WeightTypeRow* row = find_weight_type(type);
  return row && row->cuda_native;
}

void launch_gemv(const DeviceMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y, size_t y_stride,
                 cudaStream_t stream) {
  JISU_ASSERT(n_tokens >= 1 && n_tokens <= kMaxGemvTokens && w.cols % kChunk == 0);
  const int chunks = static_cast<int>(w.cols / kChunk);
  const unsigned grid = blocks_for(w.rows, kGemvWarps);
  dispatch_type(w.type, [&]<DType T>() {
    gemv_kernel<T><<<grid, kGemvWarps * 32, 0, stream>>>(static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows,
                                                         chunks, x, x_stride, n_tokens, y, y_stride);
  });
  JISU_CUDA_CHECK_LAUNCH();
}

void launch_dequantize_f16(const DeviceMatrix& w, int64_t row_begin, int64_t row_end, void* out, cudaStream_t stream) {
  JISU_ASSERT(row_begin >= 0 && row_begin < row_end && row_end <= w.rows && w.cols % kChunk == 0);
  const int chunks = static_cast<int>(w.cols / kChunk);
  const int64_t n_rows = row_end - row_begin;
  constexpr int kThreads = 256;
  const unsigned grid = blocks_for(n_rows * chunks, kThreads);
  dispatch_type(w.type, [&]<DType T>() {
    dequantize_f16_kernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const uint8_t*>(w.data), w.row_bytes,
                                                            row_begin, n_rows, chunks, static_cast<__half*>(out));
  });
  JISU_CUDA_CHECK_LAUNCH();
}

void launch_convert_f16(const float* x, size_t x_stride, int n_tokens, int cols, void* out, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t items = static_cast<int64_t>(n_tokens) * cols;
  if (items == 0) return;
  convert_f16_kernel<<<blocks_for(items, kThreads), kThreads, 0, stream>>>(x, x_stride, n_tokens, cols,
                                                                            static_cast<__half*>(out));
  JISU_CUDA_CHECK_LAUNCH();
}

}  // namespace jisu::cuda
