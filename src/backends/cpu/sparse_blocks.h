#pragma once
// The jisu-only sparse weight layouts (core/sparse_dtype.h: kJisuSparseQ8First + K - 1 and
// kJisuNmQ8), written by `jisu prune` (compress/prune_model.h) and read by the sparse
// int8 kernels (int8_sparse_matmul.h). All multi-byte fields are little-endian and unaligned.
//
// jisu_sparse_q8_kK (unstructured, K = 1 .. 64): a row of n weights (n a multiple of 64) keeps
// exactly n / 64 * K of them and is n / 64 blocks, one after another, of variable size:
//     u64 mask      bit j set: weight j of the block is kept
//     f16 scale d   weight j = d * value
//     int8 values   popcount(mask) of them, in increasing j, each in [-127, 127]
// so a row takes n / 64 * (10 + K) bytes: at 70 % sparsity (K = 19) 0.45 bytes per weight
// against Q8_0's 1.06. Blocks differ in size: only the row start is addressable.
//
// jisu_nm_q8 (N:M: 2:4, 4:8, any pattern keeping exactly 16 of each 32): blocks of 32 weights,
//     u32 mask      bit j set: weight j is kept; popcount(mask) == 16
//     f16 scale d
//     int8 values   16 of them, in increasing j
// 22 bytes per 32 weights (0.69 bytes per weight against Q8_0's 1.06). A 2:4 mask has two bits
// of every nibble set, a 4:8 mask four of every byte: the mask holds the 2-bit positions of
// 2:4 in the same 4 bytes.
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

// An unaligned little-endian u64 (quant_blocks.h has load_u16 and load_u32).
inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace jisu::cpu
