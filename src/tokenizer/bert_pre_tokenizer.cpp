#include "tokenizer/bert_pre_tokenizer.h"

#include "tokenizer/unicode_properties.h"
#include "tokenizer/utf8.h"

namespace jisu {
namespace {

// The CJK Unified Ideograph blocks BERT isolates (as in the reference implementations, the
// Extension E/F block starts at U+2B920).
bool is_cjk_ideograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Unicode punctuation, plus every ASCII non-alphanumeric printable ($, +, <, ...).
bool is_bert_punctuation(uint32_t cp) {
  if (cp >= 0x21 && cp <= 0x7E) return !((cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'));
  return unicode::is_punctuation(cp);
}

}  // namespace

std::vector<std::string> bert_basic_tokenize(std::string_view text, const BertNormalization& options) {
  std::vector<uint32_t> code_points;
  code_points.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::DecodedChar c = utf8::decode(text, pos);
    code_points.push_back(c.code_point);  // invalid bytes become U+FFFD, which is dropped below
    pos += c.length;
  }
  if (options.strip_accents) code_points = unicode::nfd(code_points);

  std::vector<std::string> words;
  std::string current;
  auto finish_word = [&] {
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
  };
  for (uint32_t cp : code_points) {
    if (unicode::is_whitespace(cp)) {
      finish_word();
      continue;
    }
    if (cp == 0 || cp == utf8::kReplacementCharacter || unicode::is_other(cp)) continue;
    if (options.strip_accents && unicode::category(cp) == unicode::Category::Mn) continue;
    const uint32_t normalized = options.lowercase ? unicode::to_lower(cp) : cp;
    if (is_bert_punctuation(cp) || is_cjk_ideograph(cp)) {
      finish_word();
      utf8::append(current, normalized);
      finish_word();
    } else {
      utf8::append(current, normalized);
    }
  }
  finish_word();
  return words;
}

}  // namespace jisu
