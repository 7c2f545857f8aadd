// Single-class pre-tokenizer rules: digits, punctuation runs, newlines, trailing whitespace and
// BLOOM's "everything but separators" words.
#include "tokenizer/pattern_classes.h"
#include "tokenizer/pattern_matchers.h"

namespace jisu::patterns {
namespace {

bool is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

// [\p{P}\$\+<=>\^~\|]: punctuation plus the ASCII symbols GPT-style tokenizers group with it.
bool is_punctuation_or_ascii_operator(uint32_t c) {
  switch (c) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|':
      return true;
    default:
      return is_punctuation(c);
  }
}

// BLOOM's class [^(\s|.,!?…。，、।۔،)] (the parentheses and bar are literal members).
bool is_bloom_word_char(uint32_t c) {
  switch (c) {
    case '(': case ')': case '|': case '.': case ',': case '!': case '?':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
      return false;
    default:
      return !is_space(c);
  }
}

bool is_plain_space(uint32_t c) { return c == ' '; }

}  // namespace

size_t one_number(const uint32_t* c, size_t, size_t pos, size_t) { return is_number(c[pos]) ? 1 : 0; }

size_t numbers(const uint32_t* c, size_t, size_t pos, size_t end) { return run_end(c, pos, end, is_number) - pos; }

size_t up_to_three_numbers(const uint32_t* c, size_t, size_t pos, size_t end) {
  size_t n = 0;
  while (n < 3 && pos + n < end && is_number(c[pos + n])) ++n;
  return n;
}

size_t three_ascii_digits(const uint32_t* c, size_t, size_t pos, size_t end) {
  return (pos + 3 <= end && is_ascii_digit(c[pos]) && is_ascii_digit(c[pos + 1]) && is_ascii_digit(c[pos + 2])) ? 3
                                                                                                            : 0;
}

// Hugging Face's Punctuation pre-tokenizer: Rust's is_ascii_punctuation or Unicode P*.
size_t one_punctuation(const uint32_t* c, size_t, size_t pos, size_t) {
  const uint32_t x = c[pos];
  const bool ascii = x < 0x80 && (is_punctuation(x) || is_symbol(x));
  return (ascii || is_punctuation(x)) ? 1 : 0;
}

size_t punctuation_run(const uint32_t* c, size_t, size_t pos, size_t end) {
  return run_end(c, pos, end, is_punctuation_or_ascii_operator) - pos;
}

size_t punctuation_run_with_backtick(const uint32_t* c, size_t, size_t pos, size_t end) {
  return run_end(c, pos, end, [](uint32_t x) { return x == '`' || is_punctuation_or_ascii_operator(x); }) - pos;
}

size_t one_newline(const uint32_t* c, size_t, size_t pos, size_t) { return is_cr_or_lf(c[pos]) ? 1 : 0; }

size_t trailing_spaces(const uint32_t* c, size_t begin, size_t pos, size_t end) {
  // If the previous position is whitespace of the same run, it already failed (or its match
  // would have consumed this position): skipping keeps long whitespace runs linear.
  if (pos > begin && is_space(c[pos - 1])) return 0;
  const size_t stop = run_end(c, pos, end, is_space);
  return stop == end ? stop - pos : 0;
}

size_t bloom(const uint32_t* c, size_t, size_t pos, size_t end) {
  return optional_then_run(c, pos, end, is_plain_space, is_bloom_word_char);
}

}  // namespace jisu::patterns
