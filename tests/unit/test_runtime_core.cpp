// Thread pool, KV block pool and paged KV cache.
#include <gtest/gtest.h>

#include <set>

#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kv/kv_block_pool.h"
#include "kv/kv_cache.h"

namespace jisu {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (size_t threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n_tasks : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n_tasks);
      std::atomic<size_t> bad_thread{0};
      pool.parallel_for(n_tasks, [&](size_t index, size_t thread_id) {
        hits[index].fetch_add(1);
        if (thread_id >= threads) bad_thread.fetch_add(1);
      });
      for (size_t i = 0; i < n_tasks; ++i) EXPECT_EQ(hits[i].load(), 1) << "task " << i;
      EXPECT_EQ(bad_thread.load(), 0u);
    }
  }
}

// A job holds at most 2^20 - 1 tasks in the pool's claim word; larger ranges are split.
TEST(ThreadPool, RangesBeyondOneJobRunEveryTaskOnce) {
  ThreadPool pool(2);
  const size_t n_tasks = (size_t(1) << 20) + 5;
  std::vector<std::atomic<uint8_t>> hits(n_tasks);
  pool.parallel_for(n_tasks, [&](size_t index, size_t) { hits[index].fetch_add(1); });
  size_t wrong = 0;
  for (size_t i = 0; i < n_tasks; ++i) wrong += hits[i].load() != 1;
  EXPECT_EQ(wrong, 0u);
}

// parallel_for returns once all tasks ran, even when a worker sits in a long task of its own
// job: results written by every task are visible to the caller afterwards.
TEST(ThreadPool, ResultsOfAllTasksAreVisibleOnReturn) {
  ThreadPool pool(3);
  std::vector<size_t> out(64);
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(out.size(), [&](size_t index, size_t) { out[index] = index + static_cast<size_t>(round); });
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], i + static_cast<size_t>(round));
  }
}

TEST(ThreadPool, ManySmallRegionsBackToBack) {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  for (int round = 0; round < 20000; ++round)
    pool.parallel_for(3, [&](size_t index, size_t) { sum.fetch_add(static_cast<long>(index)); });
  EXPECT_EQ(sum.load(), 20000L * 3);
}

// Workers idle long enough to sleep on the condition variable must wake for the next job: each
// job's two tasks wait for each other, so the caller alone cannot finish it, and a lost wake-up
// shows as a task that gives up after 5 s.
TEST(ThreadPool, SleepingWorkersWakeForTheNextJob) {
  ThreadPool pool(2);
  for (int round = 0; round < 10; ++round) {
    // 20 ms is far longer than a worker's spin (kSpinIterations pauses), so it is asleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 2 == 0 ? 20 : 0));
    std::atomic<int> started{0};
    std::atomic<int> gave_up{0};
    pool.parallel_for(2, [&](size_t, size_t) {
      started.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (started.load() < 2)
        if (std::chrono::steady_clock::now() > deadline) {
          gave_up.fetch_add(1);
          return;
        }
    });
    ASSERT_EQ(gave_up.load(), 0) << "round " << round << ": the sleeping worker never took the second task";
  }
}

TEST(KvBlockPool, AllocatesUntilEmptyAndRecyclesOnLastRelease) {
  KvBlockPool pool(3, 4);
  EXPECT_EQ(pool.free_count(), 3);
  const int32_t a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  pool.add_reference(b);
  pool.release(b);
  EXPECT_EQ(pool.free_count(), 0);  // still referenced once
  pool.release(b);
  EXPECT_EQ(pool.free_count(), 1);
  EXPECT_EQ(pool.allocate(), b);
  for (int32_t block : {a, b, c}) pool.release(block);
  EXPECT_EQ(pool.used_count(), 0);
}

constexpr int32_t kTinyContext = 40;

TEST(KvCache, SequencesGetDisjointBlocksAndRowsRoundTrip) {
  KvCacheOptions options;
  options.block_size = 4;
  options.max_sequences = 2;
  options.n_blocks = 6;
  KvCache cache(kTinyContext, options);
  ASSERT_TRUE(cache.reserve(0, 9));   // 3 blocks
  ASSERT_TRUE(cache.reserve(1, 12));  // 3 blocks
  EXPECT_FALSE(cache.reserve(1, 13)); // pool exhausted: unchanged
  EXPECT_EQ(cache.block_table(1).size(), 3u);
  for (int32_t b0 : cache.block_table(0))
    for (int32_t b1 : cache.block_table(1)) EXPECT_NE(b0, b1);
  // Every reserved position has its own storage row inside the pool's rows.
  std::set<int32_t> rows;
  for (int32_t sequence = 0; sequence < 2; ++sequence)
    for (int32_t position = 0; position < 9; ++position) {
      const int32_t row = cache.row_of(sequence, position);
      EXPECT_GE(row, 0);
      EXPECT_LT(row, 6 * 4);
      EXPECT_EQ(row % 4, position % 4);
      EXPECT_TRUE(rows.insert(row).second) << "sequence " << sequence << " position " << position;
    }
  cache.set_length(0, 9);
  cache.truncate(0, 5);  // keeps blocks for positions 0..4: two blocks
  EXPECT_EQ(cache.block_table(0).size(), 2u);
  EXPECT_EQ(cache.length(0), 5);
  cache.release(1);
  EXPECT_EQ(cache.pool().free_count(), 4);
}

TEST(KvCache, RejectsPositionsPastTheContextAndBadSequences) {
  KvCache cache(kTinyContext, KvCacheOptions{});
  EXPECT_THROW(cache.reserve(0, 41), Error);
  EXPECT_THROW(cache.reserve(1, 1), Error);
  EXPECT_THROW(cache.reserve(-1, 1), Error);
}

}  // namespace
}  // namespace jisu
