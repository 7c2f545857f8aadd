#include "chat/jinja/python_repr.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

namespace {

// Nesting bound for printing containers (a namespace can contain itself).
constexpr int kMaxReprDepth = 200;

// Python's str.isprintable() for one code point, approximated: control, format, separator
// (other than ' '), surrogate and private-use code points are not printable.
bool is_printable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c <= 0xA0 || c == 0xAD) return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x8E2 || c == 0x180E) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F))
    return false;
  if (c == 0x3000 || (c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF0 && c <= 0xFFFB)) return false;
  if (c == 0xFFFE || c == 0xFFFF) return false;
  if (c == 0x110BD || (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A)) return false;
  if (c >= 0xE0000) return false;
  return true;
}

void append_hex(std::string& out, const char* prefix, unsigned value, int digits) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%s%0*x", prefix, digits, value);
  out += buffer;
}

void append_repr(std::string& out, const Value& value, bool quote_strings, int depth);

void append_sequence(std::string& out, const ValueList& items, char open, char close, bool is_tuple, int depth) {
  out.push_back(open);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i], true, depth + 1);
  }
  if (is_tuple && items.size() == 1) out.push_back(',');
  out.push_back(close);
}

void append_dict(std::string& out, const Dict& dict, int depth) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, item] : dict.entries()) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, key, true, depth + 1);
    out += ": ";
    append_repr(out, item, true, depth + 1);
  }
  out.push_back('}');
}

void append_repr(std::string& out, const Value& value, bool quote_strings, int depth) {
  if (depth > kMaxReprDepth) fail("maximum nesting depth exceeded while printing a value");
  switch (value.kind()) {
    case ValueKind::Undefined:
      if (quote_strings) out += "Undefined";
      return;
    case ValueKind::None: out += "None"; return;
    case ValueKind::Bool: out += value.as_bool() ? "True" : "False"; return;
    case ValueKind::Int: out += std::to_string(value.as_int()); return;
    case ValueKind::Float: out += float_repr(value.as_float()); return;
    case ValueKind::String:
      if (!quote_strings) {
        out += value.as_string();
      } else if (value.is_markup()) {
        out += "Markup(" + string_repr(value.as_string()) + ")";
      } else {
        out += string_repr(value.as_string());
      }
      return;
    case ValueKind::List: append_sequence(out, value.items(), '[', ']', false, depth); return;
    case ValueKind::Tuple: append_sequence(out, value.items(), '(', ')', true, depth); return;
    case ValueKind::Dict: append_dict(out, value.as_dict(), depth); return;
    case ValueKind::Namespace:
      out += "<Namespace ";
      append_dict(out, value.as_namespace().attributes, depth);
      out += ">";
      return;
    case ValueKind::Function:
      if (value.as_function().is_macro)
        out += "<Macro '" + value.as_function().name + "'>";
      else
        out += "<built-in function " + value.as_function().name + ">";
      return;
    case ValueKind::Object: out += value.as_object().repr(); return;
  }
}

}  // namespace

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form: "[-]D[.DDD]e[+-]XX".
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
  const bool negative = text[0] == '-';
  const size_t e_pos = text.find('e');
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e_pos; ++i)
    if (text[i] != '.') digits.push_back(text[i]);
  const int exponent = std::stoi(std::string(text.substr(e_pos + 1)));
  const int decimal_point = exponent + 1;  // value = 0.DIGITS * 10^decimal_point
  const int n = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (decimal_point > -4 && decimal_point <= 16) {
    if (decimal_point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decimal_point), '0') + digits;
    } else if (decimal_point >= n) {
      out += digits + std::string(static_cast<size_t>(decimal_point - n), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decimal_point)) + "." + digits.substr(static_cast<size_t>(decimal_point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out.append(1, '.').append(digits, 1);  // no `"." + string&&`: a false GCC 12 -Wrestrict
  const int shown_exponent = decimal_point - 1;
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", shown_exponent < 0 ? '-' : '+', std::abs(shown_exponent));
  out += exponent_text;
  return out;
}

std::string string_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = utf8::decode(text, pos);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (is_printable(c)) {
      utf8::append(out, c);
    } else if (c < 0x100) {
      append_hex(out, "\\x", c, 2);
    } else if (c < 0x10000) {
      append_hex(out, "\\u", c, 4);
    } else {
      append_hex(out, "\\U", c, 8);
    }
  }
  out.push_back(quote);
  return out;
}

std::string to_str(const Value& value) {
  if (value.is_string()) return value.as_string();
  std::string out;
  append_repr(out, value, false, 0);
  return out;
}

std::string to_repr(const Value& value) {
  std::string out;
  append_repr(out, value, true, 0);
  return out;
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out.push_back(ch);
    }
  }
  return out;
}

}  // namespace jisu::jinja
