#include "runtime/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {

Scheduler::Scheduler(KvCache& cache, const SchedulerOptions& options) : cache_(cache), options_(options) {
  if (options.max_batch_tokens <= 0) throw Error("the scheduler's token budget must be positive");
  if (options.max_running <= 0 || options.max_running > cache.max_sequences())
    throw Error("the scheduler may run 1 to " + std::to_string(cache.max_sequences()) + " sequences, not " +
                std::to_string(options.max_running));
  running_.reserve(static_cast<size_t>(options.max_running));
  plan_.reserve(static_cast<size_t>(options.max_running));
  for (int32_t slot = options.max_running - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

void Scheduler::add(SequenceEntry* entry) {
  JISU_ASSERT(!entry->tokens.empty() && entry->slot < 0 && !entry->running);
  entry->computed = 0;
  waiting_.push_back(entry);
}

void Scheduler::remove(SequenceEntry* entry) {
  JISU_ASSERT(!entry->in_flight || std::any_of(plan_.begin(), plan_.end(), [&](const ScheduledChunk& c) {
    return c.entry == entry;
  }));  // a step in the forward still uses its blocks; only the last, unstarted plan may name it
  if (entry->in_flight) {
    entry->in_flight = false;
    --in_flight_;
  }
  if (entry->running) {
    running_.erase(std::find(running_.begin(), running_.end(), entry));
    cache_.release(entry->slot);
    free_slots_.push_back(entry->slot);
    entry->slot = -1;
    entry->running = false;
  } else if (const auto it = std::find(waiting_.begin(), waiting_.end(), entry); it != waiting_.end()) {
    waiting_.erase(it);
  }
  // A chunk of the current plan may name the entry: drop it so complete() never touches it.
  plan_.erase(std::remove_if(plan_.begin(), plan_.end(), [&](const ScheduledChunk& c) { return c.entry == entry; }),
              plan_.end());
}

void Scheduler::preempt(SequenceEntry* entry) {
  // Releasing returns published blocks to the prefix cache: the recompute is often cheap.
  cache_.release(entry->slot);
  free_slots_.push_back(entry->slot);
  entry->slot = -1;
  entry->running = false;
  entry->computed = 0;
  ++entry->preemptions;
  ++preemptions_;
  waiting_.push_front(entry);
}

// Reserves room for `entry`'s first n_positions, preempting the newest running requests while
// the pool is short. False when `entry` itself had to be preempted, or when the victim would be
// in flight (needs_drain_ then says so; nothing is preempted).
bool Scheduler::reserve_or_preempt(SequenceEntry* entry, int32_t n_positions) {
  while (!cache_.reserve(entry->slot, n_positions)) {
    SequenceEntry* victim = running_.back();
    if (in_flight_ > 0) {
      needs_drain_ = true;
      return false;
    }
    running_.pop_back();
    preempt(victim);
    if (victim == entry) return false;
  }
  return true;
}

namespace {
// Calls visit(index, hash) for each full block of `tokens` in [0, end_block), chaining the hashes.
template <class Visit>
void for_each_block_hash(std::span<const int32_t> tokens, int32_t block_size, int32_t end_block, Visit visit) {
  uint64_t hash = 0;
  for (int32_t block = 0; block < end_block; ++block) {
    hash = prefix_block_hash(hash, tokens.subspan(static_cast<size_t>(block) * block_size, block_size));
    visit(block, hash);
  }
}
}  // namespace

// Adds a chunk to the plan and records the hashes of the blocks it completes (drafts complete
// none: they are not published).
void Scheduler::plan_chunk(SequenceEntry* entry, int32_t first, int32_t n, int32_t n_draft) {
  const auto total = static_cast<int32_t>(entry->tokens.size());
  plan_.push_back({entry, first, n, first + n - n_draft == total, n_draft});
  const int32_t block_size = cache_.block_size();
  const int32_t first_block = first / block_size, end_block = (first + n - n_draft) / block_size;
  if (end_block <= first_block) return;
  for_each_block_hash(entry->tokens, block_size, end_block, [&](int32_t block, uint64_t hash) {
    if (block >= first_block) inflight_hashes_.push_back(hash);
  });
}

bool Scheduler::admit(SequenceEntry* entry, int32_t budget) {
  entry->slot = free_slots_.back();
  const int32_t reused = cache_.reuse_prefix(entry->slot, entry->tokens);
  const auto total = static_cast<int32_t>(entry->tokens.size());
  const int32_t block_size = cache_.block_size();
  const int32_t next_block = reused / block_size;
  bool wait_for_inflight = false;
  if (!inflight_hashes_.empty() && (next_block + 1) * block_size < total) {
    for_each_block_hash(entry->tokens, block_size, next_block + 1, [&](int32_t block, uint64_t hash) {
      if (block == next_block)
        wait_for_inflight =
            std::find(inflight_hashes_.begin(), inflight_hashes_.end(), hash) != inflight_hashes_.end();
    });
  }
  const int32_t n = std::min(total - reused, budget);
  if (wait_for_inflight || !cache_.reserve(entry->slot, reused + n)) {
    cache_.release(entry->slot);  // gives the reused blocks back to the cache
    entry->slot = -1;
    return false;
  }
  free_slots_.pop_back();
  entry->computed = reused;
  entry->prefix_hit_tokens += reused;
  entry->running = true;
  running_.push_back(entry);
  plan_chunk(entry, reused, n);
  return true;
}

size_t Scheduler::schedulable_count() const {
  return waiting_.size() + running_.size() - static_cast<size_t>(in_flight_);
}

const std::vector<ScheduledChunk>& Scheduler::schedule(int32_t max_sequences) {
  JISU_ASSERT(!needs_drain_ || in_flight_ == 0);
  needs_drain_ = false;
  plan_.clear();
  inflight_hashes_.clear();
  int32_t budget = options_.max_batch_tokens;
  bool preempted = false;
  const auto room = [&] { return plan_.size() < static_cast<size_t>(std::max(max_sequences, 1)); };
  for (size_t i = 0; i < running_.size() && budget > 0 && room(); ++i) {
    SequenceEntry* entry = running_[i];
    if (entry->in_flight) continue;
    const auto total = static_cast<int32_t>(entry->tokens.size());
    int32_t n = std::min(total - entry->computed, budget);
    if (n <= 0) continue;
    int32_t n_draft = 0;
    if (total - entry->computed == 1 && !entry->draft.empty())
      n_draft = std::max(0, std::min({static_cast<int32_t>(entry->draft.size()), budget - 1,
                                      cache_.context_length() - total}));
    n += n_draft;
    const size_t before = running_.size();
    const bool kept = reserve_or_preempt(entry, entry->computed + n);
    preempted = preempted || running_.size() != before || needs_drain_;
    if (!kept) break;  // entry was the newest (nothing after it runs), or a drain is needed
    plan_chunk(entry, entry->computed, n, n_draft);
    budget -= n;
  }
  while (!preempted && budget > 0 && room() && !waiting_.empty() && !free_slots_.empty()) {
    SequenceEntry* entry = waiting_.front();
    if (!admit(entry, budget)) break;
    waiting_.pop_front();
    budget -= plan_.back().n_tokens;
  }
  for (const ScheduledChunk& chunk : plan_) chunk.entry->in_flight = true;
  in_flight_ += static_cast<int32_t>(plan_.size());
  return plan_;
}

void Scheduler::complete() {
  complete(plan_);
  plan_.clear();
}

void Scheduler::complete(std::span<const ScheduledChunk> plan) {
  for (const ScheduledChunk& chunk : plan) {
    SequenceEntry* entry = chunk.entry;
    JISU_ASSERT(entry->in_flight);
    entry->in_flight = false;
    --in_flight_;
    entry->computed = chunk.first + chunk.n_tokens - chunk.n_draft;
    // The forward recorded the drafts' positions as valid; until accept_draft() they are not.
    if (chunk.n_draft > 0) cache_.set_length(entry->slot, entry->computed);
    cache_.publish_prefix(entry->slot, entry->tokens);
  }
}

void Scheduler::accept_draft(SequenceEntry* entry, int32_t n_accepted) {
  JISU_ASSERT(entry->running && n_accepted >= 0 &&
              entry->computed + n_accepted <= static_cast<int32_t>(entry->tokens.size()));
  entry->computed += n_accepted;
  cache_.set_length(entry->slot, entry->computed);
  cache_.truncate(entry->slot, entry->computed);  // frees the blocks only rejected drafts used
  cache_.publish_prefix(entry->slot, entry->tokens);
}

}  // namespace jisu
