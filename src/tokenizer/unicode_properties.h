#pragma once
// Unicode character properties the tokenizers need, backed by the generated tables
// (unicode_tables.cpp). Lookups are O(1) for the BMP and O(log n) above it.
#include <cstdint>
#include <vector>

#include "tokenizer/unicode_tables.h"

namespace jisu::unicode {

Category category(uint32_t code_point);

// Major classes, as regex \p{L}, \p{N}, \p{P}, \p{S}, \p{M}, \p{Z}, \p{C}.
bool is_letter(uint32_t code_point);
bool is_number(uint32_t code_point);
bool is_punctuation(uint32_t code_point);
bool is_symbol(uint32_t code_point);
bool is_mark(uint32_t code_point);
bool is_separator(uint32_t code_point);
bool is_other(uint32_t code_point);  // C*: control, format, surrogate, private use, unassigned

// Unicode White_Space: what \s means in Oniguruma, Rust's regex and ECMAScript on real text.
// (Python's str.isspace() additionally accepts U+001C..U+001F; regex engines do not.)
bool is_whitespace(uint32_t code_point);

// Simple (one code point) lowercase mapping; the code point itself when it has none.
uint32_t to_lower(uint32_t code_point);

uint8_t combining_class(uint32_t code_point);

// Canonical decomposition (NFD) and composition (NFC) of a code point sequence.
std::vector<uint32_t> nfd(const std::vector<uint32_t>& code_points);
std::vector<uint32_t> nfc(const std::vector<uint32_t>& code_points);

}  // namespace jisu::unicode
