#pragma once
// Shared start of every SIMD kernel file (the per-ISA *_isa.cpp sources through vector_isa.h,
// and the AVX2-only *_avx2.cpp): the intrinsics header with GCC's false positives silenced, the
// force-inline marker and a compile-time loop. Everything here is always_inline: these headers
// are compiled with different -m flags in different files, and an out-of-line copy built with
// one ISA's flags must never serve another's path.
//
// GCC 12 reports its own _mm*_undefined_*() idiom inside the intrinsic headers as
// -W(maybe-)uninitialized (GCC bug 105593); it is not a problem in the kernels.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
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

// Weights stream from DRAM once per token. On the machines measured, the hardware prefetcher
// alone left each core at about half of the read bandwidth a plain streaming loop reaches (many
// row streams, page-sized prefetch windows), so each row stream of a weight tile also
// prefetches the line kPrefetchBytes ahead: with rows contiguous, that is a tile or two
// further on. 16-32 KiB measured best (Q4_0 TinyLlama decode, 2 threads: 12.6 -> 20 t/s).
inline constexpr size_t kPrefetchBytes = 16384;

// Prefetches the lines of the kBytes-byte block kPrefetchBytes after `block`, one prefetch per
// line for blocks read one after another.
template <size_t kBytes>
inline __attribute__((always_inline)) void prefetch_block_ahead(const uint8_t* block) {
  const uint8_t* ahead = block + kPrefetchBytes;
  if constexpr (kBytes >= 64) {
    for (size_t offset = 0; offset < kBytes; offset += 64) _mm_prefetch(reinterpret_cast<const char*>(ahead + offset), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + kBytes - 1), _MM_HINT_T0);
  } else {
    // The block whose last byte lies within kBytes of a line start is the first to touch that line.
    const uint8_t* last = ahead + kBytes - 1;
    if ((reinterpret_cast<uintptr_t>(last) & 63) < kBytes) _mm_prefetch(reinterpret_cast<const char*>(last), _MM_HINT_T0);
  }
}

}  // namespace jisu::cpu
