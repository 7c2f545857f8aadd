#pragma once
// Integer dot-product kernels over repacked weights (int8_repacked_weights.h): 8 rows at a time.
//
// Arithmetic contract (the scalar reference, int8_repacked_matmul_scalar.cpp, spells it out):
// for row r and token t, with w the block's integer weights (Q4_0: nibble - 8; IQ4_NL: the
// table value; Q8_0: the byte) and x the token's ActivationBlock,
//   isum_b = sum_{j<32} w_j * x.qs_j               (exact in int32)
//   acc    = fma(float(isum_b), d_w,b * x_b.d, acc)  for b = 0, 1, ... in order, acc = 0 first
//   y[t][r] = acc.
// Q4_K and Q5_K take ActivationSuperBlock rows (int8_super_block_matmul.h) instead; per row,
// token and super-block s, with u the 4-bit (Q5_K: 5-bit) unsigned quants, sc_c / m_c the
// 6-bit scale / minimum of sub-block c (elements 32c .. 32c + 31) and x the token's super-block:
//   isum_s = sum_c sc_c * sum_{j in c} u_j * x.qs_j       (exact in int32)
//   msum_s = sum_c m_c * (x.sums[2c] + x.sums[2c + 1])    (exact in int32)
//   acc    = fma(-float(msum_s), dmin_s * x.d, acc)
//   acc    = fma(float(isum_s), d_s * x.d, acc)          for s = 0, 1, ... in order
// Q6_K (super-block activations too), with u = w + 32 the unsigned 6-bit quants and s_q the
// int8 scale of sub-block q (elements 16q .. 16q + 15):
//   isum_s = sum_q s_q * (sum_{j in q} u_j * x.qs_j - 32 * x.sums[q])   (exact in int32)
//   acc    = fma(float(isum_s), d_s * x.d, acc)
// The SIMD kernels reproduce it bit for bit for every tile shape and token count, so a token's
// value never depends on the batch, the tile or the row slice. It differs from the row-major
// int8 path (matmul_rows_int8) only by float summation order.
#include <cstddef>

#include "backends/cpu/int8_matmul.h"

namespace jisu::cpu {

struct RepackedMatmulArgs {
  DType type;
  const uint8_t* w;    // RepackedWeights::data() of the whole matrix
  size_t group_bytes;  // RepackedWeights::group_bytes()
  size_t n;            // row length in elements (a multiple of 32)
  const void* xq;  // ActivationBlock rows, or ActivationSuperBlock rows for Q4_K, Q5_K and Q6_K
  size_t xq_stride_bytes;
  size_t n_tokens;
  float* y;  // y[t * y_stride + r]
  size_t y_stride;
  size_t row_begin;  // multiples of 8
  size_t row_end;
  // Optional (null: a kernel that wants them makes its own): the activations of the whole tiles
  // of 16 tokens, [0, 16 * xq_tile_count), as prepare_repacked_activation_tiles wrote them.
  // A backend makes them once per input, so that the tasks of a product, and the products
  // reading the same input (q, k, v; gate, up), share one copy.
  const uint8_t* xq_tiles = nullptr;
  size_t xq_tile_count = 0;
  // true: every tile takes one group of 8 rows, also where the kernels have two-group tiles
  // (KernelTable::repacked_two_group_tiles). Both give the same bits; which is faster depends
  // on the core, so the backend sets it from a measurement (repacked_tile_choice.h).
  bool one_group_tiles = false;
};

// Tokens per activation tile (an AMX A tile's 16 rows).
inline constexpr size_t kActivationTileTokens = 16;

// Bytes of the activation tiles of the active kernels for `tiles` tiles of 16 tokens of
// n-element rows of xq (the activation format `type` takes); 0 when they take none for `type`
// (or tiles is 0): xq_tiles is then not read.
size_t repacked_activation_tiles_bytes(DType type, size_t tiles, size_t n);
// Writes tiles [tile_begin, tile_end) of `tiles` into out (repacked_activation_tiles_bytes
// bytes, 64-byte aligned) from the activation rows xq (token t at xq + t * stride_bytes).
// Only where repacked_activation_tiles_bytes(type, tiles, n) > 0.
void prepare_repacked_activation_tiles(DType type, const void* xq, size_t stride_bytes, size_t n, size_t tiles,
                                       size_t tile_begin, size_t tile_end, uint8_t* out);

// Token t's activation row, as Block (ActivationBlock or ActivationSuperBlock).
template <class Block>
inline const Block* activation_row(const RepackedMatmulArgs& a, size_t t) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(a.xq) + t * a.xq_stride_bytes);
}

void matmul_repacked_int8(const RepackedMatmulArgs& args);  // validates, dispatches on active_isa()
// The scalar reference; the SIMD variants are int8_repacked_matmul_isa.cpp's (kernel_table.h).
void matmul_repacked_int8_scalar(const RepackedMatmulArgs& args);

}  // namespace jisu::cpu
