#include "runtime/ngram_draft.h"

#include <algorithm>


namespace jisu {

int64_t find_earlier_ngram(std::span<const int32_t> tokens, int32_t n, int32_t window) {
  const auto size = static_cast<int64_t>(tokens.size());
  if (n <= 0 || size <= n) return -1;
  const std::span<const int32_t> suffix = tokens.subspan(static_cast<size_t>(size - n));
  const int64_t lowest = std::max<int64_t>(0, size - n - window);
  for (int64_t start = size - n - 1; start >= lowest; --start)
    if (std::equal(suffix.begin(), suffix.end(), tokens.begin() + start)) return start;
  return -1;
}

NgramDrafter::NgramDrafter(int32_t max_draft) : length_(max_draft) {}

void NgramDrafter::propose(std::span<const int32_t> tokens, int32_t limit, std::vector<int32_t>& draft) {
  draft.clear();
  const int32_t wanted = length_.next(limit);
  if (wanted <= 0) return;
  for (int32_t n = kMaxNgram; n >= 1; --n) {
    const int64_t start = find_earlier_ngram(tokens, n, kSearchWindow);
    if (start < 0) continue;
    // The occurrence's continuation; it may run into the suffix itself (a repeating cycle),
    // which is what a loop continues with.
    const auto from = static_cast<size_t>(start + n);
    const size_t count = std::min(tokens.size() - from, static_cast<size_t>(wanted));
    draft.assign(tokens.begin() + static_cast<std::ptrdiff_t>(from),
                 tokens.begin() + static_cast<std::ptrdiff_t>(from + count));
    return;
  }
}

void NgramDrafter::record(int32_t proposed, int32_t accepted) { length_.record(proposed, accepted); }

}  // namespace jisu
