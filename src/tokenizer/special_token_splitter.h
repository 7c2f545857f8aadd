#pragma once
// Splits input text around occurrences of added tokens (control, unknown and user-defined
// tokens) before the model sees it. Matching is leftmost-longest, as Hugging Face tokenizers'
// AddedVocabulary does: scanning left to right, at each position the longest token text that
// starts there wins. Control/unknown tokens take part only when parse_special is set;
// user-defined tokens always do (they are ordinary text that must stay whole).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/text_range.h"
#include "tokenizer/vocabulary.h"

namespace jisu {

struct TextFragment {
  int32_t token = -1;     // >= 0: this fragment is exactly that token
  std::string_view text;  // token < 0: plain text for the model (never empty)
};

class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocabulary& vocabulary);
  // `plain`: sorted, disjoint ranges of `text` that no control token may overlap (a chat
  // message's own text inside a rendered template).
  std::vector<TextFragment> split(std::string_view text, bool parse_special,
                                  std::span<const TextRange> plain = {}) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;
  };
  int32_t child(int32_t node, uint8_t byte) const;
  // Longest allowed token starting at text[pos]: {token, length}, or {-1, 0}.
  std::pair<int32_t, size_t> longest_match(std::string_view text, size_t pos, bool parse_special,
                                           std::span<const TextRange> plain) const;

  const Vocabulary& vocabulary_;
  std::vector<Node> nodes_;
};

}  // namespace jisu
