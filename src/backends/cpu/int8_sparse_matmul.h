#pragma once
// Sparse weight rows (sparse_blocks.h: jisu_sparse_q8_kK and jisu_nm_q8) x activations quantized
// in blocks of 32 (int8_matmul.h: ActivationBlock). Only the kept weights are stored and read;
// each block's mask places its int8 values among the 32 or 64 positions, the integer products
// with the activation bytes are summed per 32-element activation block, then scaled:
//   jisu_sparse_q8: y = fma(d_w, fma(x0.d, float(sum over the first 32), x1.d * float(sum over the second 32)), y)
//   jisu_nm_q8:     y = fma(d_w, x.d * float(sum over the 32), y)
// block after block, with explicit fused multiply-adds (never left to the compiler's contraction,
// which differs between the scalar build and the FMA builds). The SIMD kernels (int8_sparse_matmul_isa.cpp) compute
// the integer sums exactly and the float steps in the same order, so they agree with the scalar
// reference bit for bit, whatever the tile, row range or thread (the determinism invariant of
// int8_matmul.h).
#include <string>

#include "backends/cpu/int8_matmul.h"
#include "core/cpu_features.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {

// True for the types these kernels read (the Int8Path::Sparse rows of backends/weight_types.cpp).
bool takes_sparse_int8(DType type);

// Validates (type, whole blocks, row bytes, row range) and dispatches on active_isa(). The
// AVX-512 kernels also need AVX512-VBMI2 (vpexpandb; Ice Lake and later): on an AVX-512 CPU
// without it the avx2 kernel runs.
void matmul_rows_sparse_int8(const Int8MatmulArgs& args);
// True when kernel_table(isa)'s sparse kernel can run on this CPU.
bool sparse_kernel_runs_on(Isa isa);

// dst[0..n) = the dense row (zeros where pruned) of a sparse row; throws jisu::Error when a
// row's masks do not hold the type's count of kept weights.
void dequantize_sparse_row(DType type, const void* src, float* dst, size_t n);

// Throws jisu::Error naming `tensor` unless every row of a sparse matrix is well-formed: masks
// that keep exactly the type's count per row (jisu_sparse_q8) or per block (jisu_nm_q8). The
// kernels trust this; the backend checks each matrix once at load.
void check_sparse_rows(DType type, const void* data, size_t rows, size_t row_bytes, size_t n, const std::string& tensor);

// The scalar reference.
void matmul_rows_sparse_int8_scalar(const Int8MatmulArgs& args);

}  // namespace jisu::cpu
