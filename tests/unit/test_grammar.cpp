// GBNF grammars, the byte automaton and its token masks, JSON Schema -> GBNF, and tool-call
// parsing. The masks are checked against an independent reference recognizer written here:
// plain stacks of grammar positions copied per step (no hash-consing, no tail calls, no caches).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/grammar/gbnf_grammar.h"
#include "runtime/grammar/grammar_matcher.h"
#include "server/json_schema_grammar.h"
#include "server/tool_calls.h"

namespace jisu {
namespace {

using nlohmann::json;

// ---- the reference recognizer ------------------------------------------------------------
// A stack holds, per open rule, the position of the element being matched (for a parent: the
// Rule element itself; popping a finished rule moves its parent one element on).
struct Reference {
  const Grammar& g;
  using Stack = std::vector<int32_t>;

  void expand(Stack stack, std::vector<Stack>& out, bool& accepting, int depth) const {
    ASSERT_LT(depth, 10000);
    if (stack.empty()) {
      accepting = true;
      return;
    }
    const GrammarElement& e = g.elements[size_t(stack.back())];
    if (e.kind == GrammarElement::Kind::End) {
      stack.pop_back();
      if (stack.empty()) {
        accepting = true;
        return;
      }
      stack.back() += 1;
      expand(std::move(stack), out, accepting, depth + 1);
    } else if (e.kind == GrammarElement::Kind::Bytes) {
      out.push_back(std::move(stack));
    } else {
      for (int32_t alternative : g.rule_alternatives[size_t(e.value)]) {
        Stack deeper = stack;
        deeper.push_back(alternative);
        expand(std::move(deeper), out, accepting, depth + 1);
      }
    }
  }
  // Whether `bytes` is a prefix of a sentence (alive) and whether it is a sentence (complete).
  void run(std::string_view bytes, bool& alive, bool& complete) const {
    std::vector<Stack> stacks;
    bool accepting = false;
    for (int32_t alternative : g.rule_alternatives[size_t(g.root)]) expand({alternative}, stacks, accepting, 0);
    for (char c : bytes) {
      std::vector<Stack> next;
      accepting = false;
      for (Stack& stack : stacks) {
        const GrammarElement& e = g.elements[size_t(stack.back())];
        if (!g.byte_sets[size_t(e.value)][uint8_t(c)]) continue;
        Stack moved = stack;
        moved.back() += 1;
        expand(std::move(moved), next, accepting, 0);
      }
      stacks = std::move(next);
      if (stacks.empty() && !accepting) {
        alive = complete = false;
        return;
      }
    }
    alive = true;
    complete = accepting;
  }
};

bool accepts(const std::string& gbnf, const std::string& text) {
  const Grammar g = parse_gbnf(gbnf);
  bool alive = false, complete = false;
  Reference{g}.run(text, alive, complete);
  // The automaton must agree with the reference on every whole string too.
  GrammarVocabulary vocabulary({"x"}, {"x"}, {0});
  GrammarMatcher matcher(std::make_shared<const Grammar>(g), vocabulary);
  const bool matched = matcher.accept_bytes(text) && matcher.can_end();
  EXPECT_EQ(matched, alive && complete) << text;
  return matched;
}

std::string expect_error(const std::string& gbnf) {
  try {
    parse_gbnf(gbnf);
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "accepted: " << gbnf;
  return {};
}

TEST(GbnfParser, LiteralsClassesRepetitionsAndGroups) {
  const std::string g = R"(
    # a comment
    root ::= "ab" [0-9]+ ("x" | "yz")? tail
    tail ::= [^a-c\n]{2,3}
  )";
  EXPECT_TRUE(accepts(g, "ab1xdd"));
  EXPECT_TRUE(accepts(g, "ab12yzddd"));
  EXPECT_TRUE(accepts(g, "ab9dd"));
  EXPECT_FALSE(accepts(g, "abxdd"));    // + needs one digit
  EXPECT_FALSE(accepts(g, "ab1d"));     // {2,3} needs two
  EXPECT_FALSE(accepts(g, "ab1xdddd"));  // ... at most three
  EXPECT_FALSE(accepts(g, "ab1xda"));   // negated class
  EXPECT_TRUE(accepts(g, "ab1x\xC3\xA9\xE2\x82\xAC"));  // é and € are not in [a-c\n]
  EXPECT_TRUE(accepts("root ::= \"\\x41\\u00e9\\n\" .", "A\xC3\xA9\nz"));
  EXPECT_TRUE(accepts("root ::= [\\u00e0-\\u00ff]", "\xC3\xA9"));
  EXPECT_FALSE(accepts("root ::= [\\u00e0-\\u00ff]", "\xC3\x80"));  // U+00C0 is below the range
  EXPECT_TRUE(accepts("root ::= [a-c]{3}", "abc"));
  EXPECT_FALSE(accepts("root ::= [a-c]{3}", "ab"));
  EXPECT_TRUE(accepts("root ::= \"a\"{2,}", "aaaaa"));
  EXPECT_TRUE(accepts("root ::= x\nx ::= \"q\" |\n  \"r\"", "r"));  // alternatives across lines
}

TEST(GbnfParser, RefusesBadGrammarsWithTheLine) {
  EXPECT_NE(expect_error("rot ::= \"a\"").find("no 'root'"), std::string::npos);
  EXPECT_NE(expect_error("root ::= missing").find("'missing' is used but never defined"), std::string::npos);
  EXPECT_NE(expect_error("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(expect_error("root ::= x \"a\"\nx ::= \"\" | root").find("left-recursive"), std::string::npos);
  EXPECT_NE(expect_error("root ::= \"a\"*\nx ::= (\"\")* \"b\"\nroot2 ::= x").find("left-recursive"),
            std::string::npos);  // (empty)* can repeat without consuming
  EXPECT_NE(expect_error("root ::= \"abc").find("line 1"), std::string::npos);
  EXPECT_NE(expect_error("\n\nroot ::= [a-").find("line 3"), std::string::npos);
  EXPECT_NE(expect_error("root ::= \"a\"{3,1}").find("n < m"), std::string::npos);
  EXPECT_NE(expect_error("root ::= [z-a]").find("backwards"), std::string::npos);
  std::string huge = "root ::=";
  for (int i = 0; i < 6; ++i) huge += " \"a\"{0,100000}";
  EXPECT_NE(expect_error(huge).find("more than"), std::string::npos);
  EXPECT_NE(expect_error("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(expect_error("root ::= (((\"a\")").find("not closed"), std::string::npos);
  EXPECT_NE(expect_error("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(expect_error("root ::= \"\xC3\"").find("UTF-8"), std::string::npos);
}

// ---- token masks against the reference ----------------------------------------------------

struct TestVocabulary {
  std::vector<std::string> bytes, start;
  std::vector<char> eog;
};

// Every single byte, then random pieces over JSON-ish characters (some with a leading space
// whose start form drops it, as SentencePiece words do), a control token and an end token.
TestVocabulary make_vocabulary(uint32_t seed) {
  TestVocabulary v;
  for (int b = 0; b < 256; ++b) v.bytes.push_back(std::string(1, char(b)));
  const std::vector<std::string> atoms = {"{", "}", "[", "]", "\"", ":", ",", " ", "\n", "0", "1", "7", "-", ".",
                                          "e", "a", "b", "n", "t", "r", "u", "l", "\\", "\xC3\xA9", "\xC3", "\xA9"};
  std::mt19937 rng(seed);
  for (int i = 0; i < 700; ++i) {
    std::string token;
    const int length = 1 + int(rng() % 4);
    for (int k = 0; k < length; ++k) token += atoms[rng() % atoms.size()];
    v.bytes.push_back(token);
  }
  for (const char* word : {"true", "false", "null", "{\"", "\":", "\",", " \"", "},", "\"}"}) v.bytes.push_back(word);
  v.start = v.bytes;
  for (std::string& s : v.start)
    if (s.size() > 1 && s[0] == ' ') s.erase(0, 1);
  v.bytes.push_back("");  // a control token: prints nothing
  v.start.push_back("");
  v.bytes.push_back("");  // end of generation
  v.start.push_back("");
  v.eog.assign(v.bytes.size(), 0);
  v.eog.back() = 1;
  return v;
}

void check_masks_against_reference(const std::string& gbnf, uint32_t seed, int walks, int steps) {
  const auto grammar = std::make_shared<const Grammar>(parse_gbnf(gbnf));
  const TestVocabulary tv = make_vocabulary(seed);
  GrammarVocabulary vocabulary(tv.bytes, tv.start, tv.eog);
  const Reference reference{*grammar};
  std::mt19937 rng(seed);
  for (int walk = 0; walk < walks; ++walk) {
    GrammarMatcher m(grammar, vocabulary);  // its caches fill as it walks: every step rechecks them
    GrammarMatcher lazy(grammar, vocabulary);  // asked token by token, never for a mask
    std::string text;
    for (int step = 0; step < steps; ++step) {
      const uint64_t* mask = m.allowed_tokens();
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < vocabulary.n_vocab(); ++t) {
        const bool bit = (mask[t / 64] >> (t % 64)) & 1;
        bool expected = false;
        if (tv.eog[size_t(t)]) {
          bool alive = false, complete = false;
          reference.run(text, alive, complete);
          expected = complete;
        } else {
          const std::string& piece = step == 0 ? tv.start[size_t(t)] : tv.bytes[size_t(t)];
          bool alive = false, complete = false;
          if (!piece.empty() && !tv.bytes[size_t(t)].empty()) reference.run(text + piece, alive, complete);
          expected = alive;
        }
        ASSERT_EQ(bit, expected) << "token " << t << " '" << (step == 0 ? tv.start[size_t(t)] : tv.bytes[size_t(t)])
                                 << "' after '" << text << "'";
        if (bit && !tv.eog[size_t(t)]) allowed.push_back(t);
        ASSERT_EQ(lazy.allows(t), expected && !tv.eog[size_t(t)]) << "allows(" << t << ") after '" << text << "'";
      }
      if (allowed.empty()) break;
      const int32_t chosen = allowed[rng() % allowed.size()];
      text += step == 0 ? tv.start[size_t(chosen)] : tv.bytes[size_t(chosen)];
      ASSERT_TRUE(m.accept_token(chosen));
      ASSERT_TRUE(lazy.accept_token(chosen));
      if (m.must_end()) break;
    }
  }
}

TEST(GrammarMask, AllowsExactlyTheTokensTheReferenceAccepts) {
  const std::string json_grammar = server::json_object_gbnf();
  check_masks_against_reference(json_grammar, 1, 3, 30);
  check_masks_against_reference(R"(root ::= "{" ws ("\"a\"" ":" ws [0-9]{1,3} | "\"b\"" ":" ws "true") "}"
ws ::= " "?)", 2, 8, 20);
  check_masks_against_reference("root ::= ([a-e] | \"\\u00e9\")+ \"!\"", 3, 6, 30);
  const std::string schema_grammar = server::json_schema_to_gbnf(json::parse(R"({
    "type": "object", "properties": {"n": {"type": "number"}, "list": {"type": "array", "items": {"type": "boolean"},
    "minItems": 1, "maxItems": 3}, "s": {"type": "string", "maxLength": 4}}, "required": ["list"]})"));
  check_masks_against_reference(schema_grammar, 4, 4, 30);
}

TEST(GrammarMask, EndsOnlyWhenCompleteAndRefusesDisallowedTokens) {
  const auto grammar = std::make_shared<const Grammar>(parse_gbnf("root ::= \"ab\" \"c\"?"));
  GrammarVocabulary vocabulary({"a", "b", "c", "", "abc"}, {"a", "b", "c", "", "abc"}, {0, 0, 0, 1, 0});
  GrammarMatcher m(grammar, vocabulary);
  EXPECT_FALSE(m.accept_token(1));
  EXPECT_FALSE(m.accept_token(3));  // end of generation is never "accepted"
  EXPECT_TRUE(m.accept_token(0));
  EXPECT_FALSE(m.can_end());
  EXPECT_EQ(m.allowed_tokens()[0], uint64_t{0b00010});  // only "b"
  EXPECT_TRUE(m.accept_token(1));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());
  EXPECT_EQ(m.allowed_tokens()[0], uint64_t{0b01100});  // "c" or the end
  EXPECT_TRUE(m.accept_token(2));
  EXPECT_TRUE(m.must_end());
}

// ---- JSON Schema -> grammar ------------------------------------------------------------------

bool schema_accepts(const json& schema, const std::string& document) {
  return accepts(server::json_schema_to_gbnf(schema), document);
}

TEST(JsonSchemaGrammar, GeneratesOnlyValidDocuments) {
  const json person = json::parse(R"({"type": "object", "additionalProperties": false,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5}, "age": {"type": "integer"},
                   "pets": {"type": "array", "items": {"enum": ["cat", "dog", 3, null]}, "maxItems": 2},
                   "kind": {"const": "human"}}, "required": ["name", "kind"]})");
  // Properties come in the schema's key order (nlohmann sorts keys: age, kind, name, pets).
  EXPECT_TRUE(schema_accepts(person, R"({"age": -12, "kind": "human", "name": "Ann", "pets": ["cat", 3]})"));
  EXPECT_TRUE(schema_accepts(person, R"({"kind": "human", "name": "A\u00e9"})"));
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "human"})"));                          // name required
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "human", "name": ""})"));              // minLength
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "human", "name": "Annabel"})"));       // maxLength
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "robot", "name": "A"})"));             // const
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "human", "name": "A", "x": 1})"));     // extra property
  EXPECT_FALSE(schema_accepts(person, R"({"kind": "human", "name": "A", "pets": [1]})"));  // enum
  EXPECT_FALSE(schema_accepts(person, R"({"age": 1.5, "kind": "human", "name": "A"})"));  // integer
  EXPECT_FALSE(schema_accepts(person, R"({, "kind": "human", "name": "A"})"));

  const json tree = json::parse(R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
    "properties": {"v": {"type": ["number", "null"]}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
    "required": ["v"]}}})");
  EXPECT_TRUE(schema_accepts(tree, R"({"kids": [{"v": null}, {"kids": [], "v": 2.5e3}], "v": 1})"));
  EXPECT_FALSE(schema_accepts(tree, R"({"kids": [{}], "v": 1})"));

  const json either = json::parse(R"({"anyOf": [{"type": "boolean"}, {"type": "array", "minItems": 2, "maxItems": 2}]})");
  EXPECT_TRUE(schema_accepts(either, "true"));
  EXPECT_TRUE(schema_accepts(either, R"([1, {"a": "b"}])"));
  EXPECT_FALSE(schema_accepts(either, "[1]"));
  EXPECT_TRUE(schema_accepts(json::parse(R"({"type": "object", "additionalProperties": {"type": "integer"}})"),
                             R"({"x": 1, "y": 2})"));
}

TEST(JsonSchemaGrammar, RefusesWhatItCannotEnforce) {
  for (const char* schema : {R"({"type": "string", "pattern": "^a"})", R"({"type": "integer", "minimum": 3})",
                             R"({"allOf": [{"type": "string"}]})", R"({"type": "strange"})",
                             R"({"$ref": "#/$defs/missing"})", R"({"$ref": "http://example.com/s.json"})",
                             R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})", "false", "3"}) {
    EXPECT_THROW(server::json_schema_to_gbnf(json::parse(schema)), server::SchemaError) << schema;
  }
}

// ---- tool calls ------------------------------------------------------------------------------

TEST(ToolCalls, ParsesEachFormat) {
  using server::ToolCallFormat;
  const std::vector<std::string> tools = {"get_weather", "add"};
  auto reply = server::parse_tool_calls(
      "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
      "<tool_call>{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>",
      ToolCallFormat::Hermes, tools);
  ASSERT_EQ(reply.calls.size(), 2u);
  EXPECT_EQ(reply.content, "Let me look.");
  EXPECT_EQ(reply.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(reply.calls[0].arguments), json::parse(R"({"city": "Paris"})"));
  EXPECT_EQ(json::parse(reply.calls[1].arguments), json::parse(R"({"a": 1})"));
  // Unknown function or broken JSON: it stays text.
  reply = server::parse_tool_calls("<tool_call>{\"name\": \"rm\", \"arguments\": {}}</tool_call>", ToolCallFormat::Hermes, tools);
  EXPECT_TRUE(reply.calls.empty());
  EXPECT_EQ(reply.content, "<tool_call>{\"name\": \"rm\", \"arguments\": {}}</tool_call>");
  reply = server::parse_tool_calls("<tool_call>{\"name\": \"add\", ", ToolCallFormat::Hermes, tools);
  EXPECT_TRUE(reply.calls.empty());

  reply = server::parse_tool_calls("<|python_tag|>{\"name\": \"add\", \"parameters\": {\"a\": 2}}", ToolCallFormat::Llama3Json, tools);
  ASSERT_EQ(reply.calls.size(), 1u);
  EXPECT_EQ(json::parse(reply.calls[0].arguments), json::parse(R"({"a": 2})"));
  reply = server::parse_tool_calls("The weather is fine.", ToolCallFormat::Llama3Json, tools);
  EXPECT_TRUE(reply.calls.empty());
  EXPECT_EQ(reply.content, "The weather is fine.");

  reply = server::parse_tool_calls("[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 1}}, {\"name\": "
                                   "\"get_weather\", \"arguments\": {}}]", ToolCallFormat::Mistral, tools);
  ASSERT_EQ(reply.calls.size(), 2u);
  EXPECT_EQ(reply.calls[1].name, "get_weather");
}

TEST(ToolCalls, DetectsTheFormatFromRealTemplatesAndConstrainsCalls) {
  const std::string dir = std::string(JISU_DEFAULT_SHARED_DIR) + "/fixtures/chat-templates/";
  const auto read = [&](const char* name) {
    std::ifstream in(dir + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  using server::ToolCallFormat;
  EXPECT_EQ(server::detect_tool_call_format(read("Qwen-Qwen2.5-7B-Instruct.jinja")), ToolCallFormat::Hermes);
  EXPECT_EQ(server::detect_tool_call_format(read("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")), ToolCallFormat::Hermes);
  EXPECT_EQ(server::detect_tool_call_format(read("meta-llama-Llama-3.1-8B-Instruct.jinja")), ToolCallFormat::Llama3Json);
  EXPECT_EQ(server::detect_tool_call_format(read("mistralai-Mistral-Nemo-Instruct-2407.jinja")), ToolCallFormat::Mistral);

  const std::vector<std::string> names = {"add", "echo"};
  const std::vector<json> parameters = {
      json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})"),
      json::parse(R"({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})")};
  for (ToolCallFormat format : {ToolCallFormat::Hermes, ToolCallFormat::Llama3Json, ToolCallFormat::Mistral}) {
    const std::string any = server::tool_call_grammar(format, names, parameters, "");
    const std::string only_echo = server::tool_call_grammar(format, names, parameters, "echo");
    const std::string key = format == ToolCallFormat::Llama3Json ? "parameters" : "arguments";
    std::string add_call = "{\"name\": \"add\", \"" + key + "\": {\"a\": 5}}";
    std::string echo_call = "{\"name\": \"echo\", \"" + key + "\": {\"text\": \"hi\"}}";
    const auto wrap = [&](const std::string& call) {
      return format == ToolCallFormat::Hermes    ? "<tool_call>\n" + call + "\n</tool_call>"
             : format == ToolCallFormat::Mistral ? "[TOOL_CALLS][" + call + "]"
                                                 : call;
    };
    EXPECT_TRUE(accepts(any, wrap(add_call)));
    EXPECT_TRUE(accepts(any, wrap(echo_call)));
    EXPECT_FALSE(accepts(only_echo, wrap(add_call)));
    EXPECT_TRUE(accepts(only_echo, wrap(echo_call)));
    // What the grammar forces, the parser reads back.
    const auto parsed = server::parse_tool_calls(wrap(echo_call), format, names);
    ASSERT_EQ(parsed.calls.size(), 1u);
    EXPECT_EQ(parsed.calls[0].name, "echo");
  }
}

}  // namespace
}  // namespace jisu
