#pragma once
// 2:4 sparse rows (jisu_nm_q8 whose every group of 4 weights keeps 2; sparse_blocks.h) copied
// once at load into groups of 8 interleaved rows, and their kernels: one dword lane per row, so
// that a 512-bit vpdpbusd computes 4 kept weights of 16 (row, kept-run) lanes and the float
// scaling runs once per 8 rows and activation block, as dense Q8_0's repacked kernels do
// (int8_repacked_weights.h). The file's row-major kernel (int8_sparse_matmul.h) spends a mask
// expansion (vpexpandb, 2 uops on port 5) and a float conversion, scale product and fma per row
// and 64 weights; this path gathers the activations instead (vpermb by 2-bit positions) and
// shares the float work across 8 rows.
//
// Layout of a group g (rows 8g .. 8g + 7), group_bytes apart (a multiple of 64), for a row of
// n weights (nb = n / 64 blocks):
//   block b (kNmRepackedBlockBytes = 320 bytes at 320 b) holds
//     [0, 64)    codes: 4 chunks of 16 bytes, chunk i for weight vector i (2 bits per weight)
//     [64, 320)  weights: 4 vectors of 64 signed bytes (the stored value - 128)
//   then the scales: nb x 8 fp16, block b's at nb * 320 + 16 b, row r's at + 2 r.
// Weight vector i (i = 0..3), byte B (0..63): lane L = B / 4, row r = L % 8, h = L / 8,
// q = B % 4 hold kept weight k = 8 i + 4 h + q of row r's block (kept weights counted in
// position order, 32 per block). Kept weight k lies in group k / 2 (positions 4 (k / 2) ..
// + 3): its position is 4 (k / 2) + c, and c (0..3) is the 2-bit code at bit
// 64 (Q % 2) + 16 (Q / 2) + 2 (B % 8) of chunk i, Q = B / 8: the layout that lets one 16-byte
// broadcast and one vpmultishiftqb with a constant control place each code in its byte.
// Vectors 0 and 1 cover positions 0..31 of the block (activation block 2b), 2 and 3 positions
// 32..63 (activation block 2b + 1).
//
// Arithmetic contract (the scalar reference matmul_nm_repacked_scalar spells it out): for row r,
// token t, activation block a (32 positions, block b = a / 2 of 64), w the kept int8 weights and
// x the token's ActivationBlock a:
//   isum_a = sum over the kept positions p of block a of w_p * x.qs[p]   (exact in int32)
//   acc    = fma(float(isum_a), d_r,b * x.d, acc)   for a = 0, 1, ... in order, acc = 0 first
// so a token's value does not depend on the tile, the row range or the batch. It differs from
// the row-major sparse kernels (8 lanes per row) only by float summation order.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/weight_copy.h"
#include "core/cpu_features.h"

namespace jisu::cpu {

inline constexpr size_t kNmRepackedRows = 8;
inline constexpr size_t kNmRepackedBlockBytes = 320;
inline constexpr size_t kNmRepackedCodeBytes = 64;

// Byte B of weight vector i: the kept weight index and the code's bit (see above).
inline constexpr size_t nm_repacked_kept(size_t i, size_t byte) { return 8 * i + 4 * (byte / 4 / 8) + byte % 4; }
inline constexpr size_t nm_repacked_row(size_t byte) { return byte / 4 % 8; }
inline constexpr size_t nm_repacked_code_bit(size_t byte) { return 64 * (byte / 8 % 2) + 16 * (byte / 8 / 2) + 2 * (byte % 8); }

size_t nm_repacked_group_bytes(size_t n);

// An owned copy (64-byte aligned), immutable once built.
class NmRepackedWeights {
 public:
  // Null unless rows % 8 == 0, n % 64 == 0 and every group of 4 weights of every row keeps
  // exactly 2 (a 2:4 matrix: `jisu prune --pattern 2:4`; 4:8 and other 32-of-64 masks keep the
  // row-major kernel). `w`: rows of row_bytes in the jisu_nm_q8 layout, already checked
  // (check_sparse_rows).
  static std::unique_ptr<NmRepackedWeights> from_rows(const void* w, size_t row_bytes, size_t rows, size_t n);

  const uint8_t* data() const { return memory_.data(); }
  size_t group_bytes() const { return group_bytes_; }
  size_t bytes() const { return memory_.bytes(); }

 private:
  NmRepackedWeights(size_t group_bytes, size_t bytes) : group_bytes_(group_bytes), memory_(bytes, "repacked 2:4 weights") {}
  size_t group_bytes_;
  WeightCopyMemory memory_;
};

// The kernels take int8_repacked_matmul.h's arguments: type kJisuNmQ8, w and group_bytes of an
// NmRepackedWeights, xq ActivationBlock rows, row_begin and row_end multiples of 8.
using NmRepackedArgs = RepackedMatmulArgs;

// True when `isa` has a kernel for this layout: the AVX-512 paths on a CPU with AVX512-VBMI
// (vpermb, vpmultishiftqb; Ice Lake and later). Elsewhere the row-major sparse kernel runs.
bool nm_repacked_kernel_runs_on(Isa isa);
// Validates and runs the kernel of active_isa(); throws jisu::Error where it has none.
void matmul_nm_repacked(const NmRepackedArgs& args);
// The kernel of `isa` (for tests); nm_repacked_kernel_runs_on(isa) must hold.
void matmul_nm_repacked_on(Isa isa, const NmRepackedArgs& args);
// The scalar reference.
void matmul_nm_repacked_scalar(const NmRepackedArgs& args);

}  // namespace jisu::cpu
