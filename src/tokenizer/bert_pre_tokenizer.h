#pragma once
// BERT's "basic tokenization" (Hugging Face BertNormalizer + BertPreTokenizer): drop control
// characters, optionally strip accents (NFD, then remove nonspacing marks) and lowercase, then
// split on whitespace and isolate every punctuation character and CJK ideograph.
#include <string>
#include <string_view>
#include <vector>

namespace jisu {

struct BertNormalization {
  bool lowercase = true;
  bool strip_accents = true;
};

// Words as UTF-8 strings, in order; never empty strings.
std::vector<std::string> bert_basic_tokenize(std::string_view text, const BertNormalization& options);

}  // namespace jisu
