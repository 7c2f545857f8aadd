#pragma once
// Helpers of the CUDA tests: the skip when no device is visible, host <-> device copies,
// random data. Every test compares a device result with the CPU reference.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/device_buffer.h"

// Skips the test (a clear "skipped" in ctest, never a failure) on machines without a GPU,
// such as CI, which still compiles and links all of this.
#define JISU_REQUIRE_CUDA_DEVICE()                                                    \
  do {                                                                                \
    if (::jisu::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible"; \
  } while (0)

namespace jisu::cuda::test {

template <typename T>
DeviceBuffer to_device(const std::vector<T>& values) {
  DeviceBuffer buffer(values.size() * sizeof(T));
  JISU_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  // A pageable copy may still be in flight when cudaMemcpy returns; kernels on a non-blocking
  // stream would not wait for it.
  JISU_CUDA_CHECK(cudaDeviceSynchronize());
  return buffer;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer& buffer, size_t count) {
  std::vector<T> values(count);
  JISU_CUDA_CHECK(cudaDeviceSynchronize());
  JISU_CUDA_CHECK(cudaMemcpy(values.data(), buffer.get(), count * sizeof(T), cudaMemcpyDeviceToHost));
  return values;
}

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

}  // namespace jisu::cuda::test
