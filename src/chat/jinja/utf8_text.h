#pragma once
// Python `str` semantics over UTF-8 `std::string`s. Jinja templates are Python code, and Python
// strings are sequences of code points: len(), indexing, slicing, strip(), split(), upper() etc.
// all count and classify code points, never bytes. Everything here works on code points.
//
// Invariant: strings handled by the interpreter are valid UTF-8 (template sources are validated
// before lexing, JSON input is validated by nlohmann). Decoding is still total: a stray byte
// decodes to itself as one code point, so bad input can never read out of bounds.
#include <string>
#include <string_view>
#include <vector>

namespace jisu::jinja::utf8 {

// Decodes the code point at `pos` and advances `pos` past it. Requires pos < text.size().
char32_t decode(std::string_view text, size_t& pos);
void append(std::string& out, char32_t code_point);
std::u32string to_u32(std::string_view text);
std::string from_u32(std::u32string_view text);
// Whether every byte sequence is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool is_valid(std::string_view text);
size_t length(std::string_view text);  // in code points
bool is_ascii(std::string_view text);

// Python's str.isspace() for one code point (also what `\s` matches in Python's `re`).
bool is_space(char32_t c);
// Python's str.splitlines() boundaries (\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029).
bool is_line_break(char32_t c);
// Letters, digits and '_' -- what Python's `\w` matches (approximated outside ASCII: any code
// point that is not whitespace or punctuation/symbol in the common blocks counts as a letter).
bool is_word(char32_t c);
// Has an upper/lower case distinction (Python: "cased" characters).
bool is_cased(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);

// Case mapping covering ASCII, Latin-1, Latin Extended-A, Latin Extended Additional
// (Vietnamese), Greek, Cyrillic, Armenian and fullwidth Latin; other code points map to
// themselves. Multi-character results (German sharp s -> "SS") follow Python.
std::string upper(std::string_view text);
std::string lower(std::string_view text);
// Python str.capitalize(): first code point upper-cased, the rest lower-cased.
std::string capitalize(std::string_view text);
// Python str.title(): a cased character after an uncased one starts a word.
std::string title(std::string_view text);
bool is_all_lower(std::string_view text);  // Python str.islower()
bool is_all_upper(std::string_view text);  // Python str.isupper()

// Python str.strip()/lstrip()/rstrip(): with `chars` absent, strips is_space() code points.
std::string strip(std::string_view text, const std::u32string* chars, bool left, bool right);
// Python str.split(None, maxsplit) (runs of whitespace) and str.split(sep, maxsplit).
// maxsplit < 0 means no limit. `from_right` gives str.rsplit().
std::vector<std::string> split_whitespace(std::string_view text, long long maxsplit, bool from_right);
std::vector<std::string> split_on(std::string_view text, std::string_view separator, long long maxsplit,
                                  bool from_right);
std::vector<std::string> splitlines(std::string_view text, bool keep_ends);

// Byte offset of the start of the code point with index `index` (clamped to text.size()).
size_t offset_of(std::string_view text, size_t index);

}  // namespace jisu::jinja::utf8
