#pragma once
// GBNF grammars (llama.cpp's syntax) compiled to rules over bytes.
//
//   root   ::= object                # a rule: name ::= alternatives; `root` is the start
//   object ::= "{" ws (pair ("," ws pair)*)? "}"
//   ws     ::= [ \t\n]*              # char classes, negation [^...], ranges, escapes, `.` = any char
//   digits ::= [0-9]{1,15}           # repetition: * + ? {m} {m,} {m,n}
//
// Literals and character classes are Unicode code points; they are compiled to UTF-8 byte
// sequences (a class over non-ASCII code points becomes a rule of byte-range sequences), so the
// matcher (grammar_matcher.h) walks bytes and accepts a token that ends mid-character exactly
// when some completion of it is accepted. Repetitions and groups become generated rules
// (X* -> S ::= X S | empty, right-recursive so that the matcher's stacks stay shallow).
//
// Refused with jisu::Error naming the line: syntax errors, undefined rules, a missing `root`,
// left recursion (a rule that can reach itself without consuming a byte: the matcher would
// never terminate on it), and grammars past kMaxElements elements (e.g. x{0,1000000}).
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jisu {

struct GrammarElement {
  enum class Kind : uint8_t { Bytes, Rule, End };
  Kind kind = Kind::End;
  int32_t value = 0;  // Bytes: index into byte_sets; Rule: rule index
};

struct Grammar {
  static constexpr size_t kMaxElements = size_t{1} << 20;
  static constexpr size_t kMaxTextBytes = size_t{1} << 20;

  // Every alternative of every rule, each ending with an End element.
  std::vector<GrammarElement> elements;
  std::vector<std::bitset<256>> byte_sets;
  std::vector<std::vector<int32_t>> rule_alternatives;  // rule -> first element of each alternative
  std::vector<std::string> rule_names;                  // generated rules are named "name-N"
  int32_t root = 0;
};

// Throws jisu::Error ("grammar: line 3: ...") for anything refused above.
Grammar parse_gbnf(std::string_view text);

}  // namespace jisu
