#pragma once
// Which instruction-set path the CPU kernels use. Detected once from CPUID; the environment
// variable JISU_ISA (scalar|avx2|avx_vnni|avx512|avx512_vnni|avx512_amx) forces another path the machine
// has, so tests can run every path. Forcing a path the CPU lacks is an error, not a silent
// fallback.
//
// The paths are not a chain: a CPU may have AVX-VNNI without AVX-512 (Alder Lake) or AVX-512
// without VNNI (Skylake-X), so "supported" is a per-path question (isa_supported), and the
// enum order is only the order of preference among supported paths (highest wins).
#include <string_view>
#include <vector>

namespace jisu {

enum class Isa {
  Scalar = 0,      // the plain C++ references
  Avx2 = 1,        // AVX2 + FMA + F16C
  AvxVnni = 2,     // Avx2 + AVX-VNNI (vpdpbusd on ymm, VEX)
  Avx512 = 3,      // Avx2 + AVX-512 F, BW, VL, DQ
  Avx512Vnni = 4,  // Avx512 + AVX512-VNNI
  // Avx512Vnni + AMX-TILE, AMX-INT8, AMX-BF16 and AVX512-BF16 (Intel Sapphire Rapids and later):
  // prompt batches of 16 tokens or more of the repacked types multiply in tiles
  // (int8_repacked_matmul_amx.cpp and, for Q4_K / Q5_K / Q6_K, int8_repacked_super_block_amx.cpp),
  // those of F16 / BF16 weights in bf16 tiles (float_tile_matmul_amx.cpp), everything else is
  // Avx512Vnni's. Needs the compiler's AMX support at build time and, on Linux, the kernel's
  // permission for the tile state (arch_prctl ARCH_REQ_XCOMP_PERM), asked once at detection.
  Avx512Amx = 5,
};

std::string_view isa_name(Isa isa);
// What the integer matmul kernels of a path use, in a few words (jisu bench prints it).
std::string_view isa_kernel_path(Isa isa);
bool isa_supported(Isa isa);        // the CPU (and OS) can run this path
std::vector<Isa> supported_isas();  // every path isa_supported, Scalar first
Isa detected_isa();                 // the preferred supported path
Isa active_isa();  // what kernels dispatch to: JISU_ISA or detected; fixed after first call
// For tests: switch the active path (must be isa_supported). Not thread-safe with kernels.
void set_active_isa(Isa isa);

// True for the paths whose float kernels use 512-bit vectors.
inline bool uses_avx512(Isa isa) { return isa == Isa::Avx512 || isa == Isa::Avx512Vnni || isa == Isa::Avx512Amx; }

}  // namespace jisu
