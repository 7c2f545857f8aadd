// markupsafe's Markup.striptags() and Python's html.unescape(), for the `striptags` filter and
// the Markup methods. Entities: every numeric form and the named ones chat text realistically
// contains; an unknown name stays as written (html.unescape knows all 2231 HTML5 names --
// the difference is documented rather than hidden).
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "chat/jinja/builtins.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

namespace {

struct NamedEntity {
  std::string_view name;
  char32_t code_point;
  bool legacy;  // HTML 4 name that html.unescape also replaces without the closing ';'
};

constexpr NamedEntity kNamedEntities[] = {
    {"amp", '&', true},        {"lt", '<', true},         {"gt", '>', true},        {"quot", '"', true},
    {"AMP", '&', true},        {"LT", '<', true},         {"GT", '>', true},        {"QUOT", '"', true},
    {"nbsp", 0xA0, true},      {"copy", 0xA9, true},      {"reg", 0xAE, true},      {"laquo", 0xAB, true},
    {"raquo", 0xBB, true},     {"middot", 0xB7, true},    {"apos", '\'', false},    {"hellip", 0x2026, false},
    {"mdash", 0x2014, false},  {"ndash", 0x2013, false},  {"lsquo", 0x2018, false}, {"rsquo", 0x2019, false},
    {"ldquo", 0x201C, false},  {"rdquo", 0x201D, false},  {"trade", 0x2122, false}, {"euro", 0x20AC, false},
};

// Python's html.unescape replacement for invalid numeric references.
char32_t numeric_reference(uint64_t value) {
  if (value == 0 || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 0xFFFD;
  if (value >= 0x80 && value <= 0x9F) {
    // The Windows-1252 mapping html.unescape applies to C1 controls.
    static constexpr char32_t kCp1252[32] = {
        0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
    return kCp1252[value - 0x80];
  }
  return static_cast<char32_t>(value);
}

}  // namespace

std::string html_unescape(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t amp = text.find('&', pos);
    if (amp == std::string_view::npos) break;
    out.append(text.substr(pos, amp - pos));
    pos = amp + 1;
    if (pos < text.size() && text[pos] == '#') {
      // &#NNN; or &#xHHH; (the ';' is optional, as in html.unescape).
      size_t p = pos + 1;
      const bool hex = p < text.size() && (text[p] == 'x' || text[p] == 'X');
      if (hex) ++p;
      const size_t digits_begin = p;
      uint64_t value = 0;
      while (p < text.size() && (hex ? std::isxdigit(static_cast<unsigned char>(text[p])) : std::isdigit(static_cast<unsigned char>(text[p])))) {
        const char c = text[p];
        const uint64_t digit = (c >= '0' && c <= '9') ? uint64_t(c - '0') : uint64_t((c | 0x20) - 'a' + 10);
        value = std::min<uint64_t>(value * (hex ? 16 : 10) + digit, 0x7FFFFFFF);
        ++p;
      }
      if (p == digits_begin) {
        out += '&';
        continue;
      }
      if (p < text.size() && text[p] == ';') ++p;
      utf8::append(out, numeric_reference(value));
      pos = p;
      continue;
    }
    // "&name;" first; else the longest legacy name that starts the text ("&ampx" -> "&x").
    const NamedEntity* match = nullptr;
    bool with_semicolon = false;
    for (const NamedEntity& entity : kNamedEntities) {
      if (text.substr(pos, entity.name.size()) != entity.name) continue;
      const bool semicolon = pos + entity.name.size() < text.size() && text[pos + entity.name.size()] == ';';
      if (semicolon && (!with_semicolon || entity.name.size() > match->name.size())) {
        match = &entity;
        with_semicolon = true;
      } else if (!with_semicolon && entity.legacy && (!match || entity.name.size() > match->name.size())) {
        match = &entity;
      }
    }
    if (!match) {
      out += '&';
      continue;
    }
    utf8::append(out, match->code_point);
    pos += match->name.size() + (with_semicolon ? 1 : 0);
  }
  out.append(text.substr(pos));
  return out;
}

std::string markup_striptags(const std::string& text) {
  std::string value = text;
  // Comments first, then tags, each removed only when closed (markupsafe 3).
  for (size_t start; (start = value.find("<!--")) != std::string::npos;) {
    const size_t end = value.find("-->", start);
    if (end == std::string::npos) break;
    value.erase(start, end + 3 - start);
  }
  for (size_t start; (start = value.find('<')) != std::string::npos;) {
    const size_t end = value.find('>', start);
    if (end == std::string::npos) break;
    value.erase(start, end + 1 - start);
  }
  std::string collapsed;
  for (const std::string& word : utf8::split_whitespace(value, -1, false)) {
    if (!collapsed.empty()) collapsed += ' ';
    collapsed += word;
  }
  return html_unescape(collapsed);
}

}  // namespace jisu::jinja
