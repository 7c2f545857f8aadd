#include "runtime/grammar/gbnf_grammar.h"

#include <functional>
#include <map>
#include <utility>

#include "core/error.h"

namespace jisu {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr int64_t kMaxRepetition = 100000;
constexpr int kMaxNesting = 256;  // parentheses inside parentheses

using Sequence = std::vector<GrammarElement>;  // Bytes and Rule elements (no End)
using ByteRange = std::pair<uint8_t, uint8_t>;

// Code point range [lo, hi] (no surrogates inside) -> UTF-8 byte-range sequences whose union
// is exactly the encodings of that range (the classic split: by encoded length, then until
// every continuation byte spans a whole or a prefix-aligned range).
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<ByteRange>>& out) {
  static constexpr uint32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF};
  for (uint32_t end : kLengthEnds)
    if (lo <= end && hi > end) {
      utf8_sequences(lo, end, out);
      utf8_sequences(end + 1, hi, out);
      return;
    }
  const int length = hi <= 0x7F ? 1 : hi <= 0x7FF ? 2 : hi <= 0xFFFF ? 3 : 4;
  for (int i = 1; i < length; ++i) {
    const uint32_t mask = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        utf8_sequences(lo, lo | mask, out);
        utf8_sequences((lo | mask) + 1, hi, out);
        return;
      }
      if ((hi & mask) != mask) {
        utf8_sequences(lo, (hi & ~mask) - 1, out);
        utf8_sequences(hi & ~mask, hi, out);
        return;
      }
    }
  }
  const auto encode = [length](uint32_t c, uint8_t* bytes) {
    if (length == 1) {
      bytes[0] = uint8_t(c);
    } else if (length == 2) {
      bytes[0] = uint8_t(0xC0 | (c >> 6)), bytes[1] = uint8_t(0x80 | (c & 0x3F));
    } else if (length == 3) {
      bytes[0] = uint8_t(0xE0 | (c >> 12)), bytes[1] = uint8_t(0x80 | ((c >> 6) & 0x3F));
      bytes[2] = uint8_t(0x80 | (c & 0x3F));
    } else {
      bytes[0] = uint8_t(0xF0 | (c >> 18)), bytes[1] = uint8_t(0x80 | ((c >> 12) & 0x3F));
      bytes[2] = uint8_t(0x80 | ((c >> 6) & 0x3F)), bytes[3] = uint8_t(0x80 | (c & 0x3F));
    }
  };
  uint8_t low[4], high[4];
  encode(lo, low);
  encode(hi, high);
  std::vector<ByteRange> sequence;
  for (int i = 0; i < length; ++i) sequence.emplace_back(low[i], high[i]);
  out.push_back(std::move(sequence));
}

void append_utf8(uint32_t c, std::string& out) {
  std::vector<std::vector<ByteRange>> one;
  utf8_sequences(c, c, one);
  for (const ByteRange& range : one[0]) out.push_back(char(range.first));
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Grammar parse() {
    if (text_.size() > Grammar::kMaxTextBytes)
      throw Error("grammar: the grammar has " + std::to_string(text_.size()) + " bytes; at most " +
                  std::to_string(Grammar::kMaxTextBytes) + " are allowed");
    for (;;) {
      skip_space();
      if (at_end()) break;
      const size_t line = line_;
      const std::string name = parse_name();
      skip_space();
      if (text_.substr(pos_, 3) != "::=") fail("expected '::=' after the rule name '" + name + "'");
      pos_ += 3;
      const int32_t id = rule_id(name, line);
      if (defined_[size_t(id)]) fail_at(line, "the rule '" + name + "' is defined twice");
      defined_[size_t(id)] = true;
      rules_[size_t(id)] = parse_alternatives(name, true, 0);
    }
    for (size_t i = 0; i < rules_.size(); ++i)
      if (!defined_[i]) fail_at(first_use_line_[i], "the rule '" + names_[i] + "' is used but never defined");
    const auto root = ids_.find("root");
    if (root == ids_.end()) throw Error("grammar: there is no 'root' rule", "the grammar starts at 'root ::= ...'");
    check_left_recursion();
    return flatten(root->second);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { fail_at(line_, message); }
  [[noreturn]] static void fail_at(size_t line, const std::string& message) {
    throw Error("grammar: line " + std::to_string(line) + ": " + message);
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (!at_end() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        if (c == '\n') ++line_;
        ++pos_;
      } else {
        break;
      }
    }
  }

  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(text_[pos_])) ++pos_;
    if (pos_ == start) fail(std::string("expected a rule name, found '") + peek() + "'");
    return std::string(text_.substr(start, pos_ - start));
  }

  // Whether a rule definition ("name ::=") starts here: it ends the previous rule.
  bool at_rule_start() const {
    size_t at = pos_;
    while (at < text_.size() && is_name_char(text_[at])) ++at;
    if (at == pos_) return false;
    while (at < text_.size() && (text_[at] == ' ' || text_[at] == '\t')) ++at;
    return text_.substr(at, 3) == "::=";
  }

  int32_t rule_id(const std::string& name, size_t line) {
    const auto [it, inserted] = ids_.emplace(name, int32_t(rules_.size()));
    if (inserted) {
      rules_.emplace_back();
      names_.push_back(name);
      defined_.push_back(false);
      first_use_line_.push_back(line);
    }
    return it->second;
  }

  int32_t new_rule(const std::string& base, std::vector<Sequence> alternatives) {
    const std::string name = base + "-" + std::to_string(rules_.size());
    const int32_t id = rule_id(name, line_);
    defined_[size_t(id)] = true;
    rules_[size_t(id)] = std::move(alternatives);
    return id;
  }

  void count(size_t elements) {
    total_ += elements;
    if (total_ > Grammar::kMaxElements)
      fail("the grammar expands to more than " + std::to_string(Grammar::kMaxElements) +
           " elements (lower the repetition counts)");
  }

  GrammarElement byte_set(const std::bitset<256>& set) {
    const auto [it, inserted] = set_ids_.emplace(set.to_string(), int32_t(sets_.size()));
    if (inserted) sets_.push_back(set);
    return {GrammarElement::Kind::Bytes, it->second};
  }

  std::vector<Sequence> parse_alternatives(const std::string& base, bool top_level, int depth) {
    if (depth > kMaxNesting) fail("parentheses nest deeper than " + std::to_string(kMaxNesting));
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence(base, top_level, depth));
    for (;;) {
      skip_space();
      if (peek() != '|') break;
      ++pos_;
      alternatives.push_back(parse_sequence(base, top_level, depth));
    }
    return alternatives;
  }

  Sequence parse_sequence(const std::string& base, bool top_level, int depth) {
    Sequence sequence;
    for (;;) {
      skip_space();
      if (at_end() || peek() == '|' || peek() == ')') break;
      if (top_level && at_rule_start()) break;
      Sequence item = parse_primary(base, depth);
      skip_space();
      item = parse_repetition(base, std::move(item));
      sequence.insert(sequence.end(), item.begin(), item.end());
    }
    return sequence;
  }

  Sequence parse_primary(const std::string& base, int depth) {
    const char c = peek();
    if (c == '"') {
      ++pos_;
      std::string bytes;
      while (peek() != '"') {
        if (at_end() || peek() == '\n') fail("a string literal is not closed");
        append_utf8(parse_char(), bytes);
      }
      ++pos_;
      Sequence sequence;
      count(bytes.size());
      for (char byte : bytes) {
        std::bitset<256> set;
        set.set(uint8_t(byte));
        sequence.push_back(byte_set(set));
      }
      return sequence;
    }
    if (c == '[') return {parse_class(base)};
    if (c == '.') {
      ++pos_;
      return {class_element(base, {{0, kMaxCodePoint}})};
    }
    if (c == '(') {
      ++pos_;
      std::vector<Sequence> alternatives = parse_alternatives(base, false, depth + 1);
      skip_space();
      if (peek() != ')') fail("a '(' is not closed");
      ++pos_;
      count(1);
      return {GrammarElement{GrammarElement::Kind::Rule, new_rule(base, std::move(alternatives))}};
    }
    if (is_name_char(c)) {
      const size_t line = line_;
      count(1);
      return {GrammarElement{GrammarElement::Kind::Rule, rule_id(parse_name(), line)}};
    }
    if (at_end()) fail("the rule ends where an element was expected");
    fail(std::string("unexpected character '") + c + "'");
  }

  int64_t parse_count() {
    const size_t start = pos_;
    int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      value = value * 10 + (peek() - '0');
      if (value > kMaxRepetition) fail("a repetition count is above " + std::to_string(kMaxRepetition));
      ++pos_;
    }
    if (pos_ == start) fail("expected a number in '{m,n}'");
    return value;
  }

  Sequence parse_repetition(const std::string& base, Sequence item) {
    int64_t min = 0, max = -1;  // max -1: unbounded
    const char c = peek();
    if (c == '*') {
      ++pos_;
    } else if (c == '+') {
      ++pos_, min = 1;
    } else if (c == '?') {
      ++pos_, max = 1;
    } else if (c == '{') {
      ++pos_;
      skip_space();
      min = parse_count();
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        if (peek() != '}') max = parse_count();
      } else {
        max = min;
      }
      skip_space();
      if (peek() != '}') fail("expected '}' to close '{m,n}'");
      ++pos_;
      if (max >= 0 && max < min) fail("a repetition {m,n} has n < m");
    } else {
      return item;
    }
    skip_space();
    if (item.size() != 1) {
      count(1);
      item = {GrammarElement{GrammarElement::Kind::Rule, new_rule(base, {item})}};
    }
    const GrammarElement x = item[0];
    Sequence out;
    count(size_t(min) + 2);
    out.assign(size_t(min), x);
    if (max < 0) {
      const int32_t star = new_rule(base, {});
      rules_[size_t(star)] = {{x, GrammarElement{GrammarElement::Kind::Rule, star}}, {}};
      out.push_back({GrammarElement::Kind::Rule, star});
    } else if (max > min) {
      int32_t previous = -1;
      for (int64_t k = 0; k < max - min; ++k) {
        count(2);
        Sequence more{x};
        if (previous >= 0) more.push_back({GrammarElement::Kind::Rule, previous});
        previous = new_rule(base, {more, {}});
      }
      out.push_back({GrammarElement::Kind::Rule, previous});
    }
    return out;
  }

  uint32_t parse_hex(int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = peek();
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) fail("expected " + std::to_string(digits) + " hex digits in an escape");
      value = value * 16 + uint32_t(digit);
      ++pos_;
    }
    if (value > kMaxCodePoint || (value >= 0xD800 && value <= 0xDFFF)) fail("an escape names no Unicode character");
    return value;
  }

  // One code point of a literal or class: an escape or a UTF-8 character of the text.
  uint32_t parse_char() {
    if (at_end()) fail("unexpected end of the grammar");
    const auto lead = uint8_t(text_[pos_]);
    if (lead == '\\') {
      ++pos_;
      if (at_end()) fail("the grammar ends inside an escape");
      const char e = text_[pos_++];
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        default:
          if (uint8_t(e) < 0x80 && !is_name_char(e)) return uint8_t(e);  // \\ \" \[ \] \- ...
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    if (lead < 0x80) {
      ++pos_;
      return lead;
    }
    const int length = lead >= 0xF0 && lead < 0xF5 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (length == 0 || pos_ + size_t(length) > text_.size()) fail("the grammar is not valid UTF-8");
    uint32_t c = lead & (0x7F >> length);
    for (int i = 1; i < length; ++i) {
      const auto next = uint8_t(text_[pos_ + size_t(i)]);
      if ((next & 0xC0) != 0x80) fail("the grammar is not valid UTF-8");
      c = (c << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMinOfLength[length] || c > kMaxCodePoint || (c >= 0xD800 && c <= 0xDFFF))
      fail("the grammar is not valid UTF-8");
    pos_ += size_t(length);
    return c;
  }

  GrammarElement parse_class(const std::string& base) {
    ++pos_;  // '['
    bool negated = false;
    if (peek() == '^') ++pos_, negated = true;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    while (peek() != ']') {
      if (at_end() || peek() == '\n') fail("a character class '[' is not closed");
      const uint32_t first = parse_char();
      uint32_t last = first;
      if (peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
        ++pos_;
        last = parse_char();
        if (last < first) fail("a character range runs backwards");
      }
      ranges.emplace_back(first, last);
    }
    ++pos_;
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& range : ranges) {
      if (!merged.empty() && range.first <= merged.back().second + 1)
        merged.back().second = std::max(merged.back().second, range.second);
      else
        merged.push_back(range);
    }
    if (negated) {
      std::vector<std::pair<uint32_t, uint32_t>> complement;
      uint32_t next = 0;
      for (const auto& [first, last] : merged) {
        if (first > next) complement.emplace_back(next, first - 1);
        next = last + 1;
      }
      if (next <= kMaxCodePoint) complement.emplace_back(next, kMaxCodePoint);
      merged = std::move(complement);
    }
    if (merged.empty()) fail("a character class matches nothing");
    return class_element(base, merged);
  }

  // Code point ranges (sorted, disjoint) -> one byte set when all ASCII, else a rule of UTF-8
  // byte-range sequences.
  GrammarElement class_element(const std::string& base, const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
    std::bitset<256> ascii;
    std::vector<std::vector<ByteRange>> sequences;
    for (auto [first, last] : ranges) {
      for (uint32_t c = first; c <= std::min<uint32_t>(last, 0x7F); ++c) ascii.set(c);
      first = std::max<uint32_t>(first, 0x80);
      if (first > last) continue;
      // Surrogates have no UTF-8 encoding.
      if (first < 0xD800 && last > 0xDFFF) {
        utf8_sequences(first, 0xD7FF, sequences);
        utf8_sequences(0xE000, last, sequences);
      } else if (last < 0xD800 || first > 0xDFFF) {
        utf8_sequences(first, last, sequences);
      } else if (first < 0xD800) {
        utf8_sequences(first, 0xD7FF, sequences);
      } else if (last > 0xDFFF) {
        utf8_sequences(0xE000, last, sequences);
      }
    }
    count(1);
    if (sequences.empty()) return byte_set(ascii);
    std::vector<Sequence> alternatives;
    if (ascii.any()) alternatives.push_back({byte_set(ascii)});
    for (const auto& sequence : sequences) {
      Sequence elements;
      count(sequence.size());
      for (const auto& [low, high] : sequence) {
        std::bitset<256> set;
        for (unsigned b = low; b <= high; ++b) set.set(b);
        elements.push_back(byte_set(set));
      }
      alternatives.push_back(std::move(elements));
    }
    return {GrammarElement::Kind::Rule, new_rule(base, std::move(alternatives))};
  }

  void check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<char> nullable(n, 0);
    const auto element_nullable = [&](const GrammarElement& e) {
      return e.kind == GrammarElement::Kind::Rule && nullable[size_t(e.value)];
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Sequence& alternative : rules_[r])
          if (std::all_of(alternative.begin(), alternative.end(), element_nullable)) {
            nullable[r] = 1;
            changed = true;
            break;
          }
      }
    }
    // Edges r -> s when s can be the first thing r matches; a cycle is left recursion.
    std::vector<char> color(n, 0);  // 0 new, 1 on the path, 2 done
    std::function<void(size_t)> visit = [&](size_t r) {
      color[r] = 1;
      for (const Sequence& alternative : rules_[r])
        for (const GrammarElement& e : alternative) {
          if (e.kind != GrammarElement::Kind::Rule) break;
          const auto s = size_t(e.value);
          if (color[s] == 1)
            throw Error("grammar: the rule '" + names_[s] + "' is left-recursive (it can reach itself before "
                        "matching any character)", "rewrite it right-recursively, e.g. list ::= item (\",\" item)*");
          if (color[s] == 0) visit(s);
          if (!nullable[s]) break;
        }
      color[r] = 2;
    };
    for (size_t r = 0; r < n; ++r)
      if (color[r] == 0) visit(r);
  }

  Grammar flatten(int32_t root) {
    Grammar grammar;
    grammar.root = root;
    grammar.byte_sets = std::move(sets_);
    grammar.rule_names = std::move(names_);
    grammar.rule_alternatives.resize(rules_.size());
    grammar.elements.reserve(total_ + rules_.size() * 2);
    for (size_t r = 0; r < rules_.size(); ++r)
      for (const Sequence& alternative : rules_[r]) {
        grammar.rule_alternatives[r].push_back(int32_t(grammar.elements.size()));
        grammar.elements.insert(grammar.elements.end(), alternative.begin(), alternative.end());
        grammar.elements.push_back({GrammarElement::Kind::End, 0});
      }
    return grammar;
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t line_ = 1;
  size_t total_ = 0;
  std::vector<std::vector<Sequence>> rules_;
  std::vector<std::string> names_;
  std::vector<char> defined_;
  std::vector<size_t> first_use_line_;
  std::map<std::string, int32_t> ids_;
  std::vector<std::bitset<256>> sets_;
  std::map<std::string, int32_t> set_ids_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text) { return Parser(text).parse(); }

}  // namespace jisu
