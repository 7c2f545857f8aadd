#include "core/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/cpu_features.h"

#if defined(__x86_64__)
// GCC 12 flags its own _mm*_undefined_*() idiom inside the AVX-512 reduce intrinsics as
// -Wuninitialized (GCC bug 105593), as in the kernel files (backends/cpu/simd_prelude.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#endif

namespace jisu {
namespace {

// Sums a slice with the widest loads the CPU has, so the probe measures memory, not the
// add throughput of the loop.
uint64_t sum_words_portable(const uint64_t* words, size_t begin, size_t end) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = begin;
  for (; i + 4 <= end; i += 4) {
    a += words[i];
    b += words[i + 1];
    c += words[i + 2];
    d += words[i + 3];
  }
  for (; i < end; ++i) a += words[i];
  return a + b + c + d;
}

#if defined(__x86_64__)
// The kernels prefetch the weight stream in software (backends/cpu/simd_prelude.h), which on
// the machines measured reads faster than the hardware prefetcher alone; the probe does the
// same, once into L1 (prefetcht0) and once into L2 only (prefetcht1, which on Sapphire Rapids
// keeps more lines in flight per core), and keeps the faster, so the roofline it gives is the
// best rate a plain stream reaches, not an easier one.
constexpr size_t kProbePrefetchWords = 16384 / sizeof(uint64_t);

template <bool kIntoL2>
inline __attribute__((always_inline)) void probe_prefetch(const uint64_t* p) {
  if constexpr (kIntoL2)
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
  else
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

template <bool kIntoL2>
__attribute__((target("avx512f"))) uint64_t sum_words_avx512(const uint64_t* words, size_t begin, size_t end) {
  __m512i a = _mm512_set1_epi64(0), b = a, c = a, d = a;
  size_t i = begin;
  for (; i + 32 <= end; i += 32) {
    probe_prefetch<kIntoL2>(words + i + kProbePrefetchWords);
    probe_prefetch<kIntoL2>(words + i + kProbePrefetchWords + 16);
    a = _mm512_add_epi64(a, _mm512_loadu_si512(words + i));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(words + i + 8));
    c = _mm512_add_epi64(c, _mm512_loadu_si512(words + i + 16));
    d = _mm512_add_epi64(d, _mm512_loadu_si512(words + i + 24));
  }
  const uint64_t vector_sum = static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d))));
  return vector_sum + sum_words_portable(words, i, end);
}

template <bool kIntoL2>
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* words, size_t begin, size_t end) {
  __m256i a = _mm256_setzero_si256(), b = a;
  size_t i = begin;
  for (; i + 8 <= end; i += 8) {  // one 64-byte line per step
    probe_prefetch<kIntoL2>(words + i + kProbePrefetchWords);
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i + 4)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(a, b));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_words_portable(words, i, end);
}
#endif

// into_l2: prefetch with prefetcht1 rather than prefetcht0.
uint64_t sum_words(const uint64_t* words, size_t begin, size_t end, bool into_l2) {
#if defined(__x86_64__)
  if (uses_avx512(active_isa()))
    return into_l2 ? sum_words_avx512<true>(words, begin, end) : sum_words_avx512<false>(words, begin, end);
  if (active_isa() != Isa::Scalar)
    return into_l2 ? sum_words_avx2<true>(words, begin, end) : sum_words_avx2<false>(words, begin, end);
#endif
  (void)into_l2;
  return sum_words_portable(words, begin, end);
}

}  // namespace

double measure_read_bandwidth_gbps(ThreadPool& pool, size_t bytes, int repeats) {
  const size_t words = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  // Touch every page first so the measurement sees no page faults.
  for (size_t i = 0; i < words; ++i) buffer[i] = i;
  const size_t tasks = pool.size();
  std::vector<uint64_t> sums(tasks * 8, 0);  // one cache line per task: no false sharing
  double best = 0;
  for (int repeat = 0; repeat < 2 * repeats; ++repeat) {  // the two prefetch hints alternate
    const bool into_l2 = repeat % 2 == 1;
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(tasks, [&](size_t task, size_t) {
      sums[task * 8] = sum_words(buffer.get(), words * task / tasks, words * (task + 1) / tasks, into_l2);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / seconds / 1e9);
  }
  // Keep the sums observable so the loads cannot be optimised away.
  volatile uint64_t sink = 0;
  for (uint64_t sum : sums) sink = sink + sum;
  (void)sink;
  return best;
}

}  // namespace jisu
