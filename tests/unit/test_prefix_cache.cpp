// Prefix caching in the paged KV cache, without a model: block hashes chain over the prefix,
// matching blocks are shared by reference, released blocks stay cached and are evicted LRU.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "kv/kv_cache.h"

namespace jisu {
namespace {


std::vector<int32_t> iota_tokens(size_t n, int32_t first) {
  std::vector<int32_t> tokens(n);
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

KvCache make_cache(int32_t n_blocks) {
  KvCacheOptions options;
  options.block_size = 4;
  options.n_blocks = n_blocks;
  options.max_sequences = 2;
  return KvCache(64, options);
}

// Fills positions [length, n) as a forward would, then publishes the full blocks.
void compute(KvCache& cache, int32_t sequence, const std::vector<int32_t>& tokens) {
  ASSERT_TRUE(cache.reserve(sequence, static_cast<int32_t>(tokens.size())));
  cache.set_length(sequence, static_cast<int32_t>(tokens.size()));
  cache.publish_prefix(sequence, tokens);
}

TEST(PrefixBlockHash, ChainsOverTheWholePrefix) {
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 3, 5};
  EXPECT_EQ(prefix_block_hash(0, a), prefix_block_hash(0, a));
  EXPECT_NE(prefix_block_hash(0, a), prefix_block_hash(0, b));
  // Same block after different parents: different hashes.
  EXPECT_NE(prefix_block_hash(prefix_block_hash(0, a), a), prefix_block_hash(prefix_block_hash(0, b), a));
  EXPECT_NE(prefix_block_hash(0, a), 0u);
}

TEST(KvBlockPoolPrefix, PublishedBlocksAreSharedThenCachedThenEvictedLru) {
  KvBlockPool pool(3, 2);
  const std::vector<int32_t> ta = {1, 2}, tb = {3, 4};
  const int32_t a = pool.allocate(), b = pool.allocate();
  EXPECT_TRUE(pool.publish(a, 11, -1, ta));
  EXPECT_FALSE(pool.publish(b, 11, -1, tb));  // hash taken by a
  EXPECT_TRUE(pool.publish(b, 22, -1, tb));
  EXPECT_FALSE(pool.publish(b, 33, -1, tb));  // b already has a hash
  EXPECT_EQ(pool.acquire_cached(11, -1, ta), a);
  EXPECT_EQ(pool.reference_count(a), 2);
  pool.release(a);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.cached_count(), 2);
  EXPECT_EQ(pool.free_count(), 3);
  EXPECT_EQ(pool.used_count(), 0);
  // Revive b from the cache: it leaves the LRU list.
  EXPECT_EQ(pool.acquire_cached(22, -1, tb), b);
  EXPECT_EQ(pool.cached_count(), 1);
  pool.release(b);  // now a is least recently released, b most
  // The plain free block goes first, then a (LRU), and a's hash is gone.
  const int32_t c = pool.allocate();
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(pool.allocate(), a);
  EXPECT_EQ(pool.acquire_cached(11, -1, ta), -1);
  EXPECT_EQ(pool.acquire_cached(22, -1, tb), b);
  EXPECT_EQ(pool.allocate(), -1);
  pool.clear_cache();
  for (int32_t block : {a, b, c}) pool.release(block);
  pool.clear_cache();
  EXPECT_EQ(pool.cached_count(), 0);
  EXPECT_EQ(pool.acquire_cached(22, -1, tb), -1);
  EXPECT_EQ(pool.free_count(), 3);
}

// A hash only finds a candidate: a block is shared only for exactly its tokens after exactly its
// parent, so a colliding hash (a crafted one, say) cannot hand one prefix's K/V to another.
TEST(KvBlockPoolPrefix, CollidingHashesNeverShareADifferentPrefix) {
  KvBlockPool pool(4, 2);
  const std::vector<int32_t> first = {1, 2}, second = {3, 4}, other = {5, 6};
  const int32_t parent = pool.allocate(), child = pool.allocate();
  ASSERT_TRUE(pool.publish(parent, 100, -1, first));
  ASSERT_TRUE(pool.publish(child, 200, parent, second));
  // Same hash, other tokens: a miss, not the cached block.
  EXPECT_EQ(pool.acquire_cached(100, -1, other), -1);
  // Same hash and tokens but another parent (a different prefix before them): a miss.
  const int32_t stranger = pool.allocate();
  EXPECT_EQ(pool.acquire_cached(200, stranger, second), -1);
  EXPECT_EQ(pool.acquire_cached(200, -1, second), -1);
  // The exact chain is found.
  EXPECT_EQ(pool.acquire_cached(100, -1, first), parent);
  EXPECT_EQ(pool.acquire_cached(200, parent, second), child);
  pool.release(parent);
  pool.release(child);
  pool.release(stranger);
  // The parent block is handed out again for new content (evicted from the cache once the free
  // block is gone): the child published after its old content must not match the new one.
  pool.release(parent);
  pool.release(child);
  EXPECT_EQ(pool.allocate(), stranger);
  const int32_t reused = pool.allocate();
  ASSERT_EQ(reused, 3);  // the last plain free block
  const int32_t evicted = pool.allocate();
  ASSERT_EQ(evicted, parent);  // least recently released cached block
  ASSERT_TRUE(pool.publish(parent, 100, -1, first));  // same tokens, new content generation
  EXPECT_EQ(pool.acquire_cached(200, parent, second), -1);
}

TEST(KvCachePrefix, SecondSequenceReusesTheSharedFullBlocks) {
  KvCache cache = make_cache(12);
  std::vector<int32_t> first = iota_tokens(10, 100);  // blocks [100..103] [104..107] + 2
  compute(cache, 0, first);
  EXPECT_EQ(cache.pool().used_count(), 3);

  std::vector<int32_t> second = iota_tokens(9, 100);  // shares both full blocks
  second[8] = 7;
  EXPECT_EQ(cache.reuse_prefix(1, second), 8);
  EXPECT_EQ(cache.length(1), 8);
  EXPECT_EQ(cache.block_table(1)[0], cache.block_table(0)[0]);
  EXPECT_EQ(cache.block_table(1)[1], cache.block_table(0)[1]);
  EXPECT_EQ(cache.pool().reference_count(cache.block_table(0)[0]), 2);
  EXPECT_EQ(cache.pool().used_count(), 3);  // nothing new yet
  compute(cache, 1, second);
  EXPECT_EQ(cache.pool().used_count(), 4);  // only the partial third block is new
  EXPECT_NE(cache.block_table(1)[2], cache.block_table(0)[2]);
  cache.release(0);
  cache.release(1);
  EXPECT_EQ(cache.pool().used_count(), 0);
  EXPECT_EQ(cache.pool().cached_count(), 2);  // the two published full blocks
}

TEST(KvCachePrefix, KeepsOneTokenToComputeAndStopsAtTheFirstMismatch) {
  KvCache cache = make_cache(12);
  const std::vector<int32_t> tokens = iota_tokens(8, 1);
  compute(cache, 0, tokens);
  cache.release(0);
  // Exactly two full blocks: only the first may be reused (the last token needs logits).
  EXPECT_EQ(cache.reuse_prefix(1, tokens), 4);
  cache.release(1);
  // A different first block: the chain breaks at once even though block two matches.
  std::vector<int32_t> other = tokens;
  other[0] = 99;
  other.push_back(50);
  EXPECT_EQ(cache.reuse_prefix(1, other), 0);
  cache.release(1);
  // Past a mismatch in block two, block one is still reused.
  std::vector<int32_t> partly = tokens;
  partly[5] = 99;
  partly.push_back(50);
  EXPECT_EQ(cache.reuse_prefix(1, partly), 4);
}

TEST(KvCachePrefix, CachedBlocksAreEvictedWhenFreshBlocksAreNeeded) {
  KvCache cache = make_cache(4);
  compute(cache, 0, iota_tokens(16, 1));  // 4 published blocks
  cache.release(0);
  EXPECT_EQ(cache.pool().cached_count(), 4);
  EXPECT_EQ(cache.pool().free_count(), 4);
  ASSERT_TRUE(cache.reserve(1, 12));  // evicts the 3 least recently released
  EXPECT_EQ(cache.pool().cached_count(), 1);
  cache.release(1);
  // A sequence releases its blocks last first, so eviction takes the tails of chains and the
  // chain's first block, the most shareable, survives.
  EXPECT_EQ(cache.reuse_prefix(0, iota_tokens(17, 1)), 4);
}

}  // namespace
}  // namespace jisu
