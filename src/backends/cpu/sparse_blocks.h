#pragma once
// The jisu-only sparse weight layouts, version 2 (core/sparse_dtype.h: kJisuSparseQ8First + K - 1
// and kJisuNmQ8), written by `jisu prune` (compress/prune_model.h) and read by the sparse int8
// kernels (int8_sparse_matmul.h). All multi-byte fields are little-endian and unaligned.
//
// A row of n weights is cut into blocks (64 weights for jisu_sparse_q8_kK, 32 for jisu_nm_q8)
// and stored as three arrays, one after another:
//     masks    one per block (u64 / u32): bit j set = weight j of the block is kept
//     scales   one f16 per block: weight j = scale * value
//     values   the kept weights' int8 values (each in [-127, 127]), block after block, in
//              increasing position
// Separating the masks from the values makes every block's mask and scale addressable without
// walking the row, so the kernels run several blocks and rows at once; the values of a block
// start where the popcounts of the masks before it say (a running sum, not a chain of loads).
// Two consecutive N:M masks read as one u64 are the mask of their 64 weights.
//
// jisu_sparse_q8_kK (unstructured, K = 1 .. 64): each row keeps exactly n / 64 * K weights
// (blocks differ), so a row takes n / 64 * (10 + K) bytes: at 70 % sparsity (K = 19) 0.45 bytes
// per weight against Q8_0's 1.06.
// jisu_nm_q8 (N:M: 2:4, 4:8, any pattern keeping exactly 16 of each 32): every mask has 16 bits
// set; 22 bytes per 32 weights (0.69 bytes per weight). A 2:4 mask has two bits of every nibble
// set, a 4:8 mask four of every byte.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/quant_blocks.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {

inline constexpr size_t kSparseBlockElements = 64;  // jisu_sparse_q8_kK
inline constexpr size_t kSparseBlockHeaderBytes = 10;
inline constexpr size_t kNmBlockElements = 32;  // jisu_nm_q8
inline constexpr size_t kNmBlockKept = 16;
inline constexpr size_t kNmBlockHeaderBytes = 6;
inline constexpr size_t kNmBlockBytes = kNmBlockHeaderBytes + kNmBlockKept;

// Where a row's three arrays start (offsets from the row's first byte).
struct SparseRowLayout {
  size_t blocks;      // n / block elements
  size_t mask_bytes;  // 8 or 4
  size_t block_elements;
  size_t scales_offset() const { return blocks * mask_bytes; }
  size_t values_offset() const { return blocks * (mask_bytes + 2); }
};
inline SparseRowLayout sparse_row_layout(DType type, size_t n) {
  const bool nm = type == kJisuNmQ8;
  const size_t block = nm ? kNmBlockElements : kSparseBlockElements;
  return {n / block, nm ? size_t{4} : size_t{8}, block};
}

// An unaligned little-endian u64 (quant_blocks.h has load_u16 and load_u32).
inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace jisu::cpu
