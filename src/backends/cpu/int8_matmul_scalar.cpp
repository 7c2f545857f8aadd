// Scalar reference of the integer dot-product path. The AVX2 kernels must reproduce these
// results bit for bit, so the float steps here are spelled out in the order the SIMD code uses:
//   per 32-element block: 8 integer lane sums s[l] over elements 4l..4l+3 (exact), then
//   acc[l] = fma(float(s[l]), d_w * d_x, acc[l]), block after block; at the end of the row
//   ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
// i8_row (one float scale per row) uses d_w = 1 per block and multiplies the row's reduced sum
// by its scale.
#include <cmath>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_weight_blocks.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {
float activation_scale(const float* x, size_t n) {
  float amax = 0.0f;
  for (size_t j = 0; j < n; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  return amax / 127.0f;
}

void quantize_activations_scalar(const float* x, size_t n, ActivationBlock* out) {
  for (size_t b = 0; b < n / kActivationBlockElements; ++b) {
    const float* v = x + b * kActivationBlockElements;
    const float d = activation_scale(v, kActivationBlockElements);
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (size_t j = 0; j < kActivationBlockElements; ++j) {
      const int q = static_cast<int>(std::nearbyint(v[j] * inverse));  // ties to even, |q| <= 127
      out[b].qs[j] = static_cast<int8_t>(q);
    }
    out[b].d = d;
    q4_0_offsets(out[b].qs, out[b].q4_0_offsets);
  }
}

void matmul_rows_int8_scalar(const Int8MatmulArgs& a) {
  const size_t nb = a.n / kActivationBlockElements;
  const size_t block_bytes = traits(a.type).block_bytes;
  const bool row_scaled = a.type == kJisuI8Row;  // its row scale multiplies the row's sum
  for (size_t t = 0; t < a.n_tokens; ++t) {
    const auto* x = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const uint8_t*>(a.xq) + t * a.xq_stride_bytes);
    for (size_t r = a.row_begin; r < a.row_end; ++r) {
      const uint8_t* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
      float acc[8] = {};
      for (size_t b = 0; b < nb; ++b) {
        int8_t w[32];
        const float scale = int8_weight_block(a.type, row + b * block_bytes, w, a.codebook) * x[b].d;
        for (int l = 0; l < 8; ++l) {
          int32_t s = 0;
          for (int j = 4 * l; j < 4 * l + 4; ++j) s += int32_t(w[j]) * int32_t(x[b].qs[j]);
          acc[l] = std::fma(static_cast<float>(s), scale, acc[l]);
        }
      }
      a.y[t * a.y_stride + r] = row_scaled ? a.row_scales[r] * reduce_lanes(acc) : reduce_lanes(acc);
    }
  }
}

}  // namespace jisu::cpu
