// The scalar references of the split-bf16 tile matmul (float_tile_matmul.h) and its dispatch.
#include "backends/cpu/float_tile_matmul.h"

#include <cstring>

#include "backends/cpu/kernel_table.h"
#include "core/error.h"

namespace jisu::cpu {

namespace {

// The split of one value: hi = bf16(v), lo = bf16(v - hi).
void split_value(float v, uint16_t& hi, uint16_t& lo) {
  hi = fp32_to_bf16(v);
  lo = fp32_to_bf16(v - bf16_to_fp32(hi));
}

float weight_value(DType type, const uint8_t* row, size_t k) {
  uint16_t h;
  std::memcpy(&h, row + 2 * k, sizeof h);
  return type == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

}  // namespace

void split_activations_bf16_scalar(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile) {
  std::memset(tile, 0, split_tile_elements(n) * sizeof(uint16_t));
  for (size_t c = 0; c < count; ++c) {
    for (size_t k = 0; k < n; ++k) {
      const size_t b = k / kFloatTileK, j = (k % kFloatTileK) / 2, e = k % 2;
      uint16_t hi, lo;
      split_value(x[c * x_stride + k], hi, lo);
      tile[((b * 2 + 0) * 16 + j) * 32 + c * 2 + e] = hi;
      tile[((b * 2 + 1) * 16 + j) * 32 + c * 2 + e] = lo;
    }
  }
}

void matmul_rows_split_bf16_scalar(const MatmulArgs& a, const uint16_t* split_x) {
  const size_t tile_elements = split_tile_elements(a.n);
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const auto* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
    for (size_t t = 0; t < a.n_tokens; ++t) {
      const uint16_t* tile = split_x + t / kFloatTileTokens * tile_elements;
      const size_t c = t % kFloatTileTokens;
      double sum = 0;
      for (size_t k = 0; k < a.n; ++k) {
        const size_t b = k / kFloatTileK, j = (k % kFloatTileK) / 2, e = k % 2;
        uint16_t wh, wl;
        split_value(weight_value(a.type, row, k), wh, wl);
        const double xh = bf16_to_fp32(tile[((b * 2 + 0) * 16 + j) * 32 + c * 2 + e]);
        const double xl = bf16_to_fp32(tile[((b * 2 + 1) * 16 + j) * 32 + c * 2 + e]);
        sum += bf16_to_fp32(wh) * xh + bf16_to_fp32(wl) * xh + bf16_to_fp32(wh) * xl;
      }
      a.y[t * a.y_stride + r] = static_cast<float>(sum);
    }
  }
}

bool takes_float_tiles(DType type, size_t n_tokens) {
  return (type == DType::F16 || type == DType::BF16) && n_tokens >= kMinFloatTileTokens &&
         active_kernels().matmul_rows_split_bf16 != nullptr;
}

void split_activations_bf16(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile) {
  if (count > kFloatTileTokens) throw Error("a split activation tile holds at most 16 tokens");
  active_kernels().split_activations_bf16(x, x_stride, count, n, tile);
}

void matmul_rows_split_bf16(const MatmulArgs& args, const uint16_t* split_x) {
  if (args.type != DType::F16 && args.type != DType::BF16)
    throw Error("the split-bf16 tile matmul takes F16 or BF16 weights, not " + std::string(dtype_name(args.type)));
  if (args.row_end < args.row_begin) throw Error("matmul row range ends before it begins");
  if (args.w_row_bytes < 2 * args.n) throw Error("matmul weight rows too short for their elements");
  active_kernels().matmul_rows_split_bf16(args, split_x);
}

}  // namespace jisu::cpu
