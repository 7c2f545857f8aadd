#include "backends/cpu/kv_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"

namespace jisu::cpu {
namespace {

void quantize_q8_0(const float* x, BlockQ8_0* out, size_t n_blocks) {
  for (size_t b = 0; b < n_blocks; ++b, x += kQK) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (size_t j = 0; j < kQK; ++j) out[b].qs[j] = static_cast<int8_t>(std::lround(x[j] * inverse));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* out, size_t n_blocks) {
  for (size_t b = 0; b < n_blocks; ++b, x += kQK) {
    // The signed value of largest magnitude maps to level 0 (-8), so the full range is used.
    float amax = 0.0f, max = 0.0f;
    for (size_t j = 0; j < kQK; ++j)
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (size_t j = 0; j < kQK / 2; ++j) {
      const auto low = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j] * inverse + 8.5f)));
      const auto high = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j + kQK / 2] * inverse + 8.5f)));
      out[b].qs[j] = static_cast<uint8_t>(low | (high << 4));
    }
  }
}

}  // namespace

void quantize_kv_row(DType type, const float* x, void* out, size_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(out, x, n * sizeof(float));
      return;
    case DType::F16: {
      auto* halves = static_cast<uint16_t*>(out);
      for (size_t i = 0; i < n; ++i) halves[i] = fp32_to_fp16(x[i]);
      return;
    }
    case DType::Q8_0:
      return quantize_q8_0(x, static_cast<BlockQ8_0*>(out), n / kQK);
    case DType::Q4_0:
      return quantize_q4_0(x, static_cast<BlockQ4_0*>(out), n / kQK);
    default:
      throw Error("the KV cache cannot store " + std::string(dtype_name(type)));
  }
}

}  // namespace jisu::cpu
