// libFuzzer target: grammars and schemas from requests. The input is parsed as GBNF (and, when
// it parses, walked by the matcher over its own bytes and a small vocabulary) and, when it is
// shallow JSON, converted as a JSON Schema. Every input must end in a grammar or a one-line
// error; any other exception, a crash or a hang is a finding.
#include <jisu/json_nesting.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "runtime/grammar/gbnf_grammar.h"
#include "runtime/grammar/grammar_matcher.h"
#include "server/json_schema_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  static const jisu::GrammarVocabulary vocabulary({"{", "\"a", "1", " ", "}", "é", ""}, {"{", "\"a", "1", "", "}", "é", ""},
                                                  {0, 0, 0, 0, 0, 0, 1});
  try {
    auto grammar = std::make_shared<const jisu::Grammar>(jisu::parse_gbnf(text));
    jisu::GrammarMatcher matcher(grammar, vocabulary);
    matcher.allowed_tokens();
    matcher.accept_bytes(text.substr(0, 64));
    matcher.allowed_tokens();
  } catch (const jisu::Error&) {
  }
  if (jisu::json_nesting_depth(text, 64) <= 64) {
    const nlohmann::json schema = nlohmann::json::parse(text, nullptr, false);
    if (!schema.is_discarded()) {
      try {
        (void)jisu::parse_gbnf(jisu::server::json_schema_to_gbnf(schema));
      } catch (const jisu::server::SchemaError&) {
      } catch (const jisu::Error&) {  // a grammar past the parser's bounds: a 400 in the server too
      }
    }
  }
  return 0;
}
