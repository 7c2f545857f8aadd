#pragma once
// Splits text into words before BPE, by a sequence of rules. Each rule is a regex (see
// pattern_matchers.h) applied to every segment the previous rules produced, keeping both the
// matches and the text between them as separate segments: Hugging Face's Split pre-tokenizer
// with behavior "Isolated", and llama.cpp's unicode_regex_split over a list of patterns.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pattern_matchers.h"

namespace jisu {

class PreTokenizer {
 public:
  PreTokenizer() = default;  // no rules: the whole text is one word
  explicit PreTokenizer(std::vector<patterns::MatchFunction> rules) : rules_(std::move(rules)) {}

  void add_rule(patterns::MatchFunction rule) { rules_.push_back(rule); }
  bool empty() const { return rules_.empty(); }

  // Words of `text` in order; they tile the text exactly. Bytes that are not valid UTF-8 are
  // units of their own (matched as U+FFFD), so no input byte is ever lost.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  std::vector<patterns::MatchFunction> rules_;
};

// The rules llama.cpp uses for a GGUF `tokenizer.ggml.pre` value; nullopt if unknown.
struct GgufPreTokenizerInfo {
  std::vector<patterns::MatchFunction> rules;
  bool ignore_merges = false;  // a word that is itself a token is not split by merges
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
};
std::optional<GgufPreTokenizerInfo> gguf_pre_tokenizer(std::string_view pre);

// The hand-written rule for a Hugging Face Split regex, by its exact pattern text.
std::optional<patterns::MatchFunction> rule_for_regex(std::string_view pattern);

}  // namespace jisu
