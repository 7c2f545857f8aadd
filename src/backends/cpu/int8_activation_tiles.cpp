#include "backends/cpu/int8_activation_tiles.h"

#include <cstring>

namespace jisu::cpu {

void place_activation_tiles(const void* xq, size_t stride_bytes, size_t n, size_t tiles, size_t tile_begin,
                            size_t tile_end, uint8_t* out) {
  const size_t nb = n / kActivationBlockElements;
  for (size_t tile = tile_begin; tile < tile_end; ++tile) {
    auto* quants = reinterpret_cast<int8_t*>(out) + tile * nb * kActivationTileBytes;
    auto* scales = const_cast<float*>(activation_tile_scales(out, tiles, n, tile));
    for (size_t j = 0; j < kActivationTileTokens; ++j) {
      const auto* row = reinterpret_cast<const ActivationBlock*>(static_cast<const uint8_t*>(xq) +
                                                                 (tile * kActivationTileTokens + j) * stride_bytes);
      for (size_t b = 0; b < nb; ++b) {
        std::memcpy(quants + b * kActivationTileBytes + j * kActivationBlockElements, row[b].qs, kActivationBlockElements);
        scales[b * kActivationTileTokens + j] = row[b].d;
      }
    }
  }
}

}  // namespace jisu::cpu
