#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace jisu {
namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma");
  if (avx512) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa from_environment() {
  const Isa best = detected_isa();
  const char* forced = std::getenv("JISU_ISA");
  if (forced == nullptr || *forced == '\0') return best;
  const std::string name(forced);
  Isa wanted;
  if (name == "scalar") wanted = Isa::Scalar;
  else if (name == "avx2") wanted = Isa::Avx2;
  else if (name == "avx512") wanted = Isa::Avx512;
  else throw Error("JISU_ISA='" + name + "' is not a known instruction set", "use scalar, avx2 or avx512");
  if (static_cast<int>(wanted) > static_cast<int>(best))
    throw Error("JISU_ISA=" + name + " but this CPU supports at most " + std::string(isa_name(best)));
  return wanted;
}

std::atomic<int> g_active{-1};

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa detected_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() {
  int value = g_active.load(std::memory_order_relaxed);
  if (value < 0) {
    value = static_cast<int>(from_environment());
    g_active.store(value, std::memory_order_relaxed);
  }
  return static_cast<Isa>(value);
}

void set_active_isa(Isa isa) {
  JISU_ASSERT(static_cast<int>(isa) <= static_cast<int>(detected_isa()));
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace jisu
