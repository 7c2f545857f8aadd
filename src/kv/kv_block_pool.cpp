#include "kv/kv_block_pool.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {

uint64_t prefix_block_hash(uint64_t parent_hash, std::span<const int32_t> tokens) {
  // splitmix64-style mixing of each 32-bit id into the running state: cheap, and every input
  // bit affects every output bit, so chains of different prefixes diverge.
  uint64_t state = parent_hash ^ 0x9e3779b97f4a7c15ull;
  const auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int32_t token : tokens) state = mix(state + static_cast<uint32_t>(token) + 0x632be59bd9b4e019ull);
  state = mix(state ^ tokens.size());
  return state == 0 ? 1 : state;  // 0 stays "no parent"
}

KvBlockPool::KvBlockPool(int32_t n_blocks, int32_t block_tokens)
    : reference_counts_(static_cast<size_t>(n_blocks), 0),
      hashes_(static_cast<size_t>(n_blocks), 0),
      has_hash_(static_cast<size_t>(n_blocks), 0),
      block_tokens_(block_tokens),
      tokens_(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_tokens), 0),
      parents_(static_cast<size_t>(n_blocks), kNone),
      parent_generations_(static_cast<size_t>(n_blocks), 0),
      generations_(static_cast<size_t>(n_blocks), 0),
      lru_prev_(static_cast<size_t>(n_blocks), kNone),
      lru_next_(static_cast<size_t>(n_blocks), kNone) {
  free_blocks_.reserve(static_cast<size_t>(n_blocks));
  by_hash_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low block ids first: keeps a short run's KV in the front of the storage.
  for (int32_t block = n_blocks - 1; block >= 0; --block) free_blocks_.push_back(block);
}

int32_t KvBlockPool::allocate() {
  int32_t block = kNone;
  if (!free_blocks_.empty()) {
    block = free_blocks_.back();
    free_blocks_.pop_back();
  } else if (lru_head_ != kNone) {
    block = lru_head_;
    lru_unlink(block);
    forget_hash(block);
  } else {
    return kNone;
  }
  reference_counts_[static_cast<size_t>(block)] = 1;
  ++generations_[static_cast<size_t>(block)];
  return block;
}

void KvBlockPool::add_reference(int32_t block) {
  JISU_ASSERT(reference_counts_[static_cast<size_t>(block)] > 0);
  ++reference_counts_[static_cast<size_t>(block)];
}

void KvBlockPool::release(int32_t block) {
  int32_t& count = reference_counts_[static_cast<size_t>(block)];
  JISU_ASSERT(count > 0);
  if (--count > 0) return;
  if (has_hash_[static_cast<size_t>(block)])
    lru_push_back(block);
  else
    free_blocks_.push_back(block);
}

bool KvBlockPool::publish(int32_t block, uint64_t hash, int32_t parent, std::span<const int32_t> tokens) {
  const auto index = static_cast<size_t>(block);
  JISU_ASSERT(reference_counts_[index] > 0);
  JISU_ASSERT(tokens.size() == static_cast<size_t>(block_tokens_));
  JISU_ASSERT(parent == kNone || reference_counts_[static_cast<size_t>(parent)] > 0);
  if (has_hash_[index] || by_hash_.count(hash) != 0) return false;
  hashes_[index] = hash;
  has_hash_[index] = 1;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<ptrdiff_t>(index * tokens.size()));
  parents_[index] = parent;
  parent_generations_[index] = parent == kNone ? 0 : generations_[static_cast<size_t>(parent)];
  by_hash_.emplace(hash, block);
  return true;
}

int32_t KvBlockPool::acquire_cached(uint64_t hash, int32_t parent, std::span<const int32_t> tokens) {
  const auto found = by_hash_.find(hash);
  if (found == by_hash_.end()) return kNone;
  const int32_t block = found->second;
  const auto index = static_cast<size_t>(block);
  if (tokens.size() != static_cast<size_t>(block_tokens_) || parents_[index] != parent ||
      (parent != kNone && parent_generations_[index] != generations_[static_cast<size_t>(parent)]) ||
      !std::equal(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<ptrdiff_t>(index * tokens.size())))
    return kNone;  // a hash collision: another prefix owns this hash
  int32_t& count = reference_counts_[static_cast<size_t>(block)];
  if (count == 0) lru_unlink(block);
  ++count;
  return block;
}

void KvBlockPool::clear_cache() {
  while (lru_head_ != kNone) {
    const int32_t block = lru_head_;
    lru_unlink(block);
    forget_hash(block);
    free_blocks_.push_back(block);
  }
}

void KvBlockPool::lru_unlink(int32_t block) {
  const auto index = static_cast<size_t>(block);
  const int32_t prev = lru_prev_[index], next = lru_next_[index];
  (prev == kNone ? lru_head_ : lru_next_[static_cast<size_t>(prev)]) = next;
  (next == kNone ? lru_tail_ : lru_prev_[static_cast<size_t>(next)]) = prev;
  lru_prev_[index] = lru_next_[index] = kNone;
  --cached_count_;
}

void KvBlockPool::lru_push_back(int32_t block) {
  const auto index = static_cast<size_t>(block);
  lru_prev_[index] = lru_tail_;
  lru_next_[index] = kNone;
  (lru_tail_ == kNone ? lru_head_ : lru_next_[static_cast<size_t>(lru_tail_)]) = block;
  lru_tail_ = block;
  ++cached_count_;
}

void KvBlockPool::forget_hash(int32_t block) {
  const auto index = static_cast<size_t>(block);
  if (!has_hash_[index]) return;
  by_hash_.erase(hashes_[index]);
  has_hash_[index] = 0;
}

}  // namespace jisu
