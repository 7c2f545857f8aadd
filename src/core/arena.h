#pragma once
// A bump allocator over one block allocated up front. The forward pass plans its buffers for
// the largest batch once; after construction nothing on the per-token path touches the heap.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/error.h"

namespace jisu {

class Arena {
 public:
  static constexpr size_t kAlignment = 64;  // a cache line; also enough for AVX-512 loads

  explicit Arena(size_t bytes) : capacity_(bytes), storage_(new (std::align_val_t(kAlignment)) uint8_t[bytes]) {}

  template <typename T>
  T* allocate(size_t count) {
    const size_t bytes = (count * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    JISU_ASSERT(used_ + bytes <= capacity_);
    T* result = reinterpret_cast<T*>(storage_.get() + used_);
    used_ += bytes;
    return result;
  }

  // Bytes a sequence of allocate<T>(count) calls needs; used to size the arena in advance.
  template <typename T>
  static size_t bytes_for(size_t count) {
    return (count * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
  }

  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }

 private:
  struct AlignedDelete {
    void operator()(uint8_t* pointer) const { ::operator delete[](pointer, std::align_val_t(kAlignment)); }
  };
  size_t capacity_;
  size_t used_ = 0;
  std::unique_ptr<uint8_t[], AlignedDelete> storage_;
};

}  // namespace jisu
