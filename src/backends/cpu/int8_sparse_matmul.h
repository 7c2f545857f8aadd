#pragma once
// Sparse weight rows (sparse_blocks.h: jisu_sparse_q8_kK and jisu_nm_q8) x activations quantized
// in blocks of 32 (int8_matmul.h: ActivationBlock). Only the kept weights are stored and read;
// each block's mask places its int8 values among the 32 or 64 positions, and each 32-weight run
// (activation block a) meets its activation block as Q8_0's blocks do: 8 lanes of integer sums
// (lane l: elements 4l .. 4l + 3), then acc[l] = fma(float(lane sum), d_w * x.d, acc[l]), with
// one set of 8 float lanes for the even activation blocks and one for the odd (the 16 lanes of an
// AVX-512 register covering 64 positions); at the end of the row the two sets are added lane by
// lane and reduced in reduce_lanes' order. The SIMD kernels (int8_sparse_matmul_isa.cpp)
// compute the integer sums exactly and the float steps in the same order with explicit fused
// multiply-adds, so they agree with the scalar reference bit for bit, whatever the tile, row
// range or thread (the determinism invariant of int8_matmul.h).
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
