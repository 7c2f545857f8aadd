#pragma once
// Speculative decoding with a draft model: a smaller model of the same vocabulary proposes the
// next tokens greedily, and the target verifies them all in its next batched forward.
//
// The draft keeps its own paged KV cache with one slot per target sequence slot. A slot remembers
// which request it follows and the tokens it has computed; each proposal first brings the slot up
// to the request's tokens (after verification they share a prefix: rejected drafts are cut off,
// the newly sampled token is fed), then decodes `length` tokens greedily. All requests advance in
// the same forwards (one batch per draft position), so drafting costs `length` small forwards
// per step, not per request. A greedy proposal is one token with probability 1, which the
// target's rejection sampling (Sampler::sample_verifying) turns into exactly the target's
// distribution.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kv/batch.h"
#include "kv/kv_cache.h"
#include "models/forward_factory.h"
#include "models/forward_pass.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace jisu {

struct DraftRequest {
  uint64_t owner = 0;                 // the request's id: a slot that changes owner starts afresh
  int32_t slot = 0;                   // the target's sequence slot, < max_sequences
  std::span<const int32_t> tokens;    // prompt and generated tokens (non-empty)
  int32_t length = 0;                 // tokens wanted (<= max_draft)
  std::vector<int32_t>* draft = nullptr;  // out: cleared, then the proposal (capacity max_draft)
};

class DraftModel {
 public:
  // Loads the draft and checks that its vocabulary is the target's token for token (throws
  // jisu::Error naming the first difference). context_length: the target's; sequences longer
  // than the draft's own context get no drafts.
  DraftModel(const std::string& path, const Tokenizer& target_tokenizer, ThreadPool& pool, const DeviceOptions& device,
             int32_t max_sequences, int32_t context_length, int32_t max_draft);

  // Proposes for every request (each slot at most once per call). Allocates nothing once each
  // slot has seen a full context.
  void propose(std::span<DraftRequest> requests);

  int32_t context_length() const { return context_length_; }

 private:
  struct SlotState {
    uint64_t owner = 0;
    std::vector<int32_t> computed;  // tokens whose K/V the draft cache holds, from position 0
  };
  std::unique_ptr<Model> model_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardPass> forward_;
  int32_t n_vocab_ = 0;
  int32_t context_length_ = 0;
  int32_t max_batch_tokens_ = 0;
  int32_t max_draft_ = 0;
  std::vector<SlotState> slots_;
  Batch batch_;
  std::vector<float> logits_;         // one row per request
  std::vector<int32_t> logits_row_;   // per request of the call: its row in logits_ (-1: none)
  std::vector<int32_t> pending_from_; // per request: first token index still to feed (-1: no draft)
};

}  // namespace jisu
