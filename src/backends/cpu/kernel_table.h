#pragma once
// The CPU kernels of one instruction-set path, as a table of entry points. The dispatching
// entry points (matmul_rows, matmul_rows_int8, ...) validate their arguments and call
// active_kernels(); tests call kernel_table(isa) for every supported ISA and compare it with
// kernel_table(Isa::Scalar), the plain C++ references.
//
// Every path but Scalar is an instantiation of the *_isa.cpp sources, compiled once per ISA
// (vector_isa.h, CMakeLists.txt). The float weight-decoding kernels exist for two vector widths
// (avx2, avx512): the VNNI paths use the float kernels of their width.
#include <cstddef>

#include "backends/cpu/attention.h"
#include "backends/cpu/float_tile_matmul.h"
#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/scale_candidates.h"
#include "core/cpu_features.h"

namespace jisu::cpu {

struct KernelTable {
  // quant_kernels.h: weight rows x float activations.
  void (*dequantize_row)(DType type, const void* src, float* dst, size_t n);
  void (*matmul_rows)(const MatmulArgs& args);
  // int8_matmul.h: weight rows x activations quantized in blocks of 32.
  void (*quantize_activations)(const float* x, size_t n, ActivationBlock* out);
  void (*matmul_rows_int8)(const Int8MatmulArgs& args);
  // int8_super_block_matmul.h: K-quant rows x activations quantized in super-blocks of 256.
  void (*quantize_activations_super_blocks)(const float* x, size_t n, ActivationSuperBlock* out);
  void (*matmul_rows_int8_super_blocks)(const Int8MatmulArgs& args);
  // int8_repacked_matmul.h: 8-row repacked weights.
  void (*matmul_repacked_int8)(const RepackedMatmulArgs& args);
  // int8_sparse_matmul.h: jisu-only sparse rows x activations quantized in blocks of 32. The
  // AVX-512 instantiations also need AVX512-VBMI2 (sparse_kernel_runs_on).
  void (*matmul_rows_sparse_int8)(const Int8MatmulArgs& args);
  // attention.h: attention over K/V rows of a KV cache type (float family: per vector width).
  void (*attention_group_rows)(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                               int32_t head_dim, int32_t n_positions, float scale, float* out);
  void (*attention_group_rows_part)(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                                    int32_t head_dim, int32_t first_position, int32_t end_position, float scale,
                                    const AttentionPart& part);
  void (*attention_tile_rows)(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,
                              int32_t head_dim, float scale, float* scratch);
  // scale_candidates.h: the quantizer's candidate-scale sums (float family: per vector width).
  void (*scale_candidate_sums)(const ScaleCandidates& candidates);
  // float_tile_matmul.h: F16/BF16 prompt matmuls on AMX-BF16 tiles; null on every path but
  // Avx512Amx (the backend then keeps matmul_rows).
  SplitActivationsFn split_activations_bf16 = nullptr;
  SplitMatmulFn matmul_rows_split_bf16 = nullptr;
  // int8_repacked_matmul.h: the activation tiles matmul_repacked_int8 reads for its prompt
  // batches (RepackedMatmulArgs::xq_tiles), made once per input; null where it reads none.
  size_t (*repacked_activation_tiles_bytes)(DType type, size_t tiles, size_t n) = nullptr;
  void (*prepare_repacked_activation_tiles)(DType type, const void* xq, size_t stride_bytes, size_t n, size_t tiles,
                                            size_t tile_begin, size_t tile_end, uint8_t* out) = nullptr;
  // Whether matmul_repacked_int8 has tiles of two 8-row groups in one zmm for more tokens than a
  // decode (AVX-512 VNNI and AMX paths); RepackedMatmulArgs::one_group_tiles turns them off.
  bool repacked_two_group_tiles = false;
};

// The kernels of `isa`; calling them when !isa_supported(isa) is undefined behaviour.
const KernelTable& kernel_table(Isa isa);
inline const KernelTable& active_kernels() { return kernel_table(active_isa()); }

}  // namespace jisu::cpu
