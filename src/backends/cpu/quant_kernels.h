#pragma once
// Weight-type kernels: dequantization and weight-row x float-activation products for every
// tensor type the engine loads (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_NL).
//
// Activations stay float: each weight block is decoded in registers / on the stack and
// multiplied straight into the accumulators; no dequantized copy of a matrix is ever made.
//
// Determinism invariant (tests rely on it): the value computed for (row r, token t) depends
// only on the weight row and the activation row, never on how many tokens are in the call,
// where t falls in a tile, or which row range / thread computed it. So a batch of one token and
// a batch of 48 give bit-identical results, whatever the thread count.
//
// Every function has a scalar reference (suffix _scalar); the dispatching entry points pick
// the active ISA (core/cpu_features.h, kernel_table.h).
#include <cstddef>

#include "core/cpu_features.h"
#include "core/dtype.h"

namespace jisu::cpu {

// True if the kernels below accept this weight type.
bool weight_type_supported(DType type);

// dst[0..n) = dequantized src; n is a multiple of the type's block_elements.
void dequantize_row(DType type, const void* src, float* dst, size_t n);

// Arguments of a matmul over a slice of weight rows:
//   y[t * y_stride + r] = sum_k W[r][k] * x[t * x_stride + k]
// for r in [row_begin, row_end), t in [0, n_tokens), k in [0, n).
// W row r starts at (const char*)w + r * w_row_bytes.
struct MatmulArgs {
  DType type;
  const void* w;
  size_t w_row_bytes;
  size_t n;  // row length in elements (multiple of block_elements)
  const float* x;
  size_t x_stride;
  size_t n_tokens;
  float* y;
  size_t y_stride;
  size_t row_begin;
  size_t row_end;
};

void matmul_rows(const MatmulArgs& args);  // dispatches on active_isa()

// The scalar references. The SIMD variants are instantiations of quant_kernels_isa.cpp, one
// per vector width (kernel_table.h).
void dequantize_row_scalar(DType type, const void* src, float* dst, size_t n);
void matmul_rows_scalar(const MatmulArgs& args);

// fp16 / bf16 scalar conversions (IEEE half, round-to-nearest-even when narrowing).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace jisu::cpu
