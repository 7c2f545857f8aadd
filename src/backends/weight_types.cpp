#include "backends/weight_types.h"

#include <array>

#include "core/sparse_dtype.h"

namespace jisu {
namespace {

// Adding a weight type: its layout row in core/dtype.cpp, this row, its decode in
// backends/cpu/quant_scalar.cpp (the scalar reference every other kernel is tested against) and
// its quantizer in compress/quantize_row.cpp (CONTRIBUTING.md).
constexpr std::array kRows = {
    //           type          int8 path             repacks cuda
    WeightTypeRow{DType::F32, Int8Path::None, false, true},
    WeightTypeRow{DType::F16, Int8Path::None, false, true},
    WeightTypeRow{DType::BF16, Int8Path::None, false, true},
    WeightTypeRow{DType::Q4_0, Int8Path::Blocks, true, true},
    WeightTypeRow{DType::Q4_1, Int8Path::None, false, false},
    WeightTypeRow{DType::Q5_0, Int8Path::None, false, false},
    WeightTypeRow{DType::Q5_1, Int8Path::None, false, false},
    WeightTypeRow{DType::Q8_0, Int8Path::Blocks, true, true},
    WeightTypeRow{DType::Q2_K, Int8Path::SuperBlocks, false, false},
    WeightTypeRow{DType::Q3_K, Int8Path::SuperBlocks, false, false},
    WeightTypeRow{DType::Q4_K, Int8Path::SuperBlocks, true, true},
    WeightTypeRow{DType::Q5_K, Int8Path::SuperBlocks, true, false},
    WeightTypeRow{DType::Q6_K, Int8Path::SuperBlocks, true, true},
    WeightTypeRow{DType::IQ4_NL, Int8Path::Blocks, true, false},
    WeightTypeRow{DType::IQ4_XS, Int8Path::None, false, false},
    WeightTypeRow{kJisuNmQ8, Int8Path::Sparse, false, false},
    WeightTypeRow{kJisuI8Row, Int8Path::Blocks, false, false},
    WeightTypeRow{kJisuCb4, Int8Path::Blocks, false, false},
};
// Every jisu_sparse_q8_kK (K = 1 .. 64) shares this row (its type is the family's first).
constexpr WeightTypeRow kSparseQ8Row{kJisuSparseQ8First, Int8Path::Sparse, false, false};

}  // namespace

const WeightTypeRow* find_weight_type(DType type) {
  if (is_jisu_sparse_q8(type)) return &kSparseQ8Row;
  for (const WeightTypeRow& row : kRows)
    if (row.type == type) return &row;
  return nullptr;
}

std::string supported_weight_type_names() {
  std::string names;
  for (const WeightTypeRow& row : kRows)
    if (!is_jisu_only(row.type)) names += (names.empty() ? "" : ", ") + std::string(dtype_name(row.type));
  return names;
}

}  // namespace jisu
