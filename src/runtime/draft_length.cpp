#include "runtime/draft_length.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {

AdaptiveDraftLength::AdaptiveDraftLength(int32_t max_draft) : max_draft_(max_draft), length_(max_draft) {
  if (max_draft <= 0) throw Error("the draft length must be positive");
}

int32_t AdaptiveDraftLength::next(int32_t limit) {
  if (pause_ > 0) {
    if (--pause_ == 0) length_ = 1;
    return 0;
  }
  return std::max(0, std::min(length_, limit));
}

void AdaptiveDraftLength::record(int32_t proposed, int32_t accepted) {
  if (proposed <= 0) return;
  if (accepted == proposed) {
    length_ = std::min(max_draft_, std::max(length_, proposed + 1));
  } else if (accepted > 0) {
    length_ = std::min(max_draft_, accepted + 1);
  } else {
    length_ /= 2;
    if (length_ == 0) pause_ = kPauseSteps;
  }
}

}  // namespace jisu
