#include "chat/jinja/string_formatting.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "chat/jinja/python_repr.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/operators.h"
#include "chat/jinja/utf8_text.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

namespace {

// Widths and precisions past this are refused (the str.format path has the same bound): a
// '%5000000000s' would pad to gigabytes.
constexpr uint64_t kMaxFieldSize = 100000;

// A run of decimal digits from a format string, bounded (std::stoul would throw
// std::out_of_range on '%99999999999999999999s', which nothing catches).
uint64_t parse_digits(const std::string& digits, const char* what) {
  uint64_t value = 0;
  for (char c : digits) {
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > kMaxFieldSize) fail(std::string("format ") + what + " too large");
  }
  return value;
}

// Pads `text` to `width` code points; align is '<', '>' or '^' (Python's centering puts the
// extra character on the right).
std::string pad(const std::string& text, size_t width, char align, const std::string& fill) {
  const size_t length = utf8::length(text);
  if (length >= width) return text;
  const size_t total = width - length;
  size_t left = 0;
  if (align == '>') left = total;
  else if (align == '^') left = total / 2;
  std::string out;
  for (size_t i = 0; i < left; ++i) out += fill;
  out += text;
  for (size_t i = left; i < total; ++i) out += fill;
  return out;
}

std::string c_format(const std::string& spec, double value) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, spec.c_str(), value);
  return buffer;
}

std::string c_format_int(const std::string& spec, long long value) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, spec.c_str(), value);
  return buffer;
}

// The argument of a %-conversion or format spec that needs a number.
double require_real(const Value& value, char type) {
  if (value.is_undefined()) fail(value.undefined_message());
  if (!value.is_number())
    fail(std::string("%") + type + " format: a real number is required, not " + type_name(value));
  return value.as_float();
}

std::string escape_if(bool markup, const Value& value, std::string text) {
  if (!markup || value.is_markup()) return text;
  return escape_html(text);
}

}  // namespace

// ---- printf-style -----------------------------------------------------------------------

Value percent_format(const Value& format_value, const Value& args) {
  const std::string& format = format_value.as_string();
  const bool markup = format_value.is_markup();
  ValueList positional;
  const Dict* mapping = nullptr;
  if (args.is_tuple()) {
    positional = args.items();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.as_dict();
  }
  size_t next_arg = 0;
  const auto take = [&]() -> const Value& {
    if (next_arg >= positional.size()) fail("not enough arguments for format string");
    return positional[next_arg++];
  };
  bool used_mapping = false;

  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) fail("incomplete format");
    const Value* value = nullptr;
    if (format[i] == '(') {
      int depth = 1;
      size_t key_start = ++i;
      while (i < format.size() && depth > 0) {
        if (format[i] == '(') ++depth;
        else if (format[i] == ')') --depth;
        ++i;
      }
      if (depth > 0) fail("incomplete format key");
      if (!mapping) fail("format requires a mapping");
      const std::string key = format.substr(key_start, i - 1 - key_start);
      value = mapping->find(std::string_view(key));
      if (!value) fail("KeyError: " + string_repr(key));
      used_mapping = true;
    }
    std::string flags;
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos) flags += format[i++];
    std::string width;
    if (i < format.size() && format[i] == '*') {
      const Value& w = take();
      if (!w.is_integral()) fail("* wants int");
      // Python: a negative '*' width left-aligns.
      if (w.as_int() < 0) flags += '-';
      const uint64_t magnitude = w.as_int() < 0 ? 0 - static_cast<uint64_t>(w.as_int()) : static_cast<uint64_t>(w.as_int());
      if (magnitude > kMaxFieldSize) fail("format width too large");
      width = std::to_string(magnitude);
      ++i;
    } else {
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') width += format[i++];
    }
    std::string precision;
    bool has_precision = false;
    if (i < format.size() && format[i] == '.') {
      has_precision = true;
      ++i;
      if (i < format.size() && format[i] == '*') {
        const Value& p = take();
        if (!p.is_integral()) fail("* wants int");
        // Python: a negative '*' precision counts as 0.
        if (p.as_int() > static_cast<int64_t>(kMaxFieldSize)) fail("format precision too large");
        precision = std::to_string(std::max<int64_t>(0, p.as_int()));
        ++i;
      } else {
        while (i < format.size() && format[i] >= '0' && format[i] <= '9') precision += format[i++];
      }
      if (precision.empty()) precision = "0";
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) fail("incomplete format");
    const char type = format[i];
    if (type == '%') {
      out.push_back('%');
      continue;
    }
    if (!value) value = &take();
    const bool left_align = flags.find('-') != std::string::npos;
    const size_t width_n = width.empty() ? 0 : static_cast<size_t>(parse_digits(width, "width"));
    if (has_precision) precision = std::to_string(parse_digits(precision, "precision"));
    std::string piece;
    switch (type) {
      case 's':
      case 'r':
      case 'a': {
        piece = type == 's' ? to_str(*value) : to_repr(*value);
        if (has_precision) {
          const size_t keep = std::stoul(precision);
          piece = piece.substr(0, utf8::offset_of(piece, keep));
        }
        piece = escape_if(markup, *value, piece);
        piece = pad(piece, width_n, left_align ? '<' : '>', " ");
        break;
      }
      case 'd':
      case 'i':
      case 'u': {
        if (value->is_undefined()) fail(value->undefined_message());
        if (!value->is_number())
          fail(std::string("%") + type + " format: a real number is required, not " + type_name(*value));
        long long n;
        if (value->is_float()) {
          const double d = value->as_float();
          if (std::isnan(d) || std::isinf(d)) fail("cannot convert float to integer");
          n = static_cast<long long>(std::trunc(d));
        } else {
          n = value->as_int();
        }
        piece = c_format_int("%" + flags + width + (has_precision ? "." + precision : "") + "lld", n);
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        if (!value->is_integral())
          fail(std::string("%") + type + " format: an integer is required, not " + type_name(*value));
        long long n = value->as_int();
        // Python formats negative numbers as "-" + magnitude, with "#" giving 0x/0o.
        const bool negative = n < 0;
        const unsigned long long magnitude = negative ? 0ULL - static_cast<unsigned long long>(n) : static_cast<unsigned long long>(n);
        char digits[64];
        std::snprintf(digits, sizeof digits, type == 'o' ? "%llo" : (type == 'x' ? "%llx" : "%llX"), magnitude);
        std::string body = digits;
        if (has_precision && body.size() < std::stoul(precision)) body.insert(0, std::stoul(precision) - body.size(), '0');
        std::string prefix = negative ? "-" : (flags.find('+') != std::string::npos ? "+" : (flags.find(' ') != std::string::npos ? " " : ""));
        if (flags.find('#') != std::string::npos) prefix += type == 'o' ? "0o" : (type == 'x' ? "0x" : "0X");
        if (flags.find('0') != std::string::npos && !left_align && prefix.size() + body.size() < width_n)
          body.insert(0, width_n - prefix.size() - body.size(), '0');
        piece = pad(prefix + body, width_n, left_align ? '<' : '>', " ");
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        const double d = require_real(*value, type);
        piece = c_format("%" + flags + width + "." + (has_precision ? precision : "6") + type, d);
        if (std::isnan(d) || std::isinf(d)) {
          // C may print "-nan"; Python prints "nan" / "inf" (upper case for E/F/G).
          std::string word = std::isnan(d) ? "nan" : (d < 0 ? "-inf" : (flags.find('+') != std::string::npos ? "+inf" : "inf"));
          if (type == 'E' || type == 'F' || type == 'G') word = utf8::upper(word);
          piece = pad(word, width_n, left_align ? '<' : '>', " ");
        }
        break;
      }
      case 'c': {
        if (value->is_integral()) {
          const int64_t cp = value->as_int();
          if (cp < 0 || cp > 0x10FFFF) fail("%c arg not in range(0x110000)");
          std::string c;
          utf8::append(c, static_cast<char32_t>(cp));
          piece = c;
        } else if (value->is_string() && utf8::length(value->as_string()) == 1) {
          piece = value->as_string();
        } else {
          fail("%c requires int or char");
        }
        piece = pad(piece, width_n, left_align ? '<' : '>', " ");
        break;
      }
      default: fail(std::string("unsupported format character '") + type + "'");
    }
    out += piece;
    if (out.size() > kMaxBuiltSize) fail("formatted string is too large");
  }
  if (!used_mapping && !mapping && next_arg < positional.size())
    fail("not all arguments converted during string formatting");
  return Value::string(std::move(out), markup);
}

// ---- str.format -------------------------------------------------------------------------

namespace {

struct FormatSpec {
  std::string fill = " ";
  char align = 0;  // 0 = type default
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  size_t width = 0;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

FormatSpec parse_spec(const std::string& spec) {
  FormatSpec s;
  size_t i = 0;
  const auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  // [[fill]align]: the fill may be any code point.
  if (!spec.empty()) {
    size_t after_first = 0;
    utf8::decode(spec, after_first);
    if (after_first < spec.size() && is_align(spec[after_first])) {
      s.fill = spec.substr(0, after_first);
      s.align = spec[after_first];
      i = after_first + 1;
    } else if (is_align(spec[0])) {
      s.align = spec[0];
      i = 1;
    }
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) s.sign = spec[i++];
  if (i < spec.size() && spec[i] == 'z') ++i;
  if (i < spec.size() && spec[i] == '#') {
    s.alternate = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '0') {
    s.zero = true;
    ++i;
  }
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
    s.width = s.width * 10 + static_cast<size_t>(spec[i++] - '0');
    if (s.width > 100000) fail("format width too large");
  }
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) s.grouping = spec[i++];
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    if (i >= spec.size() || spec[i] < '0' || spec[i] > '9') fail("Format specifier missing precision");
    s.precision = 0;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
      s.precision = s.precision * 10 + (spec[i++] - '0');
      if (s.precision > 1000) fail("format precision too large");
    }
  }
  if (i < spec.size()) s.type = spec[i++];
  if (i < spec.size()) fail("Invalid format specifier '" + spec + "'");
  return s;
}

std::string group_digits(const std::string& digits, char separator) {
  if (!separator) return digits;
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out.push_back(separator);
    out.push_back(digits[i]);
  }
  return out;
}

// Applies sign, '=' / zero padding and alignment to a formatted number.
std::string finish_number(bool negative, std::string body, const FormatSpec& s, const std::string& prefix = {}) {
  std::string sign_text = negative ? "-" : (s.sign == '+' ? "+" : (s.sign == ' ' ? " " : ""));
  sign_text += prefix;
  char align = s.align ? s.align : '>';
  std::string fill = s.fill;
  if (s.zero && !s.align) {
    align = '=';
    fill.assign(1, '0');  // not `= "0"`: GCC 12 warns falsely (-Wrestrict) on that inlined copy
  }
  if (align == '=') {
    const size_t length = sign_text.size() + utf8::length(body);
    std::string padding;
    for (size_t i = length; i < s.width; ++i) padding += fill;
    return sign_text + padding + body;
  }
  return pad(sign_text + body, s.width, align, fill);
}

std::string format_float(double d, const FormatSpec& s) {
  const bool negative = std::signbit(d) && !std::isnan(d);
  const double magnitude = std::fabs(d);
  std::string body;
  char type = s.type;
  if (std::isnan(d) || std::isinf(d)) {
    body = std::isnan(d) ? "nan" : "inf";
    if (type == 'E' || type == 'F' || type == 'G') body = utf8::upper(body);
    FormatSpec no_zero = s;
    no_zero.zero = false;
    return finish_number(negative, body, no_zero);
  }
  if (type == 0 && s.precision < 0) {
    body = float_repr(magnitude);
  } else {
    int precision = s.precision < 0 ? 6 : s.precision;
    if (type == '%') {
      body = c_format("%." + std::to_string(precision) + "f", magnitude * 100) + "%";
    } else if (type == 0) {
      // Like 'g' but fixed notation keeps at least one digit after the point.
      body = c_format("%." + std::to_string(precision == 0 ? 1 : precision) + "g", magnitude);
      if (body.find_first_of(".e") == std::string::npos && body.find("inf") == std::string::npos) body += ".0";
    } else {
      const char c_type = (type == 'n') ? 'g' : type;
      body = c_format(std::string("%") + (s.alternate ? "#" : "") + "." + std::to_string(precision) + c_type, magnitude);
    }
  }
  if (s.grouping) {
    const size_t point = body.find_first_of(".e%");
    const std::string int_part = body.substr(0, point == std::string::npos ? body.size() : point);
    body = group_digits(int_part, s.grouping) + (point == std::string::npos ? "" : body.substr(point));
  }
  return finish_number(negative, body, s);
}

std::string format_integer(int64_t n, const FormatSpec& s) {
  const bool negative = n < 0;
  const unsigned long long magnitude = negative ? 0ULL - static_cast<unsigned long long>(n) : static_cast<unsigned long long>(n);
  std::string digits, prefix;
  char buffer[80];
  switch (s.type) {
    case 0:
    case 'd':
    case 'n':
      digits = std::to_string(magnitude);
      break;
    case 'x':
    case 'X':
      std::snprintf(buffer, sizeof buffer, s.type == 'x' ? "%llx" : "%llX", magnitude);
      digits = buffer;
      if (s.alternate) prefix = s.type == 'x' ? "0x" : "0X";
      break;
    case 'o':
      std::snprintf(buffer, sizeof buffer, "%llo", magnitude);
      digits = buffer;
      if (s.alternate) prefix = "0o";
      break;
    case 'b': {
      unsigned long long m = magnitude;
      do {
        digits.insert(digits.begin(), static_cast<char>('0' + (m & 1)));
        m >>= 1;
      } while (m);
      if (s.alternate) prefix = "0b";
      break;
    }
    case 'c': {
      if (n < 0 || n > 0x10FFFF) fail("%c arg not in range(0x110000)");
      std::string c;
      utf8::append(c, static_cast<char32_t>(n));
      return pad(c, s.width, s.align ? s.align : '<', s.fill);
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case '%':
      return format_float(static_cast<double>(n), s);
    default: fail(std::string("Unknown format code '") + s.type + "' for object of type 'int'");
  }
  if (s.precision >= 0) fail("Precision not allowed in integer format specifier");
  return finish_number(negative, group_digits(digits, s.grouping), s, prefix);
}

}  // namespace

std::string format_with_spec(const Value& value, const std::string& spec) {
  if (spec.empty()) return to_str(value);
  const FormatSpec s = parse_spec(spec);
  if (value.is_string()) {
    if (s.type != 0 && s.type != 's') fail(std::string("Unknown format code '") + s.type + "' for object of type 'str'");
    if (s.sign != '-') fail("Sign not allowed in string format specifier");
    if (s.align == '=') fail("'=' alignment not allowed in string format specifier");
    std::string text = value.as_string();
    if (s.precision >= 0) text = text.substr(0, utf8::offset_of(text, static_cast<size_t>(s.precision)));
    return pad(text, s.width, s.align ? s.align : '<', s.zero && !s.align ? "0" : s.fill);
  }
  if (value.is_integral()) return format_integer(value.as_int(), s);
  if (value.is_float()) {
    if (s.type != 0 && std::string_view("eEfFgGn%").find(s.type) == std::string_view::npos)
      fail(std::string("Unknown format code '") + s.type + "' for object of type 'float'");
    return format_float(value.as_float(), s);
  }
  if (value.is_undefined()) fail(value.undefined_message());
  fail("unsupported format string passed to " + type_name(value) + ".__format__");
}

Value brace_format(const Value& format_value, const CallArgs& args) {
  const std::string& format = format_value.as_string();
  const bool markup = format_value.is_markup();
  size_t auto_index = 0;
  enum class Numbering { Unknown, Automatic, Manual } numbering = Numbering::Unknown;

  // Resolves "0.attr[key]" / "name" / "" against the arguments with the sandbox lookups.
  const auto resolve_field = [&](const std::string& field) -> Value {
    size_t end = field.find_first_of(".[");
    const std::string first = field.substr(0, end);
    Value value;
    if (first.empty() || std::all_of(first.begin(), first.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      size_t index;
      if (first.empty()) {
        if (numbering == Numbering::Manual)
          fail("cannot switch from manual field specification to automatic field numbering");
        numbering = Numbering::Automatic;
        index = auto_index++;
      } else {
        if (numbering == Numbering::Automatic)
          fail("cannot switch from automatic field numbering to manual field specification");
        numbering = Numbering::Manual;
        if (first.size() > 9) fail("Replacement index " + first + " out of range for positional args tuple");
        index = std::stoul(first);
      }
      if (index >= args.positional.size()) fail("Replacement index " + std::to_string(index) + " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      const Value* found = nullptr;
      for (const auto& [key, v] : args.keyword)
        if (key == first) found = &v;
      if (!found) fail("KeyError: " + string_repr(first));
      value = *found;
    }
    while (end != std::string::npos && end < field.size()) {
      if (field[end] == '.') {
        const size_t next = field.find_first_of(".[", end + 1);
        const std::string name = field.substr(end + 1, next == std::string::npos ? std::string::npos : next - end - 1);
        if (name.empty()) fail("Empty attribute in format string");
        value = get_attribute(value, name);
        end = next;
      } else {
        const size_t close = field.find(']', end);
        if (close == std::string::npos) fail("Missing ']' in format string");
        const std::string key = field.substr(end + 1, close - end - 1);
        const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (numeric && key.size() > 18) fail("IndexError: index " + key + " is out of range");
        value = get_item(value, numeric ? Value::integer(std::stoll(key)) : Value::string(key));
        end = close + 1;
        if (end < field.size() && field[end] != '.' && field[end] != '[') fail("Only '.' or '[' may follow ']' in format field specifier");
      }
    }
    return value;
  };

  std::function<std::string(const std::string&, int)> render = [&](const std::string& text, int depth) -> std::string {
    if (depth > 2) fail("Max string recursion exceeded");
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '}') {
        if (i + 1 < text.size() && text[i + 1] == '}') {
          out.push_back('}');
          ++i;
          continue;
        }
        fail("Single '}' encountered in format string");
      }
      if (c != '{') {
        out.push_back(c);
        continue;
      }
      if (i + 1 < text.size() && text[i + 1] == '{') {
        out.push_back('{');
        ++i;
        continue;
      }
      // Find the matching '}' allowing one level of nested braces in the spec.
      size_t j = i + 1;
      int nesting = 1;
      while (j < text.size()) {
        if (text[j] == '{') ++nesting;
        else if (text[j] == '}' && --nesting == 0) break;
        ++j;
      }
      if (j >= text.size()) fail("expected '}' before end of string");
      const std::string inner = text.substr(i + 1, j - i - 1);
      // field [!conversion] [:spec]
      size_t field_end = 0;
      int bracket = 0;
      while (field_end < inner.size()) {
        const char d = inner[field_end];
        if (d == '[') ++bracket;
        else if (d == ']') --bracket;
        else if (bracket == 0 && (d == '!' || d == ':')) break;
        ++field_end;
      }
      const std::string field = inner.substr(0, field_end);
      char conversion = 0;
      std::string spec;
      size_t k = field_end;
      if (k < inner.size() && inner[k] == '!') {
        if (k + 1 >= inner.size()) fail("end of string while looking for conversion specifier");
        conversion = inner[k + 1];
        k += 2;
        if (k < inner.size() && inner[k] != ':') fail("expected ':' after conversion specifier");
      }
      if (k < inner.size() && inner[k] == ':') spec = render(inner.substr(k + 1), depth + 1);
      Value value = resolve_field(field);
      std::string piece;
      if (conversion == 'r' || conversion == 'a') {
        value = Value::string(to_repr(value));
      } else if (conversion == 's') {
        value = Value::string(to_str(value));
      } else if (conversion != 0) {
        fail(std::string("Unknown conversion specifier ") + conversion);
      }
      piece = format_with_spec(value, spec);
      out += escape_if(markup, value, piece);
      if (out.size() > kMaxBuiltSize) fail("formatted string is too large");
      i = j;
    }
    return out;
  };
  return Value::string(render(format, 0), markup);
}

}  // namespace jisu::jinja
