#pragma once
// JSON Schema -> GBNF grammar (for response_format json_schema, tools and `jisu run
// --json-schema`): every sentence of the grammar is a compact JSON document valid against the
// schema (a subset of the valid documents: properties in a fixed order, bounded whitespace,
// integers of at most 16 digits, numbers with at most 15 fraction digits).
//
// Supported: type (one or a list), properties / required / additionalProperties (extra
// properties are never generated; additionalProperties as a schema without properties is a
// map), items / minItems / maxItems, string minLength / maxLength, enum, const, anyOf, oneOf,
// $ref to #/$defs/... or #/definitions/... (recursion allowed), and the annotations title,
// description, default, examples, $schema, $id, $comment. Anything else (pattern, format,
// minimum, allOf, ...) is refused with SchemaError naming the keyword and where it is, rather
// than silently producing documents the schema rejects.
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace jisu::server {

struct SchemaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// GBNF text whose root is a document valid against `schema`. Throws SchemaError.
std::string json_schema_to_gbnf(const nlohmann::json& schema);
// GBNF for any JSON object (response_format json_object).
std::string json_object_gbnf();

// Pieces for other generators (tool calls): the rules every generated grammar shares, and a
// converter that adds a schema's rules under a prefix and returns the rule to reference.
class JsonGrammarBuilder {
 public:
  explicit JsonGrammarBuilder(const nlohmann::json& root_schema) : root_(&root_schema) {}
  // Adds the rules of `schema` (whose $refs resolve in `root`, or the builder's root schema);
  // returns its rule name.
  std::string add_schema(const nlohmann::json& schema, const std::string& name_hint,
                         const nlohmann::json* root = nullptr);
  // Adds a rule with a fresh name made from the hint; returns the name.
  std::string add_rule(const std::string& name_hint, const std::string& body);
  // All rules, the shared JSON ones included, with `root ::= root_body` first.
  std::string grammar(const std::string& root_body) const;

 private:
  std::string visit(const nlohmann::json& schema, const std::string& hint, const std::string& path, int depth);
  std::string object_rule(const nlohmann::json& schema, const std::string& hint, const std::string& path, int depth);
  std::string array_rule(const nlohmann::json& schema, const std::string& hint, const std::string& path, int depth);
  std::string string_rule(const nlohmann::json& schema, const std::string& hint, const std::string& path);
  std::string type_rule(const std::string& type, const nlohmann::json& schema, const std::string& hint,
                        const std::string& path, int depth);

  const nlohmann::json* root_;
  std::string rules_;
  int counter_ = 0;
  std::vector<std::pair<std::string, std::string>> refs_;  // $ref -> rule name
};

// A GBNF string literal matching exactly `text`.
std::string gbnf_quote(std::string_view text);

}  // namespace jisu::server
