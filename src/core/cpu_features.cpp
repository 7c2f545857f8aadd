#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace jisu {
namespace {

inline constexpr Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni};

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
              "use scalar, avx2, avx_vnni, avx512 or avx512_vnni");
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
