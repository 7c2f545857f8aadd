#pragma once
// What each weight type is to the backends: one row per type (weight_types.cpp). The block
// layout (elements and bytes per block) is core/dtype.cpp's row of the same type; everything a
// kernel or a backend decides by type is read from here, never from a list of its own.
#include <string>

#include "core/dtype.h"

namespace jisu {

// Which integer kernel family reads a type with int8-quantized activations.
enum class Int8Path {
  None,         // float activations (matmul_rows in backends/cpu/quant_kernels.h)
  Blocks,       // 32-element activation blocks (backends/cpu/int8_matmul.h)
  SuperBlocks,  // 256-element activation super-blocks (backends/cpu/int8_super_block_matmul.h)
  Sparse,       // jisu-only sparse rows x 32-element activation blocks (backends/cpu/int8_sparse_matmul.h)
};

struct WeightTypeRow {
  DType type;
  Int8Path int8_path;  // the CPU's product kernel for this type
  bool cpu_repacks;    // CPU: copied at load into groups of 8 interleaved rows (int8_repacked_weights.h)
  bool cuda_native;    // CUDA: read in place by the device kernels (else dequantized to F16 at upload)
};

// The row of a type jisu computes with, or null.
const WeightTypeRow* find_weight_type(DType type);
// "f32, f16, ..." of every type with a row (for error hints).
std::string supported_weight_type_names();

}  // namespace jisu
