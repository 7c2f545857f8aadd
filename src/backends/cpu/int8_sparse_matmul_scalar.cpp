// The scalar reference of the sparse int8 kernels (int8_sparse_matmul.h): the definition the
// SIMD kernels of int8_sparse_matmul_isa.cpp match bit for bit.
#include <cmath>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"

namespace jisu::cpu {
namespace {

// Activation block a (weights 32a .. 32a + 31, whose mask bits are `mask32`) times its weights,
// into the 8 lane accumulators of its parity `acc` (acc[0..8) for even a, acc[8..16) for odd):
// lane l sums the integer products of elements 4l .. 4l + 3 (the SIMD dot's lanes), then
// acc[l] = fma(float(lane sum), d_w * x.d, acc[l]). `values` (stored biased: sparse_blocks.h)
// advances past the values it used.
void accumulate_run(uint32_t mask32, const uint8_t*& values, float d, const ActivationBlock& x, float acc[8]) {
  int32_t lanes[8] = {};
  for (size_t j = 0; j < 32; ++j)
    if ((mask32 >> j) & 1) lanes[j / 4] += sparse_value(*values++) * x.qs[j];
  const float scale = d * x.d;
  for (int l = 0; l < 8; ++l) acc[l] = std::fma(static_cast<float>(lanes[l]), scale, acc[l]);
}

float sparse_row_dot(const uint8_t* row, size_t n, const ActivationBlock* x) {
  const SparseRowLayout layout = sparse_row_layout(n);
  const uint8_t* values = row + layout.values_offset();
  float acc[16] = {};
  for (size_t a = 0; a < n / 32; ++a) {
    const size_t b = a / 2;  // two activation blocks per 64-weight block
    const auto mask32 = static_cast<uint32_t>(load_u64(row + 8 * b) >> (32 * (a % 2)));
    const float d = fp16_to_fp32(load_u16(row + layout.scales_offset() + 2 * b));
    accumulate_run(mask32, values, d, x[a], acc + 8 * (a % 2));
  }
  float lanes[8];
  for (int l = 0; l < 8; ++l) lanes[l] = acc[l] + acc[l + 8];
  return reduce_lanes(lanes);
}

}  // namespace

void matmul_rows_sparse_int8_scalar(const Int8MatmulArgs& a) {
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const auto* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
    for (size_t t = 0; t < a.n_tokens; ++t) {
      const auto* x = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const char*>(a.xq) + t * a.xq_stride_bytes);
      a.y[t * a.y_stride + r] = sparse_row_dot(row, a.n, x);
    }
  }
}

}  // namespace jisu::cpu
