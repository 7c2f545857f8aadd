// The GPT-2 pattern and its descendants (Llama 3, Qwen2), which differ in contraction case,
// the optional lead before a letter run, and how many digits group together.
#include "tokenizer/pattern_classes.h"
#include "tokenizer/pattern_matchers.h"

namespace jisu::patterns {
namespace {

bool is_plain_space(uint32_t c) { return c == ' '; }

// Shared tail of the Llama 3 family: ` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
size_t symbols_or_spaces(const uint32_t* c, size_t pos, size_t end) {
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_other_than_space_letter_number))
    return run_end(c, pos + n, end, is_cr_or_lf) - pos;
  if (size_t n = spaces_through_last_newline(c, pos, end)) return n;
  if (size_t n = spaces_not_before_word(c, pos, end)) return n;
  return spaces(c, pos, end);
}

size_t llama3_like(const uint32_t* c, size_t pos, size_t end, size_t max_digits) {
  if (size_t n = contraction(c, pos, end, /*ignore_case=*/true)) return n;
  if (size_t n = optional_then_run(c, pos, end, is_not_newline_letter_number, is_letter)) return n;
  if (is_number(c[pos])) {
    size_t n = 1;
    while (n < max_digits && pos + n < end && is_number(c[pos + n])) ++n;
    return n;
  }
  return symbols_or_spaces(c, pos, end);
}

}  // namespace

size_t gpt2(const uint32_t* c, size_t, size_t pos, size_t end) {
  if (size_t n = contraction(c, pos, end, /*ignore_case=*/false)) return n;
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_letter)) return n;
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_number)) return n;
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_other_than_space_letter_number)) return n;
  return spaces_not_before_word(c, pos, end);
}

size_t llama3(const uint32_t* c, size_t, size_t pos, size_t end) { return llama3_like(c, pos, end, 3); }

size_t qwen2(const uint32_t* c, size_t, size_t pos, size_t end) { return llama3_like(c, pos, end, 1); }

}  // namespace jisu::patterns
