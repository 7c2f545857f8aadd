#include "chat/jinja/lexer.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

std::string normalize_template_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(source) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < source.size(); ++i)
      if (source[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < source_.size()) lex_text_and_tag();
    Token eof;
    eof.type = TokenType::Eof;
    eof.where = location(source_.size());
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  enum class TagKind { Variable, Block, Comment };

  SourceLocation location(size_t offset) const {
    size_t low = 0, high = line_starts_.size();
    while (high - low > 1) {
      const size_t mid = (low + high) / 2;
      if (line_starts_[mid] <= offset) low = mid; else high = mid;
    }
    // Tokens come in source order: count code points from the previous location when it is
    // on the same line and before `offset`, not from the line start (quadratic on one long line).
    size_t from = line_starts_[low], column = 0;
    if (cached_line_ == low && cached_offset_ <= offset && cached_offset_ >= from) {
      from = cached_offset_;
      column = cached_column_;
    }
    column += utf8::length(source_.substr(from, offset - from));
    cached_line_ = low;
    cached_offset_ = offset;
    cached_column_ = column;
    return SourceLocation{static_cast<uint32_t>(low + 1), static_cast<uint32_t>(column + 1)};
  }

  [[noreturn]] void error(const std::string& message, size_t offset) const {
    throw TemplateError(message, location(offset));
  }

  bool starts_with(size_t at, std::string_view text) const { return source_.substr(at, text.size()) == text; }

  // Length of the run of Python whitespace (\s) starting at `at`, in bytes.
  size_t whitespace_run(size_t at) const {
    size_t p = at;
    while (p < source_.size()) {
      size_t next = p;
      if (!utf8::is_space(utf8::decode(source_, next))) break;
      p = next;
    }
    return p - at;
  }

  void emit(TokenType type, size_t offset, std::string text = {}) {
    Token token;
    token.type = type;
    token.text = std::move(text);
    token.where = location(offset);
    tokens_.push_back(std::move(token));
  }

  // Applies the whitespace control of a tag (sign '-' / '+' / none) to the text before it.
  // `line_starting`: the text begins right after a match that ended in "\n" (or at the start).
  static std::string_view control_text(std::string_view text, char sign, bool lstrip_applies, bool line_starting) {
    if (sign == '-') {
      // Python str.rstrip(): all trailing whitespace.
      size_t end = text.size();
      while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t probe = start;
        if (!utf8::is_space(utf8::decode(text, probe))) break;
        end = start;
      }
      return text.substr(0, end);
    }
    if (sign == '+' || !lstrip_applies) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    if (line_start == 0 && !line_starting) return text;
    const std::string_view tail = text.substr(line_start);
    if (tail.empty()) return text;
    for (size_t p = 0; p < tail.size();)
      if (!utf8::is_space(utf8::decode(tail, p))) return text;
    return text.substr(0, line_start);
  }

  // One step of the root state: text up to the next tag, then the tag itself.
  void lex_text_and_tag() {
    const size_t text_start = pos_;
    const bool line_starting = text_start == 0 || source_[text_start - 1] == '\n';
    size_t tag = source_.find('{', pos_);
    while (tag != std::string_view::npos) {
      if (tag + 1 < source_.size() && (source_[tag + 1] == '{' || source_[tag + 1] == '%' || source_[tag + 1] == '#'))
        break;
      tag = source_.find('{', tag + 1);
    }
    if (tag == std::string_view::npos) {
      emit(TokenType::Data, text_start, std::string(source_.substr(text_start)));
      pos_ = source_.size();
      return;
    }
    const char opener = source_[tag + 1];
    const TagKind kind = opener == '{' ? TagKind::Variable : (opener == '%' ? TagKind::Block : TagKind::Comment);
    char sign = 0;
    if (tag + 2 < source_.size() && (source_[tag + 2] == '-' || source_[tag + 2] == '+')) sign = source_[tag + 2];
    const std::string_view text = control_text(source_.substr(text_start, tag - text_start), sign,
                                               kind != TagKind::Variable, line_starting);
    if (!text.empty()) emit(TokenType::Data, text_start, std::string(text));
    const size_t after_opener = tag + 2 + (sign ? 1 : 0);

    if (kind == TagKind::Comment) {
      lex_comment(tag, after_opener);
      return;
    }
    if (kind == TagKind::Block) {
      size_t raw_end = 0;
      if (match_raw_begin(after_opener, raw_end)) {
        lex_raw_body(tag, raw_end);
        return;
      }
    }
    emit(kind == TagKind::Block ? TokenType::BlockBegin : TokenType::VariableBegin, tag);
    pos_ = after_opener;
    lex_tag_contents(kind == TagKind::Block);
  }

  void lex_comment(size_t tag, size_t after_opener) {
    const size_t close = source_.find("#}", after_opener);
    if (close == std::string_view::npos) error("missing end of comment tag", tag);
    // The earliest match of (+#} | -#}\s* | #}\n?) begins one character early when a sign
    // precedes the "#}".
    const char sign = close > after_opener ? source_[close - 1] : 0;
    pos_ = close + 2;
    if (sign == '-') {
      pos_ += whitespace_run(pos_);
    } else if (sign != '+' && pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;  // trim_blocks
    }
  }

  // `{%` [-+]? \s* raw \s* (-%}\s* | %}) ; sets `end` past the match.
  bool match_raw_begin(size_t after_opener, size_t& end) const {
    size_t p = after_opener;
    p += whitespace_run(p);
    if (!starts_with(p, "raw")) return false;
    p += 3;
    p += whitespace_run(p);
    if (starts_with(p, "-%}")) {
      p += 3;
      end = p + whitespace_run(p);
      return true;
    }
    if (starts_with(p, "%}")) {
      end = p + 2;  // no trim_blocks after {% raw %}, as in jinja2
      return true;
    }
    return false;
  }

  // Text up to `{% endraw %}`, with that tag's own whitespace control applied.
  void lex_raw_body(size_t tag, size_t body_start) {
    const bool line_starting = source_[body_start - 1] == '\n';
    size_t search = body_start;
    while (true) {
      const size_t candidate = source_.find("{%", search);
      if (candidate == std::string_view::npos) error("missing end of raw directive", tag);
      size_t p = candidate + 2;
      char sign = 0;
      if (p < source_.size() && (source_[p] == '-' || source_[p] == '+')) sign = source_[p++];
      p += whitespace_run(p);
      if (starts_with(p, "endraw")) {
        p += 6;
        p += whitespace_run(p);
        size_t end = 0;
        if (starts_with(p, "+%}")) {
          end = p + 3;
        } else if (starts_with(p, "-%}")) {
          end = p + 3 + whitespace_run(p + 3);
        } else if (starts_with(p, "%}")) {
          end = p + 2;
          if (end < source_.size() && source_[end] == '\n') ++end;
        }
        if (end != 0) {
          const std::string_view text =
              control_text(source_.substr(body_start, candidate - body_start), sign, true, line_starting);
          if (!text.empty()) emit(TokenType::Data, body_start, std::string(text));
          pos_ = end;
          return;
        }
      }
      search = candidate + 1;
    }
  }

  // Tokens inside {{ }} or {% %} up to the matching end delimiter (or the end of the source,
  // which the parser reports as an unexpected end of template).
  void lex_tag_contents(bool block) {
    std::vector<char> brackets;  // expected closers, innermost last
    while (pos_ < source_.size()) {
      if (brackets.empty()) {
        if (block) {
          if (starts_with(pos_, "+%}")) {
            emit(TokenType::BlockEnd, pos_);
            pos_ += 3;
            return;
          }
          if (starts_with(pos_, "-%}")) {
            emit(TokenType::BlockEnd, pos_);
            pos_ += 3;
            pos_ += whitespace_run(pos_);
            return;
          }
          if (starts_with(pos_, "%}")) {
            emit(TokenType::BlockEnd, pos_);
            pos_ += 2;
            if (pos_ < source_.size() && source_[pos_] == '\n') ++pos_;  // trim_blocks
            return;
          }
        } else {
          if (starts_with(pos_, "-}}")) {
            emit(TokenType::VariableEnd, pos_);
            pos_ += 3;
            pos_ += whitespace_run(pos_);
            return;
          }
          if (starts_with(pos_, "}}")) {
            emit(TokenType::VariableEnd, pos_);
            pos_ += 2;
            return;
          }
        }
      }
      if (const size_t ws = whitespace_run(pos_); ws > 0) {
        pos_ += ws;
        continue;
      }
      if (lex_number()) continue;
      const char c = source_[pos_];
      if (is_name_start(c)) {
        size_t end = pos_;
        while (end < source_.size() && is_name_char(source_[end])) ++end;
        emit(TokenType::Name, pos_, std::string(source_.substr(pos_, end - pos_)));
        pos_ = end;
        continue;
      }
      if (c == '\'' || c == '"') {
        lex_string();
        continue;
      }
      lex_operator(brackets);
    }
  }

  // Digits with single '_' separators between digit groups: (\d+_)*\d+. Returns the end.
  size_t digit_groups(size_t p) const {
    if (p >= source_.size() || !is_digit(source_[p])) return std::string_view::npos;
    while (true) {
      while (p < source_.size() && is_digit(source_[p])) ++p;
      if (p + 1 < source_.size() && source_[p] == '_' && is_digit(source_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  bool lex_number() {
    const char c = source_[pos_];
    if (!is_digit(c)) return false;
    // Float first (jinja2 tries its float rule before the integer rule); not after a '.'.
    if (pos_ == 0 || source_[pos_ - 1] != '.') {
      const size_t mantissa_end = digit_groups(pos_);
      size_t end = std::string_view::npos;
      size_t p = mantissa_end;
      size_t fraction_end = std::string_view::npos;
      if (p < source_.size() && source_[p] == '.') fraction_end = digit_groups(p + 1);
      size_t exponent_start = fraction_end != std::string_view::npos ? fraction_end : mantissa_end;
      if (exponent_start < source_.size() && (source_[exponent_start] == 'e' || source_[exponent_start] == 'E')) {
        size_t q = exponent_start + 1;
        if (q < source_.size() && (source_[q] == '+' || source_[q] == '-')) ++q;
        const size_t exponent_end = digit_groups(q);
        if (exponent_end != std::string_view::npos) end = exponent_end;
      }
      if (end == std::string_view::npos && fraction_end != std::string_view::npos) end = fraction_end;
      if (end != std::string_view::npos) {
        std::string digits;
        for (size_t i = pos_; i < end; ++i)
          if (source_[i] != '_') digits.push_back(source_[i]);
        Token token;
        token.type = TokenType::Float;
        token.floating = std::strtod(digits.c_str(), nullptr);
        token.where = location(pos_);
        token.text = digits;
        tokens_.push_back(std::move(token));
        pos_ = end;
        return true;
      }
    }
    // Integers: 0b.., 0o.., 0x.. (with optional single '_' before digits), decimal, zeros.
    int base = 10;
    size_t p = pos_;
    if (c == '0' && pos_ + 1 < source_.size()) {
      const char marker = static_cast<char>(source_[pos_ + 1] | 0x20);
      if (marker == 'b' || marker == 'o' || marker == 'x') base = marker == 'b' ? 2 : (marker == 'o' ? 8 : 16);
    }
    std::string digits;
    if (base != 10) {
      size_t q = pos_ + 2;
      const auto digit_ok = [&](char d) {
        const int v = hex_value(d);
        return v >= 0 && v < base;
      };
      while (true) {
        if (q < source_.size() && source_[q] == '_' && q + 1 < source_.size() && digit_ok(source_[q + 1])) ++q;
        if (q < source_.size() && digit_ok(source_[q])) {
          digits.push_back(source_[q++]);
          continue;
        }
        break;
      }
      if (digits.empty()) base = 10;  // "0x" without digits: the integer is just "0"
      else p = q;
    }
    if (base == 10) {
      digits.clear();
      if (c == '0') {
        // 0(_?0)*
        p = pos_ + 1;
        while (true) {
          if (p < source_.size() && source_[p] == '0') { ++p; continue; }
          if (p + 1 < source_.size() && source_[p] == '_' && source_[p + 1] == '0') { p += 2; continue; }
          break;
        }
        digits.assign(1, '0');  // not `= "0"`: GCC 12 warns falsely (-Wrestrict) on that inlined copy
      } else {
        p = pos_;
        while (true) {
          if (p < source_.size() && is_digit(source_[p])) { digits.push_back(source_[p++]); continue; }
          if (p + 1 < source_.size() && source_[p] == '_' && is_digit(source_[p + 1])) { ++p; continue; }
          break;
        }
      }
    }
    errno = 0;
    char* parse_end = nullptr;
    const unsigned long long value = std::strtoull(digits.c_str(), &parse_end, base);
    if (errno == ERANGE || value > static_cast<unsigned long long>(INT64_MAX))
      error("integer literal too large", pos_);
    Token token;
    token.type = TokenType::Integer;
    token.integer = static_cast<int64_t>(value);
    token.where = location(pos_);
    token.text = std::string(source_.substr(pos_, p - pos_));
    tokens_.push_back(std::move(token));
    pos_ = p;
    return true;
  }

  void lex_string() {
    const size_t start = pos_;
    const char quote = source_[pos_];
    size_t p = pos_ + 1;
    while (p < source_.size() && source_[p] != quote) {
      if (source_[p] == '\\') {
        if (p + 1 >= source_.size()) break;
        ++p;
        // skip the whole escaped code point
        size_t next = p;
        utf8::decode(source_, next);
        p = next;
        continue;
      }
      ++p;
    }
    if (p >= source_.size()) error("unexpected char '" + std::string(1, quote) + "'", start);
    Token token;
    token.type = TokenType::String;
    token.text = unescape(source_.substr(start + 1, p - start - 1), start);
    token.where = location(start);
    tokens_.push_back(std::move(token));
    pos_ = p + 1;
  }

  // jinja2 decodes string literals with Python's
  //   body.encode("ascii", "backslashreplace").decode("unicode-escape")
  // so first non-ASCII code points become \xhh / \uhhhh / \Uhhhhhhhh escapes, then the whole
  // thing is decoded as a Python escape sequence string. Doing the same two steps reproduces
  // every corner (unknown escapes stay verbatim, "\é" becomes the four characters "\xe9").
  std::string unescape(std::string_view body, size_t where) const {
    std::string ascii;
    ascii.reserve(body.size());
    for (size_t p = 0; p < body.size();) {
      const char32_t c = utf8::decode(body, p);
      if (c < 0x80) {
        ascii.push_back(static_cast<char>(c));
      } else {
        char buffer[16];
        if (c < 0x100) std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(c));
        else if (c < 0x10000) std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
        else std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(c));
        ascii += buffer;
      }
    }
    std::string out;
    out.reserve(ascii.size());
    for (size_t i = 0; i < ascii.size(); ++i) {
      const char c = ascii[i];
      if (c != '\\' || i + 1 >= ascii.size()) {
        out.push_back(c);
        continue;
      }
      const char e = ascii[++i];
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t count = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          char32_t value = 0;
          for (size_t k = 0; k < count; ++k) {
            const int h = i + 1 + k < ascii.size() ? hex_value(ascii[i + 1 + k]) : -1;
            if (h < 0) error(std::string("truncated \\") + e + " escape in string literal", where);
            value = value * 16 + static_cast<char32_t>(h);
          }
          if (value > 0x10FFFF) error("illegal Unicode character in string literal", where);
          if (value >= 0xD800 && value <= 0xDFFF) error("surrogate code point in string literal", where);
          utf8::append(out, value);
          i += count;
          break;
        }
        case 'N': error("\\N{...} escapes are not supported in string literals", where);
        default:
          if (e >= '0' && e <= '7') {
            char32_t value = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i + 1 < ascii.size() && ascii[i + 1] >= '0' && ascii[i + 1] <= '7'; ++k)
              value = value * 8 + static_cast<char32_t>(ascii[++i] - '0');
            utf8::append(out, value);
          } else {
            out.push_back('\\');  // unknown escape: kept verbatim
            out.push_back(e);
          }
      }
    }
    return out;
  }

  void lex_operator(std::vector<char>& brackets) {
    static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoChar) {
      if (starts_with(pos_, op)) {
        emit(TokenType::Operator, pos_, std::string(op));
        pos_ += 2;
        return;
      }
    }
    const char c = source_[pos_];
    static constexpr std::string_view kOneChar = "+-/*%~[](){}=.:|,;<>";
    if (kOneChar.find(c) == std::string_view::npos) {
      size_t next = pos_;
      std::string shown;
      utf8::append(shown, utf8::decode(source_, next));
      error("unexpected char '" + shown + "'", pos_);
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) error(std::string("unexpected '") + c + "'", pos_);
      const char expected = brackets.back();
      brackets.pop_back();
      if (expected != c) error(std::string("unexpected '") + c + "', expected '" + expected + "'", pos_);
    }
    emit(TokenType::Operator, pos_, std::string(1, c));
    ++pos_;
  }

  std::string_view source_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;
  mutable size_t cached_line_ = SIZE_MAX, cached_offset_ = 0, cached_column_ = 0;  // location()'s last answer
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace jisu::jinja
