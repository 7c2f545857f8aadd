#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace jisu {
namespace {

inline constexpr Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Avx512Amx};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__) && JISU_HAVE_AMX_KERNELS
// AMX-TILE, AMX-INT8 and AMX-BF16 in CPUID leaf 7 (EDX bits 24, 25 and 22), the tile state enabled by the OS
// (XCR0 bits 17 and 18), and Linux's per-process permission to use it: without
// ARCH_REQ_XCOMP_PERM the first tile instruction faults. The permission covers every thread
// of the process, those started later included.
bool amx_tiles_usable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  if (!((edx >> 24) & 1u) || !((edx >> 25) & 1u) || !((edx >> 22) & 1u)) return false;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1u)) return false;  // OSXSAVE
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & (3u << 17)) != (3u << 17)) return false;
  constexpr long kArchRequestXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return ::syscall(SYS_arch_prctl, kArchRequestXcompPerm, kXfeatureXtiledata) == 0;
}
#else
bool amx_tiles_usable() { return false; }
#endif

bool supported_by_cpu(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2;
    case Isa::AvxVnni: return avx2 && __builtin_cpu_supports("avxvnni");
    case Isa::Avx512: return avx512;
    case Isa::Avx512Vnni: return avx512 && __builtin_cpu_supports("avx512vnni");
    case Isa::Avx512Amx:
      return avx512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16") && amx_tiles_usable();
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

Isa from_environment() {
  const char* forced = std::getenv("JISU_ISA");
  if (forced == nullptr || *forced == '\0') return detected_isa();
  const std::string name(forced);
  for (Isa isa : kAllIsas) {
    if (isa_name(isa) != name) continue;
    if (!isa_supported(isa))
      throw Error("JISU_ISA=" + name + " but this CPU lacks that instruction set",
                  "this CPU has: " + [] {
                    std::string list;
                    for (Isa s : supported_isas()) list += (list.empty() ? "" : ", ") + std::string(isa_name(s));
                    return list;
                  }());
    return isa;
  }
  throw Error("JISU_ISA='" + name + "' is not a known instruction set",
              "use scalar, avx2, avx_vnni, avx512, avx512_vnni or avx512_amx");
}

std::atomic<int> g_active{-1};

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::AvxVnni: return "avx_vnni";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512_vnni";
    case Isa::Avx512Amx: return "avx512_amx";
  }
  return "?";
}

std::string_view isa_kernel_path(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar references";
    case Isa::Avx2: return "int8 maddubs (ymm)";
    case Isa::AvxVnni: return "int8 vpdpbusd (ymm)";
    case Isa::Avx512: return "int8 maddubs (ymm), float zmm";
    case Isa::Avx512Vnni: return "int8 vpdpbusd (ymm), float zmm";
    case Isa::Avx512Amx: return "prompts: AMX int8 tiles (Q4_0/Q8_0/IQ4_NL/Q4_K/Q5_K/Q6_K), AMX bf16 tiles with split operands (F16/BF16), 16+ tokens; decode: int8 vpdpbusd (ymm)";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  static const unsigned mask = [] {
    unsigned bits = 0;
    for (Isa s : kAllIsas)
      if (supported_by_cpu(s)) bits |= 1u << static_cast<int>(s);
    return bits;
  }();
  return (mask >> static_cast<int>(isa)) & 1u;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas)
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

Isa detected_isa() { return supported_isas().back(); }

Isa active_isa() {
  int value = g_active.load(std::memory_order_relaxed);
  if (value < 0) {
    value = static_cast<int>(from_environment());
    g_active.store(value, std::memory_order_relaxed);
  }
  return static_cast<Isa>(value);
}

void set_active_isa(Isa isa) {
  JISU_ASSERT(isa_supported(isa));
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace jisu
