// Case-aware word patterns (Mistral Tekken, GPT-4o/o200k): a word is an optional lead, then
// upper-case-ish letters, then lower-case-ish letters, so "HelloWorld" splits as "Hello|World".
#include "tokenizer/pattern_classes.h"
#include "tokenizer/pattern_matchers.h"

namespace jisu::patterns {
namespace {

using unicode::Category;

// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
bool is_upper_class(uint32_t c) {
  const Category k = unicode::category(c);
  return k == Category::Lu || k == Category::Lt || k == Category::Lm || k == Category::Lo ||
         (k >= Category::Mn && k <= Category::Me);
}
// [\p{Ll}\p{Lm}\p{Lo}\p{M}]
bool is_lower_class(uint32_t c) {
  const Category k = unicode::category(c);
  return k == Category::Ll || k == Category::Lm || k == Category::Lo || (k >= Category::Mn && k <= Category::Me);
}

constexpr size_t kNoMatch = static_cast<size_t>(-1);

// `U*L+` from s (U, L the classes above, which overlap in Lm/Lo/M). Greedy U* first; when L+
// cannot follow, backtracking hands back U characters until one of them is also in L, and
// that single character is the L+ part. Returns the end index or kNoMatch.
size_t upper_star_lower_plus(const uint32_t* c, size_t s, size_t end) {
  const size_t u = run_end(c, s, end, is_upper_class);
  if (u < end && is_lower_class(c[u])) return run_end(c, u, end, is_lower_class);
  for (size_t k = u; k > s; --k)
    if (is_lower_class(c[k - 1])) return k;
  return kNoMatch;
}

// `U+L*` from s.
size_t upper_plus_lower_star(const uint32_t* c, size_t s, size_t end) {
  const size_t u = run_end(c, s, end, is_upper_class);
  if (u == s) return kNoMatch;
  return run_end(c, u, end, is_lower_class);
}

// `[^\r\n\p{L}\p{N}]?WORD`: the optional lead is tried first, then given up.
template <class Word>
size_t with_optional_lead(const uint32_t* c, size_t pos, size_t end, Word word) {
  if (is_not_newline_letter_number(c[pos]) && pos + 1 < end) {
    const size_t stop = word(c, pos + 1, end);
    if (stop != kNoMatch) return stop;
  }
  return word(c, pos, end);
}

bool is_plain_space(uint32_t c) { return c == ' '; }
bool is_newline_or_slash(uint32_t c) { return is_cr_or_lf(c) || c == '/'; }

//  ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t symbols_or_spaces(const uint32_t* c, size_t pos, size_t end) {
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_other_than_space_letter_number))
    return run_end(c, pos + n, end, is_newline_or_slash) - pos;
  if (size_t n = spaces_through_last_newline(c, pos, end)) return n;
  if (size_t n = spaces_not_before_word(c, pos, end)) return n;
  return spaces(c, pos, end);
}

size_t cased_words(const uint32_t* c, size_t pos, size_t end, bool contractions, size_t max_digits) {
  for (auto word : {upper_star_lower_plus, upper_plus_lower_star}) {
    const size_t stop = with_optional_lead(c, pos, end, word);
    if (stop != kNoMatch) return stop - pos + (contractions ? contraction(c, stop, end, /*ignore_case=*/true) : 0);
  }
  if (is_number(c[pos])) {
    size_t n = 1;
    while (n < max_digits && pos + n < end && is_number(c[pos + n])) ++n;
    return n;
  }
  return symbols_or_spaces(c, pos, end);
}

}  // namespace

size_t tekken(const uint32_t* c, size_t, size_t pos, size_t end) { return cased_words(c, pos, end, false, 1); }

size_t gpt4o(const uint32_t* c, size_t, size_t pos, size_t end) { return cased_words(c, pos, end, true, 3); }

}  // namespace jisu::patterns
