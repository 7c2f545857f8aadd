#pragma once
// Owning device and pinned host allocations. Everything the forward pass touches is allocated
// once at construction through these; forward() allocates nothing.
#include <cstddef>
#include <utility>

#include "backends/cuda/cuda_check.h"

namespace jisu::cuda {

struct DeviceMemory {
  static void allocate(void** data, size_t bytes) { JISU_CUDA_CHECK(cudaMalloc(data, bytes)); }
  static void release(void* data) noexcept { cudaFree(data); }  // errors at teardown have nowhere to go
};
struct PinnedMemory {  // page-locked host memory: asynchronous copies, full PCIe speed
  static void allocate(void** data, size_t bytes) { JISU_CUDA_CHECK(cudaMallocHost(data, bytes)); }
  static void release(void* data) noexcept { cudaFreeHost(data); }
};

template <typename Memory>
class Allocation {
 public:
  Allocation() = default;
  explicit Allocation(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) Memory::allocate(&data_, bytes);
  }
  Allocation(Allocation&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  Allocation& operator=(Allocation&& other) noexcept {
    if (this != &other) {
      if (data_) Memory::release(data_);
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;
  ~Allocation() {
    if (data_) Memory::release(data_);
  }

  template <typename T = void>
  T* get() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

using DeviceBuffer = Allocation<DeviceMemory>;
using PinnedBuffer = Allocation<PinnedMemory>;

class Stream {
 public:
  Stream() { JISU_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace jisu::cuda
