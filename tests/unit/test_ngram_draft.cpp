// N-gram drafting: the lookup finds the most recent earlier occurrence of the sequence's last
// tokens (longest suffix first) and proposes what followed; the length adapts to acceptance.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/ngram_draft.h"

namespace jisu {
namespace {

TEST(NgramDraft, FindsTheMostRecentEarlierOccurrence) {
  const std::vector<int32_t> tokens = {5, 1, 2, 9, 1, 2, 7, 1, 2};
  EXPECT_EQ(find_earlier_ngram(tokens, 2, 4096), 4);   // {1, 2} at 4 (not the suffix at 7)
  EXPECT_EQ(find_earlier_ngram(tokens, 3, 4096), -1);  // {7, 1, 2} occurs only as the suffix
  EXPECT_EQ(find_earlier_ngram(tokens, 2, 3), 4);
  EXPECT_EQ(find_earlier_ngram(tokens, 2, 2), -1);     // the window ends before position 4
  EXPECT_EQ(find_earlier_ngram(std::vector<int32_t>{1, 2}, 2, 4096), -1);
}

TEST(NgramDraft, ProposesTheContinuationOfTheLongestMatchingSuffix) {
  NgramDrafter drafter(4);
  std::vector<int32_t> draft;
  // {3, 4, 5} at 2 beats the more recent {4, 5} at 8 because longer suffixes are tried first.
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8, 4, 5, 9, 3, 4, 5};
  drafter.propose(tokens, 100, draft);
  EXPECT_EQ(draft, (std::vector<int32_t>{6, 7, 8, 4}));
  drafter.propose(tokens, 2, draft);  // the caller's limit
  EXPECT_EQ(draft, (std::vector<int32_t>{6, 7}));
  drafter.propose(std::vector<int32_t>{1, 2, 3}, 100, draft);  // nothing repeats
  EXPECT_TRUE(draft.empty());
  // A cycle continues through the suffix itself.
  drafter.propose(std::vector<int32_t>{8, 8, 8}, 100, draft);
  EXPECT_EQ(draft, (std::vector<int32_t>{8}));
}

TEST(NgramDraft, LengthFollowsAcceptanceAndPausesAfterCollapse) {
  NgramDrafter drafter(8);
  EXPECT_EQ(drafter.current_length(), 8);
  drafter.record(8, 3);
  EXPECT_EQ(drafter.current_length(), 4);  // accepted + 1
  drafter.record(4, 4);
  EXPECT_EQ(drafter.current_length(), 5);
  drafter.record(5, 0);
  EXPECT_EQ(drafter.current_length(), 2);
  drafter.record(2, 0);
  drafter.record(1, 0);
  EXPECT_EQ(drafter.current_length(), 0);
  const std::vector<int32_t> tokens = {1, 2, 3, 1, 2};
  std::vector<int32_t> draft;
  for (int32_t step = 0; step < NgramDrafter::kPauseSteps; ++step) {
    drafter.propose(tokens, 100, draft);
    EXPECT_TRUE(draft.empty()) << "step " << step;
  }
  drafter.propose(tokens, 100, draft);
  EXPECT_EQ(draft, (std::vector<int32_t>{3}));  // tries one token again
}

}  // namespace
}  // namespace jisu
