#pragma once
// The roofline's denominator: sustained read bandwidth of main memory with the same threads
// the kernels use. Reads a buffer far larger than the last-level cache; best of `repeats` with
// each of two prefetch hints (memory_bandwidth.cpp).
#include <cstddef>

#include "core/thread_pool.h"

namespace jisu {

double measure_read_bandwidth_gbps(ThreadPool& pool, size_t bytes = size_t(1) << 30, int repeats = 5);

}  // namespace jisu
