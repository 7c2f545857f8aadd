// The table of each ISA path: the scalar references, and the per-ISA instantiations of the
// *_isa.cpp sources, declared here as each is compiled (namespace = the ISA's name).
#include "backends/cpu/kernel_table.h"

// The entry points an *_isa.cpp build defines in namespace jisu::cpu::<isa>.
#define JISU_DECLARE_FLOAT_KERNELS(isa)                                      \
  namespace isa {                                                            \
  void dequantize_row(DType type, const void* src, float* dst, size_t n);   \
  void matmul_rows(const MatmulArgs& args);                                  \
  void attention_group_rows(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head, \
                            int32_t head_dim, int32_t n_positions, float scale, float* out);            \
  void attention_group_rows_part(const float* queries, int32_t group, const KvLayerRows& kv, int32_t kv_head, \
                                 int32_t head_dim, int32_t first_position, int32_t end_position, float scale, \
                                 const AttentionPart& part);                                                 \
  void attention_tile_rows(const AttentionTile& tile, int32_t group, const KvLayerRows& kv, int32_t kv_head,  \
                           int32_t head_dim, float scale, float* scratch);                                   \
  void scale_candidate_sums(const ScaleCandidates& candidates);                                              \
  }
#define JISU_DECLARE_INT8_KERNELS(isa)                                                       \
  namespace isa {                                                                            \
  void quantize_activations(const float* x, size_t n, ActivationBlock* out);                 \
  void matmul_rows_int8(const Int8MatmulArgs& args);                                         \
  void quantize_activations_super_blocks(const float* x, size_t n, ActivationSuperBlock* out); \
  void matmul_rows_int8_super_blocks(const Int8MatmulArgs& args);                            \
  void matmul_repacked_int8(const RepackedMatmulArgs& args);                                 \
  void matmul_rows_sparse_int8(const Int8MatmulArgs& args);                                  \
  }

namespace jisu::cpu {

JISU_DECLARE_FLOAT_KERNELS(avx2)
JISU_DECLARE_FLOAT_KERNELS(avx512)
JISU_DECLARE_INT8_KERNELS(avx2)
JISU_DECLARE_INT8_KERNELS(avx_vnni)
JISU_DECLARE_INT8_KERNELS(avx512)
JISU_DECLARE_INT8_KERNELS(avx512_vnni)
#if JISU_HAVE_AMX_KERNELS
namespace amx {
void matmul_repacked_int8(const RepackedMatmulArgs& args);  // int8_repacked_matmul_amx.cpp
size_t repacked_activation_tiles_bytes(DType type, size_t tiles, size_t n);
void prepare_repacked_activation_tiles(DType type, const void* xq, size_t stride_bytes, size_t n, size_t tiles,
                                       size_t tile_begin, size_t tile_end, uint8_t* out);
void split_activations_bf16(const float* x, size_t x_stride, size_t count, size_t n, uint16_t* tile);  // float_tile_matmul_amx.cpp
void matmul_rows_split_bf16(const MatmulArgs& args, const uint16_t* split_x);
}
#endif

namespace {

// float_isa: the namespace of the float kernels of this vector width; int8_isa: the ISA's own.
#define JISU_KERNEL_TABLE(float_isa, int8_isa)                                                  \
  KernelTable {                                                                                 \
    float_isa::dequantize_row, float_isa::matmul_rows, int8_isa::quantize_activations,          \
        int8_isa::matmul_rows_int8, int8_isa::quantize_activations_super_blocks,                \
        int8_isa::matmul_rows_int8_super_blocks, int8_isa::matmul_repacked_int8,                \
        int8_isa::matmul_rows_sparse_int8,                                             \
        float_isa::attention_group_rows, float_isa::attention_group_rows_part,                \
        float_isa::attention_tile_rows, float_isa::scale_candidate_sums                        \
  }

const KernelTable kScalar{dequantize_row_scalar,
                          matmul_rows_scalar,
                          quantize_activations_scalar,
                          matmul_rows_int8_scalar,
                          quantize_activations_super_blocks_scalar,
                          matmul_rows_int8_super_blocks_scalar,
                          matmul_repacked_int8_scalar,
                          matmul_rows_sparse_int8_scalar,
                          attention_group_rows_scalar,
                          attention_group_rows_part_scalar,
                          attention_tile_rows_scalar,
                          scale_candidate_sums_scalar};
const KernelTable kAvx2 = JISU_KERNEL_TABLE(avx2, avx2);
const KernelTable kAvxVnni = JISU_KERNEL_TABLE(avx2, avx_vnni);
const KernelTable kAvx512 = JISU_KERNEL_TABLE(avx512, avx512);
const KernelTable kAvx512Vnni = [] {
  KernelTable table = JISU_KERNEL_TABLE(avx512, avx512_vnni);
  table.repacked_two_group_tiles = true;  // int8_repacked_matmul_isa.cpp, kTwoGroupTiles
  return table;
}();
// Avx512Vnni's kernels, with AMX tiles for the repacked prompt matmuls and the F16/BF16 ones. Without the compiler's
// AMX support the path is never supported (cpu_features.cpp), and the table is Avx512Vnni's.
const KernelTable kAvx512Amx = [] {
  KernelTable table = kAvx512Vnni;
#if JISU_HAVE_AMX_KERNELS
  table.matmul_repacked_int8 = amx::matmul_repacked_int8;
  table.split_activations_bf16 = amx::split_activations_bf16;
  table.matmul_rows_split_bf16 = amx::matmul_rows_split_bf16;
  table.repacked_activation_tiles_bytes = amx::repacked_activation_tiles_bytes;
  table.prepare_repacked_activation_tiles = amx::prepare_repacked_activation_tiles;
#endif
  return table;
}();

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return kScalar;
    case Isa::Avx2: return kAvx2;
    case Isa::AvxVnni: return kAvxVnni;
    case Isa::Avx512: return kAvx512;
    case Isa::Avx512Vnni: return kAvx512Vnni;
    case Isa::Avx512Amx: return kAvx512Amx;
  }
  return kScalar;
}

}  // namespace jisu::cpu
