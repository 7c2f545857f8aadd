// The scalar reference of the sparse int8 kernels (int8_sparse_matmul.h): the definition the
// SIMD kernels of int8_sparse_matmul_isa.cpp match bit for bit.
#include <cmath>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"

namespace jisu::cpu {
namespace {

// One 32-weight run of a mask (bits first .. first + 31) times an activation block, into the 8
// lane accumulators: lane l sums the integer products of elements 4l .. 4l + 3 (the SIMD dot's
// lanes), then acc[l] = fma(float(lane sum), d_w * x.d, acc[l]). `values` advances past the
// values it used.
void accumulate_run(uint64_t mask, size_t first, const int8_t*& values, float d, const ActivationBlock& x,
                    float acc[8]) {
  int32_t lanes[8] = {};
  for (size_t j = 0; j < 32; ++j)
    if ((mask >> (first + j)) & 1) lanes[j / 4] += static_cast<int32_t>(*values++) * x.qs[j];
  const float scale = d * x.d;
  for (int l = 0; l < 8; ++l) acc[l] = std::fma(static_cast<float>(lanes[l]), scale, acc[l]);
}

float sparse_q8_row_dot(const uint8_t* row, size_t n, const ActivationBlock* x) {
  float acc[8] = {};
  for (size_t b = 0; b < n / kSparseBlockElements; ++b) {
    const uint64_t mask = load_u64(row);
    const float d = fp16_to_fp32(load_u16(row + 8));
    const auto* values = reinterpret_cast<const int8_t*>(row + kSparseBlockHeaderBytes);
    accumulate_run(mask, 0, values, d, x[2 * b], acc);
    accumulate_run(mask, 32, values, d, x[2 * b + 1], acc);
    row = reinterpret_cast<const uint8_t*>(values);
  }
  return reduce_lanes(acc);
}

float nm_q8_row_dot(const uint8_t* row, size_t n, const ActivationBlock* x) {
  float acc[8] = {};
  for (size_t b = 0; b < n / kNmBlockElements; ++b, row += kNmBlockBytes) {
    const auto* values = reinterpret_cast<const int8_t*>(row + kNmBlockHeaderBytes);
    accumulate_run(load_u32(row), 0, values, fp16_to_fp32(load_u16(row + 4)), x[b], acc);
  }
  return reduce_lanes(acc);
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
