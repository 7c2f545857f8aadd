#pragma once
// Shared start of every per-ISA kernel file (*_avx2.cpp, *_avx512.cpp): the intrinsics header
// with GCC's false positives silenced, the force-inline marker and a compile-time loop.
//
// GCC 12 reports its own _mm*_undefined_*() idiom inside the intrinsic headers as
// -W(maybe-)uninitialized (GCC bug 105593); it is not a problem in the kernels.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <utility>

#define JISU_AI inline __attribute__((always_inline))

namespace jisu::cpu {

// f(std::integral_constant<int, I>{}) for I = 0 .. N-1, unrolled.
template <int N, class F>
JISU_AI void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

}  // namespace jisu::cpu
