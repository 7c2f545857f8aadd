#include "runtime/kv_block_pool.h"

#include "core/error.h"

namespace jisu {

KvBlockPool::KvBlockPool(int32_t n_blocks) : reference_counts_(static_cast<size_t>(n_blocks), 0) {
  free_blocks_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low block ids first: keeps a short run's KV in the front of the storage.
  for (int32_t block = n_blocks - 1; block >= 0; --block) free_blocks_.push_back(block);
}

int32_t KvBlockPool::allocate() {
  if (free_blocks_.empty()) return -1;
  const int32_t block = free_blocks_.back();
  free_blocks_.pop_back();
  reference_counts_[static_cast<size_t>(block)] = 1;
  return block;
}

void KvBlockPool::add_reference(int32_t block) {
  JISU_ASSERT(reference_counts_[static_cast<size_t>(block)] > 0);
  ++reference_counts_[static_cast<size_t>(block)];
}

void KvBlockPool::release(int32_t block) {
  int32_t& count = reference_counts_[static_cast<size_t>(block)];
  JISU_ASSERT(count > 0);
  if (--count == 0) free_blocks_.push_back(block);
}

}  // namespace jisu
