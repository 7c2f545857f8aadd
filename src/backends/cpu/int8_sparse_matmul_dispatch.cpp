// Entry points of the sparse int8 kernels: the format checks, the dense decoding of a sparse
// row, and the choice of kernel for active_isa().
#include <bit>
#include <string>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"
#include "backends/weight_types.h"
#include "core/error.h"

namespace jisu::cpu {
namespace {

void check_sparse_type(DType type, size_t n) {
  if (!takes_sparse_int8(type))
    throw Error("weight type " + std::string(dtype_name(type)) + " is not a jisu sparse type");
  const size_t block = traits(type).block_elements;
  if (n % block != 0)
    throw Error("a " + std::string(dtype_name(type)) + " row of " + std::to_string(n) +
                " elements is not a whole number of blocks of " + std::to_string(block));
}

}  // namespace

bool takes_sparse_int8(DType type) {
  const WeightTypeRow* row = find_weight_type(type);
  return row && row->int8_path == Int8Path::Sparse;
}

bool sparse_kernel_runs_on(Isa isa) {
  static const bool has_vbmi2 = __builtin_cpu_supports("avx512vbmi2");
  return isa_supported(isa) && (!uses_avx512(isa) || has_vbmi2);
}

void matmul_rows_sparse_int8(const Int8MatmulArgs& args) {
  check_sparse_type(args.type, args.n);
  check_int8_matmul_args(args, traits(args.type).block_elements, "sparse blocks");
  const Isa isa = active_isa();
  kernel_table(sparse_kernel_runs_on(isa) ? isa : Isa::Avx2).matmul_rows_sparse_int8(args);
}

void dequantize_sparse_row(DType type, const void* src, float* dst, size_t n) {
  check_sparse_type(type, n);
  const auto* row = static_cast<const uint8_t*>(src);
  const SparseRowLayout layout = sparse_row_layout(n);
  const uint8_t* values = row + layout.values_offset();
  for (size_t b = 0; b < layout.blocks; ++b) {
    const uint64_t mask = load_u64(row + 8 * b);
    const float d = fp16_to_fp32(load_u16(row + layout.scales_offset() + 2 * b));
    for (size_t j = 0; j < kSparseBlockElements; ++j)
      dst[b * kSparseBlockElements + j] = ((mask >> j) & 1) ? d * static_cast<float>(sparse_value(*values++)) : 0.0f;
  }
}

void check_sparse_rows(DType type, const void* data, size_t rows, size_t row_bytes_given, size_t n,
                       const std::string& tensor) {
  check_sparse_type(type, n);
  if (row_bytes_given != row_bytes(type, n))
    throw Error("tensor '" + tensor + "' has rows of " + std::to_string(row_bytes_given) + " bytes, not the " +
                std::to_string(row_bytes(type, n)) + " of " + std::string(dtype_name(type)));
  const SparseRowLayout layout = sparse_row_layout(n);
  const auto* base = static_cast<const uint8_t*>(data);
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* row = base + r * row_bytes_given;
    if (type == kJisuNmQ8) {
      for (size_t b = 0; b < layout.blocks; ++b)
        if (std::popcount(load_u64(row + 8 * b)) != static_cast<int>(kNmBlockKept))
          throw Error("tensor '" + tensor + "' row " + std::to_string(r) + " block " + std::to_string(b) +
                      " does not keep 32 of its 64 weights", "the file is damaged");
      continue;
    }
    // The masks must keep exactly n / 64 * K values: the values then fill the row to its end.
    const size_t kept_per_row = layout.blocks * sparse_q8_kept_per_64(type);
    size_t kept = 0;
    for (size_t b = 0; b < layout.blocks; ++b) kept += static_cast<size_t>(std::popcount(load_u64(row + 8 * b)));
    if (kept != kept_per_row)
      throw Error("tensor '" + tensor + "' row " + std::to_string(r) + " keeps " + std::to_string(kept) +
                      " weights, not the " + std::to_string(kept_per_row) + " its type " +
                      std::string(dtype_name(type)) + " says",
                  "the file is damaged");
  }
}

}  // namespace jisu::cpu
