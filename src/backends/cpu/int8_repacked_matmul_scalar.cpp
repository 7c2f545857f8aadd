// Scalar reference of the repacked integer path (contract in int8_repacked_matmul.h). It reads
// the repacked layout itself, so it also checks the layout the AVX2 kernels assume.
#include <cmath>

#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu {
namespace {

// The 32 integer weights of row r (0..7) of the repacked block at q.
void repacked_block_row(DType type, const uint8_t* q, size_t r, int8_t w[32]) {
  if (type == DType::Q8_0) {
    for (int j = 0; j < 32; ++j) w[j] = static_cast<int8_t>(q[32 * (j / 4) + 4 * r + j % 4]);
    return;
  }
  for (int j = 0; j < 16; ++j) {
    const uint8_t byte = q[32 * (j / 4) + 4 * r + j % 4];
    if (type == DType::IQ4_NL) {
      w[j] = kValuesIq4nl[byte & 15];
      w[j + 16] = kValuesIq4nl[byte >> 4];
    } else {
      w[j] = static_cast<int8_t>((byte & 15) - 8);
      w[j + 16] = static_cast<int8_t>((byte >> 4) - 8);
    }
  }
}

}  // namespace

void matmul_repacked_int8_scalar(const RepackedMatmulArgs& a) {
  const size_t nb = a.n / kActivationBlockElements, quant_bytes = repacked_quant_bytes(a.type);
  for (size_t t = 0; t < a.n_tokens; ++t) {
    const auto* x = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const uint8_t*>(a.xq) + t * a.xq_stride_bytes);
    for (size_t r = a.row_begin; r < a.row_end; ++r) {
      const uint8_t* group = a.w + r / kRepackRows * a.group_bytes;
      const uint8_t* scales = group + nb * quant_bytes;
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        int8_t w[32];
        repacked_block_row(a.type, group + b * quant_bytes, r % kRepackRows, w);
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) isum += int32_t(w[j]) * int32_t(x[b].qs[j]);
        const float dw = half_to_float(load_u16(scales + b * 2 * kRepackRows + 2 * (r % kRepackRows)));
        acc = std::fma(static_cast<float>(isum), dw * x[b].d, acc);
      }
      a.y[t * a.y_stride + r] = acc;
    }
  }
}

}  // namespace jisu::cpu
