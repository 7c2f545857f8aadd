#pragma once
// Fixed-size KV blocks, reference counted so that sequences can share blocks, plus the prefix
// cache (vLLM's automatic prefix caching): a full block whose K/V is computed can be published
// under a hash chained over the whole prefix it ends (see prefix_block_hash), so a later
// sequence with the same prefix takes a reference instead of recomputing it.
//
// Invariants:
//  - A block is in use exactly when its count is > 0.
//  - A block with count 0 is either plain free (on the free stack, no hash) or cached (it has a
//    hash, sits in the LRU list, and its K/V stays valid until it is evicted).
//  - allocate() prefers plain free blocks, then evicts the least recently released cached block
//    (dropping its hash): cached blocks cost nothing until memory is needed.
//  - A hash maps to at most one block, and a block has at most one hash.
//  - A hash is only an index: a cached block is handed out only when its own tokens and its
//    parent (the block before it, in the generation it had at publication) are exactly the
//    requested ones, so a 64-bit collision (even a crafted one) can cost a cache hit but never
//    hand one sequence's K/V to a different prefix. By induction from the first block, a chain
//    of acquired blocks holds exactly the requested prefix.
//  - A block's generation grows each time allocate() hands it out for new content.
//  - Only publish() allocates (one hash-table node; the table is sized for every block at
//    construction, so it never rehashes): at most once per block of tokens, never per token.
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace jisu {

// The hash of a full block: mixes the previous block's hash (0 for the first block) with the
// block's token ids, so equal hashes mean (up to 64-bit collisions) equal whole prefixes.
uint64_t prefix_block_hash(uint64_t parent_hash, std::span<const int32_t> tokens);

class KvBlockPool {
 public:
  // block_tokens: the tokens of one full block (what publish/acquire_cached compare).
  KvBlockPool(int32_t n_blocks, int32_t block_tokens);

  int32_t capacity() const { return static_cast<int32_t>(reference_counts_.size()); }
  // Blocks allocate() can hand out: plain free ones and evictable cached ones.
  int32_t free_count() const { return static_cast<int32_t>(free_blocks_.size()) + cached_count_; }
  int32_t used_count() const { return capacity() - free_count(); }
  // Unreferenced blocks still holding a published prefix.
  int32_t cached_count() const { return cached_count_; }

  // A fresh block with reference count 1, or -1 when none is free (may evict a cached block).
  int32_t allocate();
  void add_reference(int32_t block);
  // Drops one reference; at zero the block becomes cached (if published) or plain free.
  void release(int32_t block);
  int32_t reference_count(int32_t block) const { return reference_counts_[static_cast<size_t>(block)]; }

  // Publishes an in-use block's K/V under `hash`: the block holds `tokens` (block_tokens ids)
  // after the prefix that ends with `parent` (-1: the block starts its sequence). False (nothing
  // changes) when the hash already names another block or this block already has a hash.
  bool publish(int32_t block, uint64_t hash, int32_t parent, std::span<const int32_t> tokens);
  // The block published under `hash` for exactly these tokens after exactly `parent` (see the
  // invariants), with one more reference (reviving it from the cache when unreferenced), or -1.
  int32_t acquire_cached(uint64_t hash, int32_t parent, std::span<const int32_t> tokens);
  // Drops every cached block's hash (e.g. after a model change); in-use blocks keep theirs.
  void clear_cache();

 private:
  static constexpr int32_t kNone = -1;
  void lru_unlink(int32_t block);
  void lru_push_back(int32_t block);
  void forget_hash(int32_t block);

  std::vector<int32_t> reference_counts_;
  std::vector<int32_t> free_blocks_;  // plain free blocks, used as a stack
  std::vector<uint64_t> hashes_;      // by block; meaningful when has_hash_
  std::vector<uint8_t> has_hash_;
  int32_t block_tokens_;
  std::vector<int32_t> tokens_;          // by block: the block_tokens ids it was published with
  std::vector<int32_t> parents_;         // by block: its parent at publication (-1: none)
  std::vector<uint64_t> parent_generations_;
  std::vector<uint64_t> generations_;    // by block: how many times allocate() handed it out
  std::unordered_map<uint64_t, int32_t> by_hash_;
  // Cached blocks as a doubly linked list in release order (head = least recently released).
  std::vector<int32_t> lru_prev_, lru_next_;
  int32_t lru_head_ = kNone, lru_tail_ = kNone;
  int32_t cached_count_ = 0;
};

}  // namespace jisu
