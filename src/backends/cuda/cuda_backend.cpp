// The CUDA backend's entry points (cuda_backend.h) and its error reporting.
#include "backends/cuda/cuda_backend.h"

#include <cstdio>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_backend.h"
#include "backends/cuda/device_buffer.h"
#include "core/error.h"

namespace jisu::cuda {
namespace {

void require_device() {
  if (device_count() == 0)
    throw Error("no CUDA device visible", "check nvidia-smi and CUDA_VISIBLE_DEVICES, or use --device cpu");
  JISU_CUDA_CHECK(cudaSetDevice(0));
}

std::string where(const char* call, const char* file, int line) {
  std::string path = file;
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) path = path.substr(slash + 1);
  return std::string(call) + " at " + path + ":" + std::to_string(line);
}

}  // namespace

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so the next check reports its own
  throw Error("CUDA error " + std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ") in " +
              where(call, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error("cuBLAS error " + std::string(cublasGetStatusName(status)) + " (" + cublasGetStatusString(status) +
              ") in " + where(call, file, line));
}

bool backend_built() { return true; }

int device_count() {
  int count = 0;
  // No driver, no device, or a driver too old for this runtime: all mean "nothing to run on".
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string device_description() {
  require_device();
  cudaDeviceProp properties{};
  JISU_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  char text[sizeof(properties.name) + 128];
  std::snprintf(text, sizeof text, "%s, compute %d.%d, %d SMs, %.1f GiB", properties.name, properties.major,
                properties.minor, properties.multiProcessorCount,
                static_cast<double>(properties.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

double copy_bandwidth_gbps() {
  require_device();
  // 512 MiB each way: far beyond L2, long enough for the events' resolution.
  constexpr size_t kBytes = size_t{512} << 20;
  constexpr int kRepeats = 10;
  DeviceBuffer source(kBytes), destination(kBytes);
  Stream stream;
  cudaEvent_t start = nullptr, stop = nullptr;
  JISU_CUDA_CHECK(cudaEventCreate(&start));
  JISU_CUDA_CHECK(cudaEventCreate(&stop));
  float milliseconds = 0.0f;
  try {
    JISU_CUDA_CHECK(cudaMemsetAsync(source.get(), 1, kBytes, stream.get()));
    JISU_CUDA_CHECK(cudaMemcpyAsync(destination.get(), source.get(), kBytes, cudaMemcpyDeviceToDevice, stream.get()));
    JISU_CUDA_CHECK(cudaEventRecord(start, stream.get()));
    for (int i = 0; i < kRepeats; ++i)
      JISU_CUDA_CHECK(cudaMemcpyAsync(destination.get(), source.get(), kBytes, cudaMemcpyDeviceToDevice, stream.get()));
    JISU_CUDA_CHECK(cudaEventRecord(stop, stream.get()));
    JISU_CUDA_CHECK(cudaEventSynchronize(stop));
    JISU_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  // Each copy reads and writes kBytes.
  return milliseconds > 0 ? 2.0 * kBytes * kRepeats / (milliseconds * 1e-3) / 1e9 : 0.0;
}

std::unique_ptr<Backend> make_backend(const TransformerShape& shape) {
  require_device();
  return make_device_backend(shape);
}

}  // namespace jisu::cuda
