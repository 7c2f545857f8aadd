// Entry points of the integer path: argument checks and the choice of kernel for active_isa().
#include <string>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/weight_types.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {

bool takes_int8_activations(DType type) {
  const WeightTypeRow* row = find_weight_type(type);
  return row && row->int8_path == Int8Path::Blocks;
}

void quantize_activations(const float* x, size_t n, ActivationBlock* out) {
  if (n % kActivationBlockElements != 0)
    throw Error("cannot quantize " + std::to_string(n) + " activations in blocks of 32");
  active_kernels().quantize_activations(x, n, out);
}

void check_int8_matmul_args(const Int8MatmulArgs& args, size_t block_elements, const char* block_name) {
  if (args.n % block_elements != 0)
    throw Error("integer matmul rows of " + std::to_string(args.n) + " elements are not whole " + block_name);
  if (args.row_end < args.row_begin) throw Error("matmul row range ends before it begins");
  if (args.w_row_bytes < row_bytes(args.type, args.n))
    throw Error("matmul weight rows of " + std::to_string(args.w_row_bytes) + " bytes cannot hold " +
                std::to_string(args.n) + " " + std::string(dtype_name(args.type)) + " elements");
}

void matmul_rows_int8(const Int8MatmulArgs& args) {
  if (!takes_int8_activations(args.type))
    throw Error("weight type " + std::string(dtype_name(args.type)) + " has no integer dot-product kernel");
  check_int8_matmul_args(args, traits(args.type).block_elements, "blocks");
  if (args.type == kJisuCb4 && !args.codebook) throw Error("a cb4 matmul needs its tensor's codebook");
  if (args.type == kJisuI8Row && !args.row_scales) throw Error("an i8_row matmul needs its row scales");
  active_kernels().matmul_rows_int8(args);
}

size_t repacked_activation_tiles_bytes(DType type, size_t tiles, size_t n) {
  const KernelTable& kernels = active_kernels();
  return kernels.repacked_activation_tiles_bytes && tiles > 0 ? kernels.repacked_activation_tiles_bytes(type, tiles, n) : 0;
}

void prepare_repacked_activation_tiles(DType type, const void* xq, size_t stride_bytes, size_t n, size_t tiles,
                                       size_t tile_begin, size_t tile_end, uint8_t* out) {
  if (repacked_activation_tiles_bytes(type, tiles, n) == 0)
    throw Error("the active kernels take no activation tiles for " + std::string(dtype_name(type)));
  if (tile_begin > tile_end || tile_end > tiles)
    throw Error("activation tiles [" + std::to_string(tile_begin) + ", " + std::to_string(tile_end) + ") of " +
                std::to_string(tiles));
  active_kernels().prepare_repacked_activation_tiles(type, xq, stride_bytes, n, tiles, tile_begin, tile_end, out);
}

void matmul_repacked_int8(const RepackedMatmulArgs& args) {
  if (!can_repack(args.type, kRepackRows, args.n))
    throw Error("no repacked kernel for " + std::string(dtype_name(args.type)) + " rows of " + std::to_string(args.n) +
                " elements");
  if (args.row_end < args.row_begin || args.row_begin % kRepackRows != 0 || args.row_end % kRepackRows != 0)
    throw Error("repacked matmul rows [" + std::to_string(args.row_begin) + ", " + std::to_string(args.row_end) +
                ") are not whole groups of " + std::to_string(kRepackRows));
  if (args.group_bytes < repacked_group_bytes(args.type, args.n))
    throw Error("repacked groups of " + std::to_string(args.group_bytes) + " bytes cannot hold rows of " +
                std::to_string(args.n) + " elements");
  if (args.xq_tiles != nullptr && args.xq_tile_count * kActivationTileTokens > args.n_tokens)
    throw Error("repacked matmul activation tiles hold " + std::to_string(args.xq_tile_count * kActivationTileTokens) +
                " tokens, more than the " + std::to_string(args.n_tokens) + " of the product");
  active_kernels().matmul_repacked_int8(args);
}

}  // namespace jisu::cpu
