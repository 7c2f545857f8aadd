#pragma once
// Building blocks for the hand-written pre-tokenizer matchers (pattern_matchers_*.cpp): the
// character classes the regexes use and the few sub-patterns they share. Every matcher works
// on code points [begin, end) of one segment; position `end` is the segment's end, which a
// lookahead such as (?!\S) sees as "end of input", as regex engines do on a substring.
#include <cstddef>
#include <cstdint>

#include "tokenizer/unicode_properties.h"

namespace jisu::patterns {

inline bool is_cr_or_lf(uint32_t c) { return c == '\r' || c == '\n'; }
inline bool is_space(uint32_t c) { return unicode::is_whitespace(c); }  // \s
inline bool is_letter(uint32_t c) { return unicode::is_letter(c); }      // \p{L}
inline bool is_number(uint32_t c) { return unicode::is_number(c); }      // \p{N}
inline bool is_punctuation(uint32_t c) { return unicode::is_punctuation(c); }
inline bool is_symbol(uint32_t c) { return unicode::is_symbol(c); }
inline bool is_mark(uint32_t c) { return unicode::is_mark(c); }
// [^\s\p{L}\p{N}]
inline bool is_other_than_space_letter_number(uint32_t c) {
  return !is_space(c) && !is_letter(c) && !is_number(c);
}
// [^\r\n\p{L}\p{N}]
inline bool is_not_newline_letter_number(uint32_t c) { return !is_cr_or_lf(c) && !is_letter(c) && !is_number(c); }

// End of the run of code points satisfying `pred` that starts at pos.
template <class Pred>
size_t run_end(const uint32_t* c, size_t pos, size_t end, Pred pred) {
  while (pos < end && pred(c[pos])) ++pos;
  return pos;
}

// `lead? body+`: an optional single code point of class `lead`, then a non-empty run of `body`.
// Regex semantics: the optional part is tried first and given up if the rest then fails.
// Returns the match length, 0 for no match.
template <class Lead, class Body>
size_t optional_then_run(const uint32_t* c, size_t pos, size_t end, Lead lead, Body body) {
  if (pos < end && lead(c[pos])) {
    const size_t stop = run_end(c, pos + 1, end, body);
    if (stop > pos + 1) return stop - pos;
  }
  const size_t stop = run_end(c, pos, end, body);
  return stop - pos;
}

// `\s+(?!\S)`: whitespace not followed by a non-space; inside a longer run this leaves the
// last whitespace character for the next word (" world" keeps its space).
inline size_t spaces_not_before_word(const uint32_t* c, size_t pos, size_t end) {
  const size_t stop = run_end(c, pos, end, is_space);
  if (stop == pos) return 0;
  if (stop == end) return stop - pos;
  return stop - 1 > pos ? stop - 1 - pos : 0;
}

// `\s*[\r\n]+`: backtracking makes this end right after the last CR/LF of the whitespace run.
inline size_t spaces_through_last_newline(const uint32_t* c, size_t pos, size_t end) {
  const size_t stop = run_end(c, pos, end, is_space);
  for (size_t k = stop; k > pos; --k)
    if (is_cr_or_lf(c[k - 1])) return k - pos;
  return 0;
}

// `\s+`
inline size_t spaces(const uint32_t* c, size_t pos, size_t end) { return run_end(c, pos, end, is_space) - pos; }

inline bool ascii_equal_ignoring_case(uint32_t c, char lower) {
  return c == static_cast<uint32_t>(lower) || c == static_cast<uint32_t>(lower - 'a' + 'A');
}

// English contractions `'s|'t|'re|'ve|'m|'ll|'d`, case-sensitive (GPT-2) or ASCII
// case-insensitive (the `(?i:...)` of Llama 3 and later patterns).
inline size_t contraction(const uint32_t* c, size_t pos, size_t end, bool ignore_case) {
  if (pos + 1 >= end || c[pos] != '\'') return 0;
  auto is = [&](size_t i, char lower) {
    return i < end && (ignore_case ? ascii_equal_ignoring_case(c[i], lower) : c[i] == static_cast<uint32_t>(lower));
  };
  if (is(pos + 1, 's') || is(pos + 1, 't') || is(pos + 1, 'm') || is(pos + 1, 'd')) return 2;
  if ((is(pos + 1, 'r') && is(pos + 2, 'e')) || (is(pos + 1, 'v') && is(pos + 2, 'e')) ||
      (is(pos + 1, 'l') && is(pos + 2, 'l')))
    return 3;
  return 0;
}

}  // namespace jisu::patterns
