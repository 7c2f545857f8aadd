#pragma once
// The jisu-only sparse weight layouts, version 3 (core/sparse_dtype.h: kJisuSparseQ8First + K - 1
// and kJisuNmQ8), written by `jisu prune` (compress/prune_model.h) and read by the sparse int8
// kernels (int8_sparse_matmul.h). All multi-byte fields are little-endian and unaligned.
//
// A row of n weights (a multiple of 64) is cut into blocks of 64 weights and stored as three
// arrays, one after another:
//     masks    one u64 per block: bit j set = weight j of the block is kept
//     scales   one f16 per block: weight j = scale * value
//     values   the kept weights' int8 values (each in [-127, 127]) stored biased, as the byte
//              value + 128 (in [1, 255]), block after block, in increasing position
// Separating the masks from the values makes every block's mask and scale addressable without
// walking the row, so the kernels run several blocks and rows at once; the values of a block
// start where the popcounts of the masks before it say (a running sum, not a chain of loads).
// The bias lets a kernel expand a block's bytes with 128 (a weight of 0) at the pruned
// positions and take vpdpbusd(w + 128, x) = w . x + 128 * sum(x): the correction is the same
// for every row, so it is computed once per token and 64 positions, where unbiased values need
// a sign operation per row.
//
// jisu_sparse_q8_kK (unstructured, K = 1 .. 64): each row keeps exactly n / 64 * K weights
// (blocks differ), so a row takes n / 64 * (10 + K) bytes: at 70 % sparsity (K = 19) 0.45 bytes
// per weight against Q8_0's 1.06.
// jisu_nm_q8 (N:M: 2:4, 4:8, any pattern keeping exactly 32 of each 64): every mask has 32 bits
// set, so block b's values are at 32 b; 42 bytes per 64 weights (0.66 bytes per weight). A 2:4
// mask has two bits of every nibble set, a 4:8 mask four of every byte.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/quant_blocks.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {

inline constexpr size_t kSparseBlockElements = 64;  // both types
inline constexpr size_t kSparseBlockHeaderBytes = 10;  // the u64 mask and the f16 scale
inline constexpr size_t kNmBlockKept = 32;
inline constexpr size_t kNmBlockBytes = kSparseBlockHeaderBytes + kNmBlockKept;
inline constexpr int kSparseValueBias = 128;  // stored byte = int8 value + 128

// Where a row's three arrays start (offsets from the row's first byte).
struct SparseRowLayout {
  size_t blocks;  // n / 64
  size_t scales_offset() const { return blocks * 8; }
  size_t values_offset() const { return blocks * kSparseBlockHeaderBytes; }
};
inline SparseRowLayout sparse_row_layout(size_t n) { return {n / kSparseBlockElements}; }

// An unaligned little-endian u64 (quant_blocks.h has load_u16 and load_u32).
inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The int8 weight of a stored (biased) value byte.
inline int32_t sparse_value(uint8_t stored) { return static_cast<int32_t>(stored) - kSparseValueBias; }

}  // namespace jisu::cpu
