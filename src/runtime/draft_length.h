#pragma once
// How many tokens a request's drafter proposes next, whatever proposes them (n-gram lookup or a
// draft model). Speculation must never make decoding slower, so the length follows acceptance:
// a request starts at the configured maximum; a fully accepted draft keeps it, a partly accepted
// one shrinks it to what was accepted plus one, a fully rejected one halves it, and at zero
// drafting pauses for a few steps before trying one token again. A request whose drafts keep
// failing thus costs (almost) nothing.
#include <cstdint>

namespace jisu {

class AdaptiveDraftLength {
 public:
  static constexpr int32_t kPauseSteps = 8;  // steps without drafting after a collapse

  explicit AdaptiveDraftLength(int32_t max_draft);  // max_draft > 0

  // Tokens to propose this step, at most `limit` (0: none, e.g. while paused; a paused step
  // counts the pause down).
  int32_t next(int32_t limit);
  // How many of the last proposal's tokens were accepted (call once per verified proposal).
  void record(int32_t proposed, int32_t accepted);

  int32_t current() const { return length_; }
  int32_t maximum() const { return max_draft_; }

 private:
  int32_t max_draft_;
  int32_t length_;
  int32_t pause_ = 0;
};

}  // namespace jisu
