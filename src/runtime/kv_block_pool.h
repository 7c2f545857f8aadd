#pragma once
// Fixed-size KV blocks, reference counted so that sequences can share blocks (prefix caching
// builds on this). A block is free exactly when its count is zero. Allocation and release are
// O(1) and never allocate memory: the free list is sized once.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace jisu {

class KvBlockPool {
 public:
  explicit KvBlockPool(int32_t n_blocks);

  int32_t capacity() const { return static_cast<int32_t>(reference_counts_.size()); }
  int32_t free_count() const { return static_cast<int32_t>(free_blocks_.size()); }
  int32_t used_count() const { return capacity() - free_count(); }

  // A fresh block with reference count 1, or -1 when none is free.
  int32_t allocate();
  void add_reference(int32_t block);
  // Drops one reference; the block returns to the free list when none remain.
  void release(int32_t block);
  int32_t reference_count(int32_t block) const { return reference_counts_[static_cast<size_t>(block)]; }

 private:
  std::vector<int32_t> reference_counts_;
  std::vector<int32_t> free_blocks_;  // used as a stack
};

}  // namespace jisu
