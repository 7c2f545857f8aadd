// Pre-tokenizer rules of the DeepSeek vocabularies (LLM, Coder, V3). Their tokenizer.json
// files spell several classes as explicit code point ranges; the tables below are those ranges.

#include "tokenizer/pattern_classes.h"
#include "tokenizer/pattern_matchers.h"

namespace jisu::patterns {
namespace {

struct Range {
  uint32_t first, last;
};

template <size_t N>
bool in_ranges(const Range (&ranges)[N], uint32_t c) {
  // Ranges are few and unsorted in the source patterns; a linear scan after an ASCII check is
  // cheap enough and keeps the tables verbatim.
  for (const Range& r : ranges)
    if (c >= r.first && c <= r.last) return true;
  return false;
}

// DeepSeek LLM's letter class [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]: the cased letters of an older Unicode
// version. Written as code points: several members (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126,
// U+212A) are canonical singletons that text tools silently normalize into other characters.
constexpr Range kCasedLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

// [!-/:-~！-／：-～‘-‟　-。]: ASCII punctuation and symbols, their full-width forms, curly
// quotes, and the ideographic space, comma and full stop.
constexpr Range kAsciiAndFullwidthPunctuation[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

// [一-龥ࠀ-一가-퟿]
constexpr Range kCjkAndHangul[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};
// [一-龥぀-ゟ゠-ヿ]
constexpr Range kCjkAndKana[] = {{0x4E00, 0x9FA5}, {0x3040, 0x309F}, {0x30A0, 0x30FF}};

bool is_cased_letter(uint32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return in_ranges(kCasedLetters, c);
}
bool is_ascii_fullwidth_punctuation(uint32_t c) { return in_ranges(kAsciiAndFullwidthPunctuation, c); }
bool is_cjk_or_hangul(uint32_t c) { return c >= 0x800 && in_ranges(kCjkAndHangul, c); }
bool is_cjk_or_kana(uint32_t c) { return c >= 0x3040 && in_ranges(kCjkAndKana, c); }

bool is_ascii_letter(uint32_t c) { return c < 0x80 && (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool is_ascii_punctuation(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}
bool is_letter_or_mark(uint32_t c) { return is_letter(c) || is_mark(c); }
bool is_punctuation_or_symbol(uint32_t c) { return is_punctuation(c) || is_symbol(c); }
// [^\r\n\p{L}\p{P}\p{S}]
bool is_v3_word_lead(uint32_t c) { return !is_cr_or_lf(c) && !is_letter(c) && !is_punctuation(c) && !is_symbol(c); }
bool is_plain_space(uint32_t c) { return c == ' '; }

}  // namespace

size_t space_then_cased_letters(const uint32_t* c, size_t, size_t pos, size_t end) {
  return optional_then_run(c, pos, end, is_space, is_cased_letter);
}

size_t space_then_ascii_fullwidth_punctuation(const uint32_t* c, size_t, size_t pos, size_t end) {
  return optional_then_run(c, pos, end, is_space, is_ascii_fullwidth_punctuation);
}

size_t cjk_and_hangul(const uint32_t* c, size_t, size_t pos, size_t end) {
  return run_end(c, pos, end, is_cjk_or_hangul) - pos;
}

size_t cjk_and_kana(const uint32_t* c, size_t, size_t pos, size_t end) {
  return run_end(c, pos, end, is_cjk_or_kana) - pos;
}

size_t space_then_letters(const uint32_t* c, size_t, size_t pos, size_t end) {
  return optional_then_run(c, pos, end, is_space, is_letter);
}

size_t space_then_punctuation(const uint32_t* c, size_t, size_t pos, size_t end) {
  return optional_then_run(c, pos, end, is_space, is_punctuation);
}

size_t deepseek_v3_words(const uint32_t* c, size_t, size_t pos, size_t end) {
  if (is_ascii_punctuation(c[pos])) {
    const size_t stop = run_end(c, pos + 1, end, is_ascii_letter);
    if (stop > pos + 1) return stop - pos;
  }
  if (size_t n = optional_then_run(c, pos, end, is_v3_word_lead, is_letter_or_mark)) return n;
  if (size_t n = optional_then_run(c, pos, end, is_plain_space, is_punctuation_or_symbol))
    return run_end(c, pos + n, end, is_cr_or_lf) - pos;
  if (size_t n = spaces_through_last_newline(c, pos, end)) return n;
  if (size_t n = spaces_not_before_word(c, pos, end)) return n;
  return spaces(c, pos, end);
}

}  // namespace jisu::patterns
