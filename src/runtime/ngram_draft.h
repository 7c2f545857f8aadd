#pragma once
// Draft-free speculative decoding: proposes the continuation of the sequence's last few tokens
// from their most recent earlier occurrence in the sequence itself (prompt and output). Text
// that repeats or edits given text, code or data makes long runs of such matches; verifying k
// proposed tokens costs one batched forward, which on a bandwidth-bound decode is little more
// than one token.
//
// Its length follows acceptance (runtime/draft_length.h), so a request that does not repeat
// itself soon costs (almost) nothing.
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/draft_length.h"

namespace jisu {

class NgramDrafter {
 public:
  static constexpr int32_t kMaxNgram = 3;       // longest suffix looked up (then shorter ones)
  static constexpr int32_t kPauseSteps = AdaptiveDraftLength::kPauseSteps;
  static constexpr int32_t kSearchWindow = 4096;  // tokens searched back, to bound the cost

  // max_draft > 0. propose() does not allocate when `draft` has capacity for max_draft tokens.
  explicit NgramDrafter(int32_t max_draft);

  // Writes at most min(current length, limit) proposed tokens after `tokens` into `draft`
  // (cleared first; empty when no earlier occurrence exists or drafting is paused).
  void propose(std::span<const int32_t> tokens, int32_t limit, std::vector<int32_t>& draft);
  // How many of the last proposal's tokens were accepted (call once per verified proposal).
  void record(int32_t proposed, int32_t accepted);

  int32_t current_length() const { return length_.current(); }

 private:
  AdaptiveDraftLength length_;
};

// The start of the most recent earlier occurrence of the last n tokens, searching no further
// back than `window` tokens; -1 when none. Exposed for tests.
int64_t find_earlier_ngram(std::span<const int32_t> tokens, int32_t n, int32_t window);

}  // namespace jisu
