#pragma once
// Activations quantized in 32-element blocks (ActivationBlock rows), copied once per linear
// input into the layout AMX tiles load best: whole tiles of 16 tokens, and per tile and block
// the 16 tokens' 32 quant bytes back to back (one 512-byte, 64-byte aligned A tile, rows 32
// bytes apart), then the blocks' scales. Loading an A tile straight from the rows instead
// touches 16 lines at a large stride, a quarter of them split across two lines (the blocks are
// 40 bytes); the copy is made once per input and shared by every task and every linear reading
// that input (q, k, v; gate, up).
//
// Layout for `tiles` tiles of rows of n elements (nb = n / 32 blocks):
//   [0, tiles * nb * 512)       quants: tile i, block b at (i * nb + b) * 512, token j's 32 bytes
//                               at + 32 j
//   then tiles * nb * 16 floats  scales: tile i, block b, token j at (i * nb + b) * 16 + j
#include <cstddef>
#include <cstdint>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"

namespace jisu::cpu {

inline constexpr size_t kActivationTileBytes = kActivationTileTokens * kActivationBlockElements;

// Bytes of `tiles` tiles of n-element rows (n a multiple of 32).
inline size_t activation_tiles_bytes(size_t tiles, size_t n) {
  return tiles * (n / kActivationBlockElements) * (kActivationTileBytes + kActivationTileTokens * sizeof(float));
}

// Writes tiles [tile_begin, tile_end) of `tiles` (out: the whole buffer, 64-byte aligned) from
// the ActivationBlock rows xq (token t at xq + t * stride_bytes).
void place_activation_tiles(const void* xq, size_t stride_bytes, size_t n, size_t tiles, size_t tile_begin,
                            size_t tile_end, uint8_t* out);

inline const int8_t* activation_tile_quants(const uint8_t* tiles_data, size_t n, size_t tile) {
  return reinterpret_cast<const int8_t*>(tiles_data) + tile * (n / kActivationBlockElements) * kActivationTileBytes;
}
inline const float* activation_tile_scales(const uint8_t* tiles_data, size_t tiles, size_t n, size_t tile) {
  const size_t nb = n / kActivationBlockElements;
  return reinterpret_cast<const float*>(tiles_data + tiles * nb * kActivationTileBytes) + tile * nb * kActivationTileTokens;
}

}  // namespace jisu::cpu
