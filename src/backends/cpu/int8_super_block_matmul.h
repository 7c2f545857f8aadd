#pragma once
// Integer dot-product path of the K-quants (Q2_K .. Q6_K): activations quantized per token in
// super-blocks of 256 (one float scale for all 256, as llama.cpp's Q8_K), so every chunk of a
// weight super-block meets the same activation scale and the chunks' integer products, each
// times its integer sub-scale, add up in int32 before ONE conversion to float per super-block.
// The per-32 path (int8_matmul.h) needs a float multiply-add per 32 elements instead, which
// made these types compute-bound at decode. The price is a coarser activation scale (1/256
// of the values share it instead of 1/32): within the fixtures' tolerance, as for llama.cpp.
//
// Arithmetic (the scalar reference; the SIMD kernel reproduces it bit for bit): per row, token
// and super-block, eight int32 lanes l = 0..7, lane l of chunk c covering elements
// 32c + 4l .. 32c + 4l + 3:
//   Q4_K / Q5_K: lane_l = sum_c scale_c * sum(w * q) over the lane's elements (w the 4- or
//         5-bit unsigned quant);
//         minimum lane_c = min_c * (sums[2c] + sums[2c + 1]);
//         acc[l] = fma(float(lane_l), d * d_x, acc[l]); acc_min[c] = fma(float(min lane_c), dmin * d_x, acc_min[c]);
//         result = reduce(acc) - reduce(acc_min).
//   Q6_K: with unsigned 6-bit u = w + 32 and 16-element sub-scales s_k:
//         lane_l = sum_c s_(2c + l / 4) * sum(u * q) - 32 * (s_2l * sums[2l] + s_(2l+1) * sums[2l+1]);
//         acc[l] = fma(float(lane_l), d * d_x, acc[l]); result = reduce(acc).
//   Q2_K / Q3_K: 16-element sub-scales as Q6_K; Q2_K has a minimum (lanes as Q4_K's, per pair of
//         sub-blocks), Q3_K an offset of 4 (see int8_super_block_matmul_scalar.cpp).
//   reduce(a) = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
// All integer sums are exact (bounds at the kernels). Determinism as int8_matmul.h: a (row,
// token) value depends only on that weight row and that token's quantized row.
#include <cstddef>
#include <cstdint>

#include "backends/cpu/int8_matmul.h"
#include "core/dtype.h"

namespace jisu::cpu {

struct ActivationSuperBlock {
  float d;             // x ~= d * qs[i], d = max|x| / 127 over the 256 values
  int16_t sums[16];    // sums[k] = sum of qs[16k .. 16k + 15]
  int8_t qs[256];      // in [-127, 127], round to nearest even
};
static_assert(sizeof(ActivationSuperBlock) == 292);

inline constexpr size_t kActivationSuperBlockElements = 256;

// True for the weight types that take super-block activations (and the engine should use it).
bool takes_int8_super_blocks(DType type);

inline size_t int8_super_block_row_bytes(size_t n) {
  return n / kActivationSuperBlockElements * sizeof(ActivationSuperBlock);
}

// n must be a multiple of 256.
void quantize_activations_super_blocks(const float* x, size_t n, ActivationSuperBlock* out);
// The scalar references; the SIMD variants are int8_super_block_matmul_isa.cpp's (kernel_table.h).
void quantize_activations_super_blocks_scalar(const float* x, size_t n, ActivationSuperBlock* out);

// Same arguments as matmul_rows_int8, except that `xq` points at ActivationSuperBlock rows
// (xq_stride_bytes apart); validates and dispatches on active_isa().
void matmul_rows_int8_super_blocks(const Int8MatmulArgs& args);
void matmul_rows_int8_super_blocks_scalar(const Int8MatmulArgs& args);

inline const ActivationSuperBlock* super_block_row(const Int8MatmulArgs& args, size_t token) {
  return reinterpret_cast<const ActivationSuperBlock*>(reinterpret_cast<const uint8_t*>(args.xq) +
                                                       token * args.xq_stride_bytes);
}

}  // namespace jisu::cpu
