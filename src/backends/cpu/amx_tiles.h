#pragma once
// Shared by the AMX tile kernels (int8_repacked_matmul_amx.cpp for the 32-element types,
// int8_repacked_super_block_amx.cpp for the K-quants, float_tile_matmul_amx.cpp for F16/BF16). Include only from sources compiled with
// the AMX flags (CMakeLists.txt: *_amx.cpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace jisu::cpu::amx {

// LDTILECFG's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// GCC's tileloadd has no memory clobber: without a barrier, stores to the weights a kernel
// prepares could be moved past the tile loads that read them.
inline void compiler_memory_barrier() { __asm__ volatile("" ::: "memory"); }

// TILESTORED of tile TILE (a number: pasted into the instruction, as GCC's _tile_stored does)
// into `object` (an lvalue of exactly the tile's bytes, rows `stride` apart): the asm names that
// object as its only memory output. GCC's _tile_stored clobbers all memory, which makes the
// compiler store and reload every vector whose address a kernel's lambdas took (a tile kernel's
// 16 float accumulators) around each store.
#define JISU_TILE_STORE_TO(TILE, object, stride) \
  __asm__ volatile("tilestored %%tmm" #TILE ", (%1,%2,1)" : "=m"(object) : "r"(&(object)), "r"(static_cast<long>(stride)))

// A per-thread 64-byte aligned buffer (one per kSlot; in use: 0 and 4 the 32-element types, 1
// and 2 the K-quants, 5 and 6 the float tiles), grown to the largest size asked; a model
// grows it once, at its first prompt.
template <int kSlot>
int8_t* thread_buffer(size_t bytes) {
  struct AlignedDelete {
    void operator()(int8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  thread_local std::unique_ptr<int8_t[], AlignedDelete> buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    buffer.reset(new (std::align_val_t(64)) int8_t[bytes]);
    capacity = bytes;
  }
  return buffer.get();
}

}  // namespace jisu::cpu::amx
