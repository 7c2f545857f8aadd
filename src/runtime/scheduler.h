#pragma once
// The continuous-batching scheduler (vLLM v1 style). There is no prefill or decode phase: each
// request has tokens (prompt, then generated) and a count of tokens whose K/V is computed, and
// every step hands each request a number of tokens to compute so that the sum stays within a
// token budget. Decodes (1 token) and prompt chunks share one batch.
//
// Policy, and why it cannot starve anyone:
//  - Running requests are served first, oldest first; each gets min(uncomputed, budget left).
//    A request's prompt is thus chunked across steps when the budget is short.
//  - When the KV cache cannot hold a running request's next tokens, the newest running request
//    is preempted: its blocks are released (they stay in the prefix cache) and it goes back to
//    the front of the waiting queue with nothing computed, to be recomputed later. The oldest
//    running request is never preempted for a newer one, so it always progresses and finishes.
//  - Waiting requests are admitted in FIFO order (preempted ones first) while there is budget,
//    a free sequence slot, and blocks for their first chunk; admission stops at the first one
//    that does not fit (no overtaking), and no admission happens in a step that preempted.
//  - Speculative decoding: a running request whose only uncomputed token is its last may carry
//    draft tokens (proposed continuations). Its chunk then also computes the drafts, each with
//    logits, so one forward verifies them all; complete() counts only the last real token as
//    computed, and accept_draft() then adds the drafts the owner accepted (appended to tokens)
//    and gives back the blocks of the rejected ones. Drafts are never published as prefixes.
//  - Pipelined steps: a pipeline-parallel forward works on several steps at once, each of its
//    own sequences. schedule(max_sequences) then plans a group of at most that many requests
//    from those not in flight (admissions included) and marks them in flight until
//    complete(plan); the caller completes each group's plan after its forward. A request in
//    flight is never preempted (its step is using its blocks): when a reservation would need
//    that, planning stops and needs_drain() tells the caller to complete every step in flight
//    first; the next schedule() then has everyone to choose from, so the policy above holds.
//  - Admission first reuses cached prefix blocks (KvCache::reuse_prefix), so shared prefixes
//    are computed once. A request whose next block is being computed in this very step by
//    another request (same prefix, arrived together) waits one step for it instead of
//    computing it a second time; admission stops there, keeping FIFO order.
//
// The scheduler allocates only when requests are added (queue growth); schedule() and
// complete() reuse their buffers.
#include <cstdint>
#include <climits>
#include <span>
#include <deque>
#include <vector>

#include "kv/kv_cache.h"

namespace jisu {

// What the scheduler knows of one request. Owned by the caller, which appends sampled tokens
// to `tokens`; the scheduler owns `computed`, `slot` and the statistics.
struct SequenceEntry {
  uint64_t id = 0;
  std::vector<int32_t> tokens;  // prompt then generated
  int32_t computed = 0;         // leading tokens whose K/V is in the cache
  int32_t slot = -1;            // KV cache sequence slot while running
  int32_t prefix_hit_tokens = 0;  // positions reused from the prefix cache, over all admissions
  int32_t preemptions = 0;
  bool running = false;
  bool in_flight = false;  // in a planned step not yet completed
  // Proposed continuation to verify after the last token, set by the owner before schedule()
  // (capacity reserved by the owner: no allocation per step). Used only when the request is
  // running with just its last token uncomputed, and cut to the budget and the context.
  std::vector<int32_t> draft;
};

struct ScheduledChunk {
  SequenceEntry* entry = nullptr;
  int32_t first = 0;     // first token index to compute (== entry->computed at schedule time)
  int32_t n_tokens = 0;
  bool samples = false;  // the chunk ends at the last token: its logits give the next token
  int32_t n_draft = 0;   // of n_tokens, draft tokens after the last token (each with logits)
};

struct SchedulerOptions {
  int32_t max_batch_tokens = 256;  // token budget per step
  int32_t max_running = 8;         // running requests at most (<= KV cache sequence slots)
};

class Scheduler {
 public:
  Scheduler(KvCache& cache, const SchedulerOptions& options);

  // Queues a request (entry->tokens non-empty and shorter than the context); stays valid until
  // remove().
  void add(SequenceEntry* entry);
  // Drops a request wherever it is (finished or cancelled), releasing its blocks and slot.
  void remove(SequenceEntry* entry);

  // Plans one step of at most `max_sequences` requests not in flight, and marks them in flight;
  // empty when nothing can run. The chunks are in batch order.
  const std::vector<ScheduledChunk>& schedule(int32_t max_sequences = INT32_MAX);
  // After the forward of a plan (a copy of what schedule() returned; several may be in flight
  // and complete in any order): marks the chunks computed and no longer in flight, and
  // publishes their full blocks to the prefix cache.
  void complete(std::span<const ScheduledChunk> plan);
  // complete() of the last schedule()'s plan.
  void complete();
  // True after a schedule() stopped short because only a request in flight could have been
  // preempted: complete every plan in flight before the next schedule().
  bool needs_drain() const { return needs_drain_; }
  // Requests that can be scheduled: waiting, or running and not in flight.
  size_t schedulable_count() const;
  // After complete(), for a chunk with drafts: the owner appended the first `n_accepted` drafts
  // to entry->tokens (their K/V is already in the cache); they become computed, the rejected
  // drafts' positions and blocks are released.
  void accept_draft(SequenceEntry* entry, int32_t n_accepted);

  size_t waiting_count() const { return waiting_.size(); }
  size_t running_count() const { return running_.size(); }
  bool idle() const { return waiting_.empty() && running_.empty(); }
  uint64_t preemption_count() const { return preemptions_; }

 private:
  bool reserve_or_preempt(SequenceEntry* entry, int32_t n_positions);
  void preempt(SequenceEntry* entry);
  bool admit(SequenceEntry* entry, int32_t budget);
  void plan_chunk(SequenceEntry* entry, int32_t first, int32_t n, int32_t n_draft = 0);

  KvCache& cache_;
  SchedulerOptions options_;
  std::deque<SequenceEntry*> waiting_;
  std::vector<SequenceEntry*> running_;  // admission order: oldest first
  std::vector<int32_t> free_slots_;
  std::vector<ScheduledChunk> plan_;
  std::vector<uint64_t> inflight_hashes_;  // prefix hashes of the blocks the plan completes
  uint64_t preemptions_ = 0;
  int32_t in_flight_ = 0;  // running requests in a plan not yet completed
  bool needs_drain_ = false;
};

}  // namespace jisu
