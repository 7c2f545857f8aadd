#include "chat/jinja/utf8_text.h"

#include <algorithm>

namespace jisu::jinja::utf8 {

char32_t decode(std::string_view text, size_t& pos) {
  const unsigned char lead = static_cast<unsigned char>(text[pos]);
  size_t extra;
  char32_t code_point;
  if (lead < 0x80) {
    ++pos;
    return lead;
  } else if (lead >= 0xF0 && lead < 0xF8) {
    extra = 3;
    code_point = lead & 0x07;
  } else if (lead >= 0xE0 && lead < 0xF0) {
    extra = 2;
    code_point = lead & 0x0F;
  } else if (lead >= 0xC0 && lead < 0xE0) {
    extra = 1;
    code_point = lead & 0x1F;
  } else {
    ++pos;
    return lead;
  }
  // A truncated or malformed sequence decodes as the single lead byte (total, never overreads).
  if (pos + extra >= text.size()) {
    ++pos;
    return lead;
  }
  for (size_t i = 1; i <= extra; ++i) {
    const unsigned char continuation = static_cast<unsigned char>(text[pos + i]);
    if ((continuation & 0xC0) != 0x80) {
      ++pos;
      return lead;
    }
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  pos += extra + 1;
  return code_point;
}

void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::u32string to_u32(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) out.push_back(decode(text, pos));
  return out;
}

std::string from_u32(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append(out, c);
  return out;
}

bool is_valid(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    char32_t code_point;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      code_point = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      code_point = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    if ((extra == 2 && code_point < 0x800) || (extra == 3 && code_point < 0x10000) || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

size_t length(std::string_view text) {
  size_t count = 0;
  for (char ch : text)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++count;
  return count;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; });
}

size_t offset_of(std::string_view text, size_t index) {
  size_t pos = 0;
  for (size_t i = 0; i < index && pos < text.size(); ++i) decode(text, pos);
  return pos;
}

bool is_space(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 ||
         c == 0x2029;
}

bool is_word(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (is_space(c)) return false;
  if (c < 0xC0) return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || (c >= 0xBC && c <= 0xBE);
  if (c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x300 && c <= 0x36F) return false;                                // combining marks
  if (c >= 0x2000 && c <= 0x2BFF) return c == 0x2071 || c == 0x207F || (c >= 0x2090 && c <= 0x209C);  // punctuation, symbols
  if (c >= 0x2E00 && c <= 0x2E7F) return false;
  if (c >= 0x3000 && c <= 0x303F) return c >= 0x3005 && c <= 0x3007;
  if (c >= 0xFE00 && c <= 0xFE0F) return false;
  if (c >= 0xFE30 && c <= 0xFE6F) return false;
  if ((c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
      (c >= 0xFF5B && c <= 0xFF65))
    return c == 0xFF3F;
  if (c >= 0x1F000 && c <= 0x1FAFF) return false;  // emoji and pictographs
  if (c >= 0xE0000) return false;
  return true;
}

namespace {

// Pairs laid out as alternating upper/lower code points starting at an even (or odd) base.
bool in_alternating(char32_t c, char32_t first, char32_t last) { return c >= first && c <= last; }

// Simple one-to-one lower-casing; returns c when there is no mapping.
char32_t simple_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c < 0x100) return c;
  if (c == 0x178) return 0xFF;
  if ((in_alternating(c, 0x100, 0x12F) || in_alternating(c, 0x132, 0x137) || in_alternating(c, 0x14A, 0x177) ||
       in_alternating(c, 0x1DE, 0x1EF) || in_alternating(c, 0x1F8, 0x21F) || in_alternating(c, 0x222, 0x233) ||
       in_alternating(c, 0x3D8, 0x3EF) || in_alternating(c, 0x460, 0x481) || in_alternating(c, 0x48A, 0x4BF) ||
       in_alternating(c, 0x4D0, 0x52F) || in_alternating(c, 0x1E00, 0x1E95) || in_alternating(c, 0x1EA0, 0x1EFF)) &&
      c % 2 == 0)
    return c + 1;
  if ((in_alternating(c, 0x139, 0x148) || in_alternating(c, 0x179, 0x17E) || in_alternating(c, 0x1CD, 0x1DC) ||
       in_alternating(c, 0x4C1, 0x4CE)) &&
      c % 2 == 1)
    return c + 1;
  if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB)) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c == 0x4C0) return 0x4CF;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if (c == 0x1E9E) return 0xDF;
  if (c >= 0x2160 && c <= 0x216F) return c + 16;
  if (c >= 0x24B6 && c <= 0x24CF) return c + 26;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}

char32_t simple_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c < 0x100) return c;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if ((in_alternating(c, 0x100, 0x12F) || in_alternating(c, 0x132, 0x137) || in_alternating(c, 0x14A, 0x177) ||
       in_alternating(c, 0x1DE, 0x1EF) || in_alternating(c, 0x1F8, 0x21F) || in_alternating(c, 0x222, 0x233) ||
       in_alternating(c, 0x3D8, 0x3EF) || in_alternating(c, 0x460, 0x481) || in_alternating(c, 0x48A, 0x4BF) ||
       in_alternating(c, 0x4D0, 0x52F) || in_alternating(c, 0x1E00, 0x1E95) || in_alternating(c, 0x1EA0, 0x1EFF)) &&
      c % 2 == 1)
    return c - 1;
  if ((in_alternating(c, 0x139, 0x148) || in_alternating(c, 0x179, 0x17E) || in_alternating(c, 0x1CD, 0x1DC) ||
       in_alternating(c, 0x4C1, 0x4CE)) &&
      c % 2 == 0)
    return c - 1;
  if (c == 0x3C2) return 0x3A3;
  if ((c >= 0x3B1 && c <= 0x3C1) || (c >= 0x3C3 && c <= 0x3CB)) return c - 32;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c == 0x4CF) return 0x4C0;
  if (c >= 0x561 && c <= 0x586) return c - 48;
  if (c >= 0x2170 && c <= 0x217F) return c - 16;
  if (c >= 0x24D0 && c <= 0x24E9) return c - 26;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  return c;
}

// Appends the full upper-case mapping of c (Python's str.upper() expands some code points).
void append_upper(std::string& out, char32_t c) {
  if (c == 0xDF) {
    out += "SS";
    return;
  }
  append(out, simple_upper(c));
}

void append_lower(std::string& out, char32_t c) {
  if (c == 0x130) {  // capital I with dot above -> "i" + combining dot above
    out += "i";
    append(out, 0x307);
    return;
  }
  append(out, simple_lower(c));
}

}  // namespace

bool is_upper(char32_t c) { return simple_lower(c) != c || c == 0x130; }
bool is_lower(char32_t c) { return simple_upper(c) != c || c == 0xDF || c == 0x138; }
bool is_cased(char32_t c) { return is_upper(c) || is_lower(c); }

std::string upper(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) append_upper(out, decode(text, pos));
  return out;
}

std::string lower(std::string_view text) {
  const std::u32string chars = to_u32(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < chars.size(); ++i) {
    const char32_t c = chars[i];
    if (c == 0x3A3) {
      // Python's final-sigma rule: a capital sigma that ends a word lowers to the final form.
      const bool after_cased = i > 0 && is_cased(chars[i - 1]);
      const bool before_cased = i + 1 < chars.size() && is_cased(chars[i + 1]);
      append(out, after_cased && !before_cased ? char32_t{0x3C2} : char32_t{0x3C3});
      continue;
    }
    append_lower(out, c);
  }
  return out;
}

std::string capitalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool first = true;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode(text, pos);
    if (first)
      append_upper(out, c);
    else
      append_lower(out, c);
    first = false;
  }
  return out;
}

std::string title(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool previous_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode(text, pos);
    if (previous_cased)
      append_lower(out, c);
    else
      append_upper(out, c);
    previous_cased = is_cased(c);
  }
  return out;
}

bool is_all_lower(std::string_view text) {
  bool any_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode(text, pos);
    if (is_upper(c)) return false;
    if (is_lower(c)) any_cased = true;
  }
  return any_cased;
}

bool is_all_upper(std::string_view text) {
  bool any_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode(text, pos);
    if (is_lower(c)) return false;
    if (is_upper(c)) any_cased = true;
  }
  return any_cased;
}

std::string strip(std::string_view text, const std::u32string* chars, bool left, bool right) {
  const std::u32string u = to_u32(text);
  const auto strippable = [&](char32_t c) {
    return chars ? chars->find(c) != std::u32string::npos : is_space(c);
  };
  size_t begin = 0, end = u.size();
  if (left)
    while (begin < end && strippable(u[begin])) ++begin;
  if (right)
    while (end > begin && strippable(u[end - 1])) --end;
  return from_u32(std::u32string_view(u).substr(begin, end - begin));
}

std::vector<std::string> split_whitespace(std::string_view text, long long maxsplit, bool from_right) {
  const std::u32string u = to_u32(text);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t i = 0;
    const size_t n = u.size();
    while (true) {
      while (i < n && is_space(u[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<long long>(parts.size()) >= maxsplit) {
        // Python keeps the remainder verbatim (its trailing whitespace included).
        parts.push_back(from_u32(std::u32string_view(u).substr(i)));
        break;
      }
      size_t j = i;
      while (j < n && !is_space(u[j])) ++j;
      parts.push_back(from_u32(std::u32string_view(u).substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  long long i = static_cast<long long>(u.size()) - 1;
  while (true) {
    while (i >= 0 && is_space(u[i])) --i;
    if (i < 0) break;
    if (maxsplit >= 0 && static_cast<long long>(parts.size()) >= maxsplit) {
      parts.push_back(from_u32(std::u32string_view(u).substr(0, i + 1)));
      break;
    }
    long long j = i;
    while (j >= 0 && !is_space(u[j])) --j;
    parts.push_back(from_u32(std::u32string_view(u).substr(j + 1, i - j)));
    i = j;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> split_on(std::string_view text, std::string_view separator, long long maxsplit,
                                  bool from_right) {
  // Byte-wise search is exact for UTF-8: a valid separator can only match at code point
  // boundaries.
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<long long>(parts.size()) < maxsplit) {
      const size_t found = text.find(separator, start);
      if (found == std::string_view::npos) break;
      parts.emplace_back(text.substr(start, found - start));
      start = found + separator.size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  size_t end = text.size();
  while (maxsplit < 0 || static_cast<long long>(parts.size()) < maxsplit) {
    if (end < separator.size()) break;
    const size_t found = text.rfind(separator, end - separator.size());
    if (found == std::string_view::npos) break;
    parts.emplace_back(text.substr(found + separator.size(), end - found - separator.size()));
    end = found;
  }
  parts.emplace_back(text.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view text, bool keep_ends) {
  std::vector<std::string> lines;
  size_t line_start = 0, pos = 0;
  while (pos < text.size()) {
    const size_t char_start = pos;
    const char32_t c = decode(text, pos);
    if (!is_line_break(c)) continue;
    size_t line_end = pos;
    if (c == '\r' && pos < text.size() && text[pos] == '\n') line_end = ++pos;
    lines.emplace_back(text.substr(line_start, (keep_ends ? line_end : char_start) - line_start));
    line_start = pos;
  }
  if (line_start < text.size()) lines.emplace_back(text.substr(line_start));
  return lines;
}

}  // namespace jisu::jinja::utf8
