// Entry points that validate arguments and pick the kernel for active_isa().
#include <string>

#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {
namespace {

void check_length(DType type, size_t n) {
  if (!weight_type_supported(type)) throw_unsupported_weight_type(type);
  const size_t block = traits(type).block_elements;
  if (n % block != 0)
    throw Error("row of " + std::to_string(n) + " " + std::string(dtype_name(type)) +
                    " elements is not a whole number of blocks",
                "rows of this type hold multiples of " + std::to_string(block) + " elements");
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, size_t n) {
  if (takes_sparse_int8(type)) return dequantize_sparse_row(type, src, dst, n);  // not a hot path
  check_length(type, n);
  // The jisu-only dense types have no vector decoder: they are decoded here only off the hot
  // path (embedding rows, the quantizer); cb4 refuses there (it needs its tensor's codebook).
  if (type == kJisuI8Row || type == kJisuCb4) return dequantize_row_scalar(type, src, dst, n);
  active_kernels().dequantize_row(type, src, dst, n);
}

void matmul_rows(const MatmulArgs& args) {
  check_length(args.type, args.n);
  if (args.row_end < args.row_begin) throw Error("matmul row range ends before it begins");
  if (args.w_row_bytes < row_bytes(args.type, args.n))
    throw Error("matmul weight rows of " + std::to_string(args.w_row_bytes) + " bytes cannot hold " +
                std::to_string(args.n) + " " + std::string(dtype_name(args.type)) + " elements");
  if (args.type == kJisuI8Row || args.type == kJisuCb4) return matmul_rows_scalar(args);  // not reached: int8 path
  active_kernels().matmul_rows(args);
}

}  // namespace jisu::cpu
