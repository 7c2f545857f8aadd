// The continuous-batching scheduler, without a model: a fake "forward" marks planned tokens
// computed (KvCache::set_length) and "samples" a token for every chunk that reaches the end.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <numeric>
#include <vector>

#include "runtime/scheduler.h"

namespace jisu {
namespace {


struct Harness {
  KvCache cache;
  Scheduler scheduler;
  std::vector<std::unique_ptr<SequenceEntry>> entries;
  std::map<uint64_t, int32_t> max_new;  // tokens each request generates before finishing
  std::vector<uint64_t> finished;

  Harness(int32_t n_blocks, int32_t budget, int32_t max_running)
      : cache(256, make_cache_options(n_blocks, max_running)),
        scheduler(cache, SchedulerOptions{budget, max_running}) {}

  static KvCacheOptions make_cache_options(int32_t n_blocks, int32_t max_running) {
    KvCacheOptions options;
    options.block_size = 4;
    options.n_blocks = n_blocks;
    options.max_sequences = max_running;
    return options;
  }

  SequenceEntry* add(uint64_t id, int32_t prompt_length, int32_t new_tokens, int32_t first_token = 1000) {
    auto entry = std::make_unique<SequenceEntry>();
    entry->id = id;
    entry->tokens.resize(static_cast<size_t>(prompt_length));
    std::iota(entry->tokens.begin(), entry->tokens.end(), first_token);
    max_new[id] = new_tokens;
    scheduler.add(entry.get());
    entries.push_back(std::move(entry));
    return entries.back().get();
  }

  // One step; returns the plan as (id, n_tokens) pairs.
  std::vector<std::pair<uint64_t, int32_t>> step() {
    const std::vector<ScheduledChunk> plan = scheduler.schedule();
    std::vector<std::pair<uint64_t, int32_t>> summary;
    int32_t total = 0;
    for (const ScheduledChunk& chunk : plan) {
      summary.emplace_back(chunk.entry->id, chunk.n_tokens);
      total += chunk.n_tokens;
      // Each chunk continues its sequence in the cache (what Transformer::forward checks).
      EXPECT_EQ(cache.length(chunk.entry->slot), chunk.first);
      EXPECT_TRUE(cache.reserve(chunk.entry->slot, chunk.first + chunk.n_tokens));
      cache.set_length(chunk.entry->slot, chunk.first + chunk.n_tokens);
    }
    scheduler.complete();
    sample(plan);
    return summary;
  }

  // After a plan completed: a token for every chunk that reached the end; finished ones removed.
  void sample(const std::vector<ScheduledChunk>& plan) {
    for (const ScheduledChunk& chunk : plan) {
      if (!chunk.samples) continue;
      SequenceEntry* entry = chunk.entry;
      entry->tokens.push_back(static_cast<int32_t>(entry->id * 10 + entry->tokens.size()));
      if (--max_new[entry->id] == 0) {
        scheduler.remove(entry);
        finished.push_back(entry->id);
      }
    }
  }

  // As a pipeline of `depth` stages drives it (serving_engine.cpp): plans of at most `group`
  // requests started while fewer than `depth` are in flight (none after a needed drain until
  // all finished), then the oldest completed and sampled. Checks that no request is in two
  // plans at once and that a request in flight keeps its slot and its running state (never
  // preempted). Returns how many drains the scheduler asked for.
  int run_pipelined(size_t depth, int32_t group, int max_rounds = 1000) {
    std::vector<std::vector<ScheduledChunk>> in_flight;
    std::vector<std::vector<int32_t>> slots;
    int drains = 0;
    for (int round = 0; round < max_rounds && !scheduler.idle(); ++round) {
      while (in_flight.size() < depth && !(scheduler.needs_drain() && !in_flight.empty())) {
        const std::vector<ScheduledChunk> plan = scheduler.schedule(group);
        if (plan.empty()) break;
        EXPECT_LE(plan.size(), static_cast<size_t>(group));
        std::vector<int32_t> plan_slots;
        for (const ScheduledChunk& chunk : plan) {
          for (const auto& other : in_flight)
            for (const ScheduledChunk& busy : other) EXPECT_NE(busy.entry, chunk.entry);
          EXPECT_EQ(cache.length(chunk.entry->slot), chunk.first);
          EXPECT_TRUE(cache.reserve(chunk.entry->slot, chunk.first + chunk.n_tokens));
          cache.set_length(chunk.entry->slot, chunk.first + chunk.n_tokens);
          plan_slots.push_back(chunk.entry->slot);
        }
        drains += scheduler.needs_drain();
        in_flight.push_back(plan);
        slots.push_back(plan_slots);
      }
      if (in_flight.empty()) continue;
      for (size_t p = 0; p < in_flight.size(); ++p)
        for (size_t c = 0; c < in_flight[p].size(); ++c) {
          EXPECT_TRUE(in_flight[p][c].entry->running && in_flight[p][c].entry->in_flight);
          EXPECT_EQ(in_flight[p][c].entry->slot, slots[p][c]);
        }
      const std::vector<ScheduledChunk> plan = in_flight.front();
      in_flight.erase(in_flight.begin());
      slots.erase(slots.begin());
      scheduler.complete(plan);
      sample(plan);
    }
    return drains;
  }
};

using Plan = std::vector<std::pair<uint64_t, int32_t>>;

TEST(Scheduler, ChunksLongPromptsUnderTheBudgetAndMixesDecodes) {
  Harness h(64, 8, 4);
  h.add(1, 3, 5);
  EXPECT_EQ(h.step(), (Plan{{1, 3}}));
  h.add(2, 20, 2);
  // Running decode first, then the new prompt in chunks filling the rest of the budget.
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 7}}));
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 7}}));
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 6}}));  // prompt done: samples
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 1}}));
  EXPECT_EQ(h.finished, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_TRUE(h.step().empty());
  EXPECT_EQ(h.cache.pool().used_count(), 0);
}

TEST(Scheduler, NeverExceedsTheBudgetOrTheRunningLimit) {
  Harness h(200, 5, 3);
  for (uint64_t id = 1; id <= 7; ++id) h.add(id, static_cast<int32_t>(id * 3), static_cast<int32_t>(8 - id));
  for (int step = 0; step < 200 && !h.scheduler.idle(); ++step) {
    const Plan plan = h.step();
    int32_t total = 0;
    for (const auto& [id, n] : plan) total += n;
    EXPECT_LE(total, 5);
    EXPECT_GT(total, 0);
    EXPECT_LE(h.scheduler.running_count(), 3u);
  }
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_EQ(h.finished.size(), 7u);
}

TEST(Scheduler, AdmitsOnlyWhenBlocksAllowAndInArrivalOrder) {
  Harness h(4, 64, 4);  // 4 blocks of 4 positions
  h.add(1, 10, 1);      // 3 blocks
  h.add(2, 6, 1, 2000); // 2 blocks: does not fit next to 1
  h.add(3, 2, 1, 3000); // 1 block: fits, but must not overtake 2
  EXPECT_EQ(h.step(), (Plan{{1, 10}}));
  EXPECT_EQ(h.finished, (std::vector<uint64_t>{1}));
  EXPECT_EQ(h.step(), (Plan{{2, 6}, {3, 2}}));
  EXPECT_EQ(h.finished, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(Scheduler, PreemptsTheNewestAndResumesItByRecomputation) {
  Harness h(5, 64, 2);  // 5 blocks of 4
  SequenceEntry* old = h.add(1, 7, 6);     // 2 blocks now, 4 blocks at 13 tokens
  SequenceEntry* young = h.add(2, 8, 6, 2000);  // 2 blocks now, 4 later
  EXPECT_EQ(h.step(), (Plan{{1, 7}, {2, 8}}));
  // Token 9 of the young one needs a third block: 5 blocks still hold 2 + 3.
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 1}}));  // 8 and 9 positions
  // Now the old one needs its third block (9th position) and the young one a fourth: the young
  // one is preempted and its blocks released.
  Plan plan = h.step();
  EXPECT_EQ(plan, (Plan{{1, 1}}));
  EXPECT_EQ(young->computed, 0);
  EXPECT_FALSE(young->running);
  EXPECT_EQ(young->preemptions, 1);
  EXPECT_EQ(h.scheduler.preemption_count(), 1u);
  EXPECT_EQ(young->tokens.size(), 10u);  // generated tokens are kept for the recompute
  // The old one runs to completion; the young one resumes, reusing its published full blocks.
  while (!h.scheduler.idle()) h.step();
  EXPECT_EQ(h.finished, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(old->tokens.size(), 13u);
  EXPECT_EQ(young->tokens.size(), 14u);
  EXPECT_GT(young->prefix_hit_tokens, 0);
  EXPECT_EQ(h.cache.pool().used_count(), 0);
}

TEST(Scheduler, OldestAlwaysProgressesSoNobodyStarves) {
  // Tight memory and many long requests: every step must plan something, the oldest running
  // request is never preempted, and everyone finishes.
  Harness h(8, 6, 4);
  for (uint64_t id = 1; id <= 6; ++id) h.add(id, 5 + static_cast<int32_t>(id % 3), 12, static_cast<int32_t>(id * 100));
  int steps = 0;
  for (; steps < 1000 && !h.scheduler.idle(); ++steps) EXPECT_FALSE(h.step().empty());
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_EQ(h.finished, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_GT(h.scheduler.preemption_count(), 0u);
  for (const auto& entry : h.entries) EXPECT_EQ(entry->tokens.size(), 5u + entry->id % 3 + 12);
}

TEST(Scheduler, SharedPrefixIsComputedOnce) {
  Harness h(32, 64, 2);
  h.add(1, 13, 1);
  EXPECT_EQ(h.step(), (Plan{{1, 13}}));
  // Same first 12 tokens: three full blocks come from the prefix cache, one token computed.
  SequenceEntry* second = h.add(2, 13, 1);
  second->tokens[12] = 5;
  EXPECT_EQ(h.step(), (Plan{{2, 1}}));
  EXPECT_EQ(second->prefix_hit_tokens, 12);
}

TEST(Scheduler, SameStepArrivalsWaitForTheSharedPrefixInsteadOfRecomputingIt) {
  Harness h(32, 64, 4);
  h.add(1, 13, 2);
  SequenceEntry* same = h.add(2, 14, 2);  // shares 12 tokens: 3 full blocks
  h.add(3, 5, 2, 5000);                   // behind it in FIFO order
  // Step 1: only the first computes the prefix; the second waits (and the third behind it).
  EXPECT_EQ(h.step(), (Plan{{1, 13}}));
  // Step 2: the prefix is published; the second computes only its own 2 tokens.
  EXPECT_EQ(h.step(), (Plan{{1, 1}, {2, 2}, {3, 5}}));
  EXPECT_EQ(same->prefix_hit_tokens, 12);
  // Without the shared prefix there is no waiting.
  Harness g(32, 64, 4);
  g.add(1, 13, 1);
  g.add(2, 14, 1, 7000);
  EXPECT_EQ(g.step(), (Plan{{1, 13}, {2, 14}}));
}

TEST(Scheduler, RemovingAWaitingOrRunningRequestFreesItsBlocks) {
  Harness h(16, 64, 1);
  SequenceEntry* a = h.add(1, 6, 100);
  SequenceEntry* b = h.add(2, 6, 100);
  h.step();
  EXPECT_GT(h.cache.pool().used_count(), 0);
  h.scheduler.remove(b);  // waiting
  h.scheduler.remove(a);  // running
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_EQ(h.cache.pool().used_count(), 0);
}

}  // namespace
}  // namespace jisu

namespace jisu {
namespace {

// Speculative chunks: the drafts ride in the decode chunk; complete() counts only the real
// token; accept_draft() makes accepted drafts computed and releases the rejected drafts' blocks.
TEST(Scheduler, DraftsAreVerifiedInTheDecodeChunkAndRejectedOnesGiveBackTheirBlocks) {
  Harness h(16, 64, 2);  // blocks of 4 positions
  SequenceEntry* entry = h.add(1, 7, 100);
  EXPECT_EQ(h.step(), (Plan{{1, 7}}));  // prompt; the harness samples token #7
  ASSERT_EQ(entry->tokens.size(), 8u);
  EXPECT_EQ(entry->computed, 7);

  entry->draft = {501, 502, 503, 504, 505, 506};  // positions 8..13
  const std::vector<ScheduledChunk>& plan = h.scheduler.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].first, 7);
  EXPECT_EQ(plan[0].n_tokens, 7);
  EXPECT_EQ(plan[0].n_draft, 6);
  EXPECT_TRUE(plan[0].samples);
  ASSERT_TRUE(h.cache.reserve(entry->slot, 14));
  h.cache.set_length(entry->slot, 14);  // what the forward records
  EXPECT_EQ(h.cache.block_table(entry->slot).size(), 4u);
  h.scheduler.complete();
  EXPECT_EQ(entry->computed, 8);
  EXPECT_EQ(h.cache.length(entry->slot), 8);

  // Two drafts accepted, then a correction token.
  entry->tokens.insert(entry->tokens.end(), {501, 502, 999});
  h.scheduler.accept_draft(entry, 2);
  EXPECT_EQ(entry->computed, 10);
  EXPECT_EQ(h.cache.length(entry->slot), 10);
  EXPECT_EQ(h.cache.block_table(entry->slot).size(), 3u);  // positions 0..9: the 4th block is free again
  EXPECT_EQ(h.cache.pool().used_count(), 3);

  // Drafts never pass the budget or the context; a sequence with a prompt left ignores them.
  Harness tight(64, 3, 2);
  SequenceEntry* a = tight.add(1, 3, 100);
  tight.step();
  a->draft.assign(10, 7);
  EXPECT_EQ(tight.scheduler.schedule()[0].n_draft, 2);  // budget 3 = the real token + 2 drafts
  tight.scheduler.complete();
  SequenceEntry* b = tight.add(2, 9, 100, 2000);
  b->draft.assign(4, 7);
  const auto plan_b = tight.scheduler.schedule();
  for (const ScheduledChunk& chunk : plan_b) EXPECT_EQ(chunk.entry == b ? chunk.n_draft : 0, 0);
}

// A pipeline of two stages: the running requests form two groups, each with one step in
// flight; the second schedule() picks only requests the first did not, and everyone ends with
// exactly its tokens.
TEST(Scheduler, PipelinedGroupsAreDisjointAndEveryoneFinishes) {
  Harness h(64, 64, 4);
  for (uint64_t id = 1; id <= 4; ++id) h.add(id, 5, 3 + static_cast<int32_t>(id), static_cast<int32_t>(id * 100));
  const std::vector<ScheduledChunk> a = h.scheduler.schedule(2);
  const std::vector<ScheduledChunk> b = h.scheduler.schedule(2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].entry->id + a[1].entry->id, 3u);  // oldest first: 1 and 2, then 3 and 4
  EXPECT_EQ(b[0].entry->id + b[1].entry->id, 7u);
  EXPECT_TRUE(h.scheduler.schedule(2).empty());  // everyone is in flight
  EXPECT_EQ(h.scheduler.schedulable_count(), 0u);
  for (const auto* plan : {&b, &a})  // completion in any order
    for (const ScheduledChunk& chunk : *plan) h.cache.set_length(chunk.entry->slot, chunk.first + chunk.n_tokens);
  h.scheduler.complete(b);
  EXPECT_EQ(h.scheduler.schedulable_count(), 2u);
  h.scheduler.complete(a);
  for (const auto& entry : h.entries) {
    EXPECT_FALSE(entry->in_flight);
    EXPECT_EQ(entry->computed, 5);
    entry->tokens.push_back(7);  // each prompt chunk sampled its first token
    --h.max_new[entry->id];
  }
  h.run_pipelined(2, 2);
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_EQ(h.finished.size(), 4u);
  for (const auto& entry : h.entries) EXPECT_EQ(entry->tokens.size(), 5u + 3u + entry->id);
  EXPECT_EQ(h.cache.pool().used_count(), 0);
}

// Tight memory under a pipeline: a reservation that would have to preempt a request in flight
// asks for a drain instead, nobody in flight is ever preempted, and everyone still finishes.
TEST(Scheduler, PipelinedNeverPreemptsAStepInFlightAndNobodyStarves) {
  Harness h(8, 6, 4);
  for (uint64_t id = 1; id <= 6; ++id) h.add(id, 5 + static_cast<int32_t>(id % 3), 12, static_cast<int32_t>(id * 100));
  const int drains = h.run_pipelined(2, 2);
  EXPECT_TRUE(h.scheduler.idle());
  EXPECT_EQ(h.finished.size(), 6u);
  EXPECT_GT(drains, 0);
  EXPECT_GT(h.scheduler.preemption_count(), 0u);
  for (const auto& entry : h.entries) EXPECT_EQ(entry->tokens.size(), 5u + entry->id % 3 + 12);
}

}  // namespace
}  // namespace jisu
