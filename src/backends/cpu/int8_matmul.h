#pragma once
// Integer dot-product path: weight rows x activations quantized to 8 bits.
//
// For the weight types listed by takes_int8_activations(), each activation row (one token) is
// quantized once per linear into 32-element blocks (Q8_0-style: 32 int8 and a float scale
// d = max|x| / 127, q = round-to-nearest-even(x / d)), and the weight blocks are multiplied
// against them with integer multiply-adds (AVX2 maddubs / madd, VNNI vpdpbusd). This trades a
// small, bounded activation rounding error (about 1e-2 relative on logits, the same scheme llama.cpp uses)
// for far fewer instructions per weight byte than decoding to float.
//
// Determinism invariant (as matmul_rows): quantization is per token row, and the value for
// (row r, token t) depends only on the weight row and that token's quantized row; the tile
// shape, row slice, batch size and thread never change it. The SIMD kernels compute exactly the
// scalar reference's arithmetic (integer block sums, then the same float operations in the
// same order), so they agree bit for bit.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace jisu::cpu {

// One quantized block of 32 activations.
struct ActivationBlock {
  float d;  // scale: x ~= d * qs[i]
  // Q4_0's -8 offset times these activations, as the repacked kernel's two int16 lanes per row
  // collect it: -8 * the sum of qs[j] over j % 4 in {0, 1}, and over j % 4 in {2, 3} (see
  // q4_0_offsets). |value| <= 8 * 16 * 127 = 16256.
  int16_t q4_0_offsets[2];
  int8_t qs[32];  // in [-127, 127]
};
static_assert(sizeof(ActivationBlock) == 40);

// ActivationBlock::q4_0_offsets of the 32 values qs.
inline void q4_0_offsets(const int8_t* qs, int16_t* out) {
  int32_t sums[2] = {0, 0};
  for (int j = 0; j < 32; ++j) sums[(j / 2) % 2] += qs[j];
  for (int i = 0; i < 2; ++i) out[i] = static_cast<int16_t>(-8 * sums[i]);
}

inline constexpr size_t kActivationBlockElements = 32;

// True if matmul_rows_int8 accepts this weight type (and the engine should use it).
bool takes_int8_activations(DType type);

// Bytes of one quantized activation row of n elements (n a multiple of 32).
inline size_t int8_activation_row_bytes(size_t n) { return n / kActivationBlockElements * sizeof(ActivationBlock); }

// out = n / 32 blocks quantizing x[0..n). n must be a multiple of 32.
void quantize_activations(const float* x, size_t n, ActivationBlock* out);

// y[t * y_stride + r] = sum_k W[r][k] * xq_t[k] for r in [row_begin, row_end), t < n_tokens,
// where xq_t is the quantized row at (const char*)xq + t * xq_stride_bytes.
struct Int8MatmulArgs {
  DType type;
  const void* w;
  size_t w_row_bytes;
  size_t n;  // row length in elements
  const ActivationBlock* xq;
  size_t xq_stride_bytes;
  size_t n_tokens;
  float* y;
  size_t y_stride;
  size_t row_begin;
  size_t row_end;
  const int8_t* codebook = nullptr;   // cb4: the tensor's 16 levels (core/sparse_dtype.h)
  const float* row_scales = nullptr;  // i8_row: one scale per weight row, indexed like the rows
};

void matmul_rows_int8(const Int8MatmulArgs& args);  // validates, dispatches on active_isa()

// The argument checks of the row-major integer paths (this one and the super-block one): rows
// of whole blocks of `block_elements`, a row range that does not run backwards, weight rows
// long enough. Throws jisu::Error naming the problem.
void check_int8_matmul_args(const Int8MatmulArgs& args, size_t block_elements, const char* block_name);

// Shared by the scalar references. The scale of a run of activations: d = max|x| / 127, so
// q = round-to-nearest-even(x / d) lies in [-127, 127]; 0 for an all-zero run.
float activation_scale(const float* x, size_t n);
// ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)): the lane order the SIMD
// kernels reduce in (horizontal_sum in simd_math.h).
inline float reduce_lanes(const float acc[8]) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// The scalar references. The SIMD variants are instantiations of int8_matmul_isa.cpp, one per
// ISA (kernel_table.h).
void quantize_activations_scalar(const float* x, size_t n, ActivationBlock* out);
void matmul_rows_int8_scalar(const Int8MatmulArgs& args);

}  // namespace jisu::cpu
