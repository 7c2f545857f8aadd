#pragma once
// Weights copied once at load into groups of 8 interleaved rows, so that one 256-bit register
// holds 4 consecutive elements of each of 8 rows (lane r = row r) and the integer kernel
// computes 8 rows per instruction. Types: the 32-element blocks Q4_0, Q8_0, IQ4_NL and the
// super-block types Q4_K, Q5_K and Q6_K.
//
// Layout (all offsets from the start of the buffer, which is 64-byte aligned):
//   group g (rows 8g..8g+7) starts at g * group_bytes (a multiple of 64) and holds
//     quants: nb blocks of quant_bytes (32-byte aligned), block b at b * quant_bytes:
//       Q8_0:          8 vectors of 32 bytes; vector k, lane r = bytes 4k..4k+3 of row r's qs
//                      (elements 4k..4k+3).
//       Q4_0, IQ4_NL:  4 vectors of 32 bytes; vector k, lane r = bytes 4k..4k+3 of row r's 16
//                      packed bytes: low nibbles are elements 4k..4k+3, high nibbles elements
//                      16+4k..16+4k+3 (the GGUF nibble order kept within each byte).
//     scales: then nb blocks of 16 bytes, the 8 rows' fp16 scales in row order.
//   Q4_K, Q5_K (256-element super-blocks): group g holds nsb super-blocks of
//     RepackedK45Layout::bytes (Q4_K 1184, Q5_K 1440; multiples of 32), super-block s at
//     s * bytes, each self-contained so that a pass streams one sequential range:
//       [0, 1024)     32 vectors; vector 8h + k (h = 0..3, k = 0..7), lane r = bytes
//                     32h + 4k .. 32h + 4k + 3 of row r's qs: low nibbles are elements
//                     64h + 4k .. +3 (sub-block 2h), high nibbles 64h + 32 + 4k .. +3
//                     (sub-block 2h + 1).
//       Q5_K only, [1024, 1280): 8 vectors; vector k, lane r = bytes 4k .. 4k + 3 of row r's
//                     qh (bit c of qh byte l is bit 4 of element l of sub-block c).
//       then 64 bytes of sub-block scales (6-bit), byte 8c + r = scale c of row r;
//       64 bytes of sub-block minimums, byte 8c + r = min c of row r;
//       16 bytes: the 8 rows' fp16 d; 16 bytes: their fp16 dmin.
//     Against the original rows (8 x 144, 8 x 176 bytes) this reads 2.8 % / 2.3 % more.
//   Q6_K: group g holds nsb super-blocks of kRepackedQ6KBytes (1664), then the fp16 d of the
//     8 rows for each super-block (nsb x 16 bytes); super-block s at s * 1664:
//       [0, 1024)     32 vectors; vector v, lane r = bytes 4v .. 4v + 3 of row r's ql.
//       [1024, 1536)  16 vectors; vector v, lane r = bytes 4v .. 4v + 3 of row r's qh.
//       [1536, 1664)  the int8 scales of the 16-element sub-blocks, byte 8q + r = scale q of row r.
//     The same bytes as the original rows, only moved.
// Only whole groups are repacked: a matrix whose row count is not a multiple of 8 keeps the
// row-major kernel (can_repack is false).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "backends/cpu/weight_copy.h"
#include "core/dtype.h"

namespace jisu::cpu {

inline constexpr size_t kRepackRows = 8;
// Byte offsets within one repacked Q4_K / Q5_K super-block of a group (see above).
struct RepackedK45Layout {
  size_t bytes, high, scales, mins, d, dmin;  // high: Q5_K's qh vectors
};
inline constexpr RepackedK45Layout kRepackedQ4K{1184, 0, 1024, 1088, 1152, 1168};
inline constexpr RepackedK45Layout kRepackedQ5K{1440, 1024, 1280, 1344, 1408, 1424};
inline constexpr const RepackedK45Layout& repacked_k45_layout(bool fifth_bit) { return fifth_bit ? kRepackedQ5K : kRepackedQ4K; }
inline constexpr size_t kRepackedQ6KBytes = 1664;
inline constexpr size_t kRepackedQ6KHigh = 1024, kRepackedQ6KScales = 1536;

// True for Q4_0 / Q8_0 / IQ4_NL matrices with rows % 8 == 0 and whole 32-element blocks, and
// for Q4_K, Q5_K and Q6_K matrices with rows % 8 == 0 and whole 256-element super-blocks.
bool can_repack(DType type, size_t rows, size_t cols);

// Bytes of the quants of one 32-column block of a group (8 rows); 32-element types only.
size_t repacked_quant_bytes(DType type);
// Bytes of one group of 8 rows of `cols` columns, padded to 64.
size_t repacked_group_bytes(DType type, size_t cols);

// Rows of one matrix to repack: `rows` rows of row_bytes each from data.
struct RepackSource {
  const void* data;
  size_t row_bytes, rows;
};

// An owned repacked copy (anonymous memory, huge pages requested), immutable once built.
class RepackedWeights {
 public:
  // Copies `rows` rows of row_bytes each from w. Throws jisu::Error unless can_repack().
  RepackedWeights(DType type, const void* w, size_t row_bytes, size_t rows, size_t cols);
  // The rows of several matrices of one type and width, stacked in order (q, k, v: one matrix
  // whose output row r is row r of the stack). Throws jisu::Error unless can_repack() holds for
  // each part, so every group lies within one part.
  RepackedWeights(DType type, std::span<const RepackSource> parts, size_t cols);

  const uint8_t* data() const { return memory_.data(); }
  size_t group_bytes() const { return group_bytes_; }
  size_t bytes() const { return memory_.bytes(); }

 private:
  size_t group_bytes_;
  WeightCopyMemory memory_;
};

}  // namespace jisu::cpu
