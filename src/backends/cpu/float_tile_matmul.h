#pragma once
// Prompt matmuls of F16 and BF16 weights on AMX-BF16 tiles (Isa::Avx512Amx), with split
// operands so that bf16 products keep about 16 significant bits:
//   x = xh + xl     xh = bf16(x), xl = bf16(x - xh)      (|x - xh - xl| <= 2^-18 |x|)
//   W = Wh + Wl     Wh = bf16(W), Wl = bf16(W - Wh)      (exact for f16: Wl has <= 3 bits;
//                                                          BF16 weights: Wl = 0)
//   y[t][r] = sum_k Wh xh + Wl xh + Wh xl                (fp32 accumulation in the tiles)
// The dropped term Wl xl is <= 2^-18 |W x| per element, so a product is within ~2^-17 of the
// exact one per element (float32 summation-order noise is ~2^-24 sqrt(n)); tests bound it.
// The tile and conversion instructions treat float32 subnormals (|v| < 2^-126) as zero; the
// scalar reference keeps them (tests use normal values).
//
// Unlike matmul_rows (quant_kernels.h) the results are NOT those of the one-token path bit for
// bit: a token computed in a prompt of 16+ tokens differs from the same token decoded alone by
// this split error. The backend uses the tiles only for calls of kMinFloatTileTokens tokens or
// more; decode keeps the AVX-512 kernels.
//
// Activations are split once per linear input (split_activations_bf16, per tile of 16 tokens)
// into the tiles' B layout; each task then converts the weights it needs 16 rows at a time into
// a per-thread buffer (no second copy of the matrix is kept).
#include <cstddef>
#include <cstdint>

#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu {

inline constexpr size_t kFloatTileTokens = 16;   // tokens per tile (B columns)
inline constexpr size_t kFloatTileK = 32;        // elements of a row per tile step
inline constexpr size_t kMinFloatTileTokens = 16;

// Layout of one token tile of split activations, for nb = ceil(n / 32) steps:
//   step b, part p (0: xh, 1: xl), pair row j (elements 2j, 2j + 1 of the step), token c, e in {0, 1}:
//   tile[((b * 2 + p) * 16 + j) * 32 + c * 2 + e] = part p of x[token c][32 b + 2 j + e]
// (the VNNI pair layout of a 16 x 32 bf16 B tile). Tokens past the tile's count and elements
// past n are zero.
inline size_t split_tile_elements(size_t n) { return (n + kFloatTileK - 1) / kFloatTileK * 2 * 16 * 32; }
inline size_t split_activation_elements(size_t n_tokens, size_t n) {
  return (n_tokens + kFloatTileTokens - 1) / kFloatTileTokens * split_tile_elements(n);
}

// One token tile: tokens [0, count) of x (rows x_stride apart), count <= 16, into `tile`.
using SplitActivationsFn = void (*)(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile);
// y rows [row_begin, row_end) for all args.n_tokens tokens; split_x: split_activation_elements
// of args.x (args.x itself is not read). args.type is F16 or BF16.
using SplitMatmulFn = void (*)(const MatmulArgs& args, const uint16_t* split_x);

// True if the active path has tiles for this weight type and this many tokens.
bool takes_float_tiles(DType type, size_t n_tokens);
// Dispatch to the active path (only after takes_float_tiles said yes).
void split_activations_bf16(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile);
void matmul_rows_split_bf16(const MatmulArgs& args, const uint16_t* split_x);

// Scalar references (tests only: no table uses them). The matmul is the split sum above in
// float64, so it differs from the tiles only by their float32 accumulation.
void split_activations_bf16_scalar(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile);
void matmul_rows_split_bf16_scalar(const MatmulArgs& args, const uint16_t* split_x);

}  // namespace jisu::cpu
