// The scalar reference of the sparse int8 kernels (int8_sparse_matmul.h): the definition the
// SIMD kernels of int8_sparse_matmul_isa.cpp match bit for bit.
#include <cmath>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"

namespace jisu::cpu {
namespace {

// Sum over the `count` positions of a mask run starting at bit `first`: value * activation.
// `values` advances past the values it used.
int32_t masked_dot(uint64_t mask, size_t first, size_t count, const int8_t*& values, const int8_t* activations) {
  int32_t sum = 0;
  for (size_t j = 0; j < count; ++j)
    if ((mask >> (first + j)) & 1) sum += static_cast<int32_t>(*values++) * activations[j];
  return sum;
}

float sparse_q8_row_dot(const uint8_t* row, size_t n, const ActivationBlock* x) {
  float acc = 0.0f;
  for (size_t b = 0; b < n / kSparseBlockElements; ++b) {
    const uint64_t mask = load_u64(row);
    const float d = fp16_to_fp32(load_u16(row + 8));
    const auto* values = reinterpret_cast<const int8_t*>(row + kSparseBlockHeaderBytes);
    const ActivationBlock& x0 = x[2 * b];
    const ActivationBlock& x1 = x[2 * b + 1];
    const int32_t sum0 = masked_dot(mask, 0, 32, values, x0.qs);
    const int32_t sum1 = masked_dot(mask, 32, 32, values, x1.qs);
    acc = std::fma(d, std::fma(x0.d, static_cast<float>(sum0), x1.d * static_cast<float>(sum1)), acc);
    row = reinterpret_cast<const uint8_t*>(values);
  }
  return acc;
}

float nm_q8_row_dot(const uint8_t* row, size_t n, const ActivationBlock* x) {
  float acc = 0.0f;
  for (size_t b = 0; b < n / kNmBlockElements; ++b, row += kNmBlockBytes) {
    const uint32_t mask = load_u32(row);
    const float d = fp16_to_fp32(load_u16(row + 4));
    const auto* values = reinterpret_cast<const int8_t*>(row + kNmBlockHeaderBytes);
    const int32_t sum = masked_dot(mask, 0, 32, values, x[b].qs);
    acc = std::fma(d, x[b].d * static_cast<float>(sum), acc);
  }
  return acc;
}

}  // namespace

void matmul_rows_sparse_int8_scalar(const Int8MatmulArgs& a) {
  const bool nm = a.type == kJisuNmQ8;
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const auto* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
    for (size_t t = 0; t < a.n_tokens; ++t) {
      const auto* x = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const char*>(a.xq) + t * a.xq_stride_bytes);
      a.y[t * a.y_stride + r] = nm ? nm_q8_row_dot(row, a.n, x) : sparse_q8_row_dot(row, a.n, x);
    }
  }
}

}  // namespace jisu::cpu
