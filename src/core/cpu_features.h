#pragma once
// Which instruction-set path the CPU kernels use. Detected once from CPUID; the environment
// variable JISU_ISA (scalar|avx2|avx512) forces a lower path so tests can run every path the
// machine has. Forcing a path the CPU lacks is an error, not a silent fallback.
#include <string_view>

namespace jisu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

std::string_view isa_name(Isa isa);
Isa detected_isa();   // best the CPU supports (AVX-512 path needs F, BW, VL, DQ and VNNI)
Isa active_isa();     // what kernels dispatch to: JISU_ISA or detected; fixed after first call
// For tests: switch the active path (must be <= detected_isa()). Not thread-safe with kernels.
void set_active_isa(Isa isa);

}  // namespace jisu
