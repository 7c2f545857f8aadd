#include "server/json_schema_grammar.h"

#include <set>

namespace jisu::server {
namespace {

using nlohmann::json;

constexpr int kMaxSchemaDepth = 64;
constexpr int64_t kMaxCount = 1000;  // minItems/maxItems/minLength/maxLength we expand

// Rules every grammar carries (unreferenced ones cost nothing at run time).
constexpr char kJsonRules[] = R"(ws ::= (" " | "\n" " "{0,4})?
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws (string ":" ws value ("," ws string ":" ws value)*)? "}"
array ::= "[" ws (value ("," ws value)*)? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
integer ::= "-"? ([0-9] | [1-9] [0-9]{0,15})
number ::= integer ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?
boolean ::= "true" | "false"
null ::= "null"
)";

const std::set<std::string>& known_keywords() {
  static const std::set<std::string> keywords = {
      "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength",
      "maxLength", "enum", "const", "anyOf", "oneOf", "$ref", "$defs", "definitions", "title", "description",
      "default", "examples", "$schema", "$id", "$comment", "strict"};
  return keywords;
}

[[noreturn]] void refuse(const std::string& path, const std::string& message) {
  throw SchemaError("JSON schema at " + path + ": " + message);
}

int64_t read_count(const json& schema, const char* key, int64_t fallback, const std::string& path) {
  const auto it = schema.find(key);
  if (it == schema.end()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    refuse(path, std::string("'") + key + "' must be a non-negative integer");
  if (it->get<int64_t>() > kMaxCount) refuse(path, std::string("'") + key + "' above " + std::to_string(kMaxCount) + " is not supported");
  return it->get<int64_t>();
}

std::string sanitize(const std::string& hint) {
  std::string name;
  for (char c : hint) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    name.push_back(ok ? c : '-');
    if (name.size() >= 40) break;
  }
  return name.empty() ? "x" : name;
}

// "x{min,max}" with max < 0 meaning unbounded.
std::string repeat(const std::string& item, int64_t min, int64_t max) {
  if (max < 0) return min == 0 ? item + "*" : item + "{" + std::to_string(min) + ",}";
  if (min == max) return item + "{" + std::to_string(min) + "}";
  return item + "{" + std::to_string(min) + "," + std::to_string(max) + "}";
}

}  // namespace

std::string gbnf_quote(std::string_view text) {
  std::string out = "\"";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte == 0x7F) {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string JsonGrammarBuilder::add_rule(const std::string& name_hint, const std::string& body) {
  const std::string name = sanitize(name_hint) + "-" + std::to_string(counter_++);
  rules_ += name + " ::= " + body + "\n";
  return name;
}

std::string JsonGrammarBuilder::grammar(const std::string& root_body) const {
  return "root ::= " + root_body + "\n" + rules_ + kJsonRules;
}

std::string JsonGrammarBuilder::add_schema(const json& schema, const std::string& name_hint, const json* root) {
  if (root && root != root_) {
    root_ = root;
    refs_.clear();  // $refs of another document
  }
  return visit(schema, name_hint, "#", 0);
}

std::string JsonGrammarBuilder::visit(const json& schema, const std::string& hint, const std::string& path, int depth) {
  if (depth > kMaxSchemaDepth) refuse(path, "nests deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return "value";
    refuse(path, "the schema 'false' admits no document");
  }
  if (!schema.is_object()) refuse(path, "a schema must be an object or a boolean");
  for (const auto& [key, value] : schema.items())
    if (!known_keywords().contains(key))
      refuse(path, "the keyword '" + key + "' is not supported by constrained decoding");

  if (const auto ref = schema.find("$ref"); ref != schema.end()) {
    if (!ref->is_string()) refuse(path, "'$ref' must be a string");
    const std::string target = ref->get<std::string>();
    for (const auto& [known, rule] : refs_)
      if (known == target) return rule;
    std::string name;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (target.rfind(p, 0) != 0) continue;
      const std::string key = target.substr(p.size());
      const char* section = p == "#/$defs/" ? "$defs" : "definitions";
      const auto defs = root_->find(section);
      if (defs == root_->end() || !defs->is_object() || !defs->contains(key))
        refuse(path, "'$ref' " + target + " names no definition");
      // Named before visiting, so that a recursive definition refers to itself.
      name = sanitize("ref-" + key) + "-" + std::to_string(counter_++);
      refs_.emplace_back(target, name);
      const std::string body = visit((*defs)[key], key, target, depth + 1);
      rules_ += name + " ::= " + body + "\n";
      return name;
    }
    refuse(path, "'$ref' " + target + " is not supported (only #/$defs/NAME and #/definitions/NAME)");
  }
  if (const auto constant = schema.find("const"); constant != schema.end())
    return add_rule(hint + "-const", gbnf_quote(constant->dump()));
  if (const auto values = schema.find("enum"); values != schema.end()) {
    if (!values->is_array() || values->empty()) refuse(path, "'enum' must be a non-empty array");
    std::string body;
    for (const json& value : *values) body += (body.empty() ? "" : " | ") + gbnf_quote(value.dump());
    return add_rule(hint + "-enum", body);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    const auto options = schema.find(key);
    if (options == schema.end()) continue;
    if (!options->is_array() || options->empty()) refuse(path, std::string("'") + key + "' must be a non-empty array");
    // oneOf as anyOf: a document matching two branches would be invalid; our branches are
    // what the caller wrote, and generating from either keeps the common case right.
    std::string body;
    for (size_t i = 0; i < options->size(); ++i)
      body += (body.empty() ? "" : " | ") +
              visit((*options)[i], hint + "-" + std::to_string(i), path + "/" + key + "/" + std::to_string(i), depth + 1);
    return add_rule(hint, body);
  }
  const auto type = schema.find("type");
  if (type == schema.end()) {
    if (schema.contains("properties") || schema.contains("additionalProperties") || schema.contains("required"))
      return type_rule("object", schema, hint, path, depth);
    if (schema.contains("items") || schema.contains("minItems") || schema.contains("maxItems"))
      return type_rule("array", schema, hint, path, depth);
    if (schema.contains("minLength") || schema.contains("maxLength")) return type_rule("string", schema, hint, path, depth);
    return "value";
  }
  if (type->is_string()) return type_rule(type->get<std::string>(), schema, hint, path, depth);
  if (!type->is_array() || type->empty()) refuse(path, "'type' must be a string or a non-empty array of strings");
  std::string body;
  for (const json& one : *type) {
    if (!one.is_string()) refuse(path, "'type' must be a string or a non-empty array of strings");
    body += (body.empty() ? "" : " | ") + type_rule(one.get<std::string>(), schema, hint, path, depth);
  }
  return add_rule(hint, body);
}

std::string JsonGrammarBuilder::type_rule(const std::string& type, const json& schema, const std::string& hint,
                                          const std::string& path, int depth) {
  if (type == "object") return object_rule(schema, hint, path, depth);
  if (type == "array") return array_rule(schema, hint, path, depth);
  if (type == "string") return string_rule(schema, hint, path);
  if (type == "number" || type == "integer" || type == "boolean" || type == "null") return type;
  refuse(path, "unknown type '" + type + "'");
}

std::string JsonGrammarBuilder::string_rule(const json& schema, const std::string& hint, const std::string& path) {
  const int64_t min = read_count(schema, "minLength", 0, path);
  const int64_t max = read_count(schema, "maxLength", -1, path);
  if (max >= 0 && max < min) refuse(path, "'maxLength' is below 'minLength'");
  if (min == 0 && max < 0) return "string";
  return add_rule(hint + "-string", "\"\\\"\" " + repeat("char", min, max) + " \"\\\"\"");
}

std::string JsonGrammarBuilder::array_rule(const json& schema, const std::string& hint, const std::string& path,
                                           int depth) {
  const int64_t min = read_count(schema, "minItems", 0, path);
  const int64_t max = read_count(schema, "maxItems", -1, path);
  if (max >= 0 && max < min) refuse(path, "'maxItems' is below 'minItems'");
  const auto items = schema.find("items");
  if (items != schema.end() && items->is_array()) refuse(path, "'items' as an array (tuples) is not supported");
  const std::string item = items == schema.end() ? "value" : visit(*items, hint + "-item", path + "/items", depth + 1);
  if (max == 0) return add_rule(hint, "\"[\" ws \"]\"");
  const std::string more = "(\",\" ws " + item + ")";
  const std::string list = item + " " + repeat(more, min > 0 ? min - 1 : 0, max < 0 ? -1 : max - 1);
  return add_rule(hint, "\"[\" ws " + (min == 0 ? "(" + list + ")?" : list) + " \"]\"");
}

std::string JsonGrammarBuilder::object_rule(const json& schema, const std::string& hint, const std::string& path,
                                            int depth) {
  const auto properties = schema.find("properties");
  const auto additional = schema.find("additionalProperties");
  const bool has_properties = properties != schema.end() && !properties->empty();
  if (properties != schema.end() && !properties->is_object()) refuse(path, "'properties' must be an object");
  std::set<std::string> required;
  if (const auto list = schema.find("required"); list != schema.end()) {
    if (!list->is_array()) refuse(path, "'required' must be an array of property names");
    for (const json& name : *list) {
      if (!name.is_string()) refuse(path, "'required' must be an array of property names");
      if (!has_properties || !properties->contains(name.get<std::string>()))
        refuse(path, "the required property '" + name.get<std::string>() + "' is not in 'properties'");
      required.insert(name.get<std::string>());
    }
  }
  if (!has_properties) {
    if (additional != schema.end() && additional->is_object()) {
      // A map: any keys, every value of this schema.
      const std::string value = visit(*additional, hint + "-value", path + "/additionalProperties", depth + 1);
      const std::string pair = "string \":\" ws " + value;
      return add_rule(hint, "\"{\" ws (" + pair + " (\",\" ws " + pair + ")*)? \"}\"");
    }
    if (additional != schema.end() && additional->is_boolean() && !additional->get<bool>())
      return add_rule(hint, "\"{\" ws \"}\"");
    return "object";
  }
  // Properties in order; required ones always, optional ones maybe. first[i]: properties i..
  // when none was written yet (no comma before the next); rest[i]: after one was.
  std::vector<std::pair<std::string, std::string>> pairs;  // name -> rule of "\"name\":" ws value
  for (const auto& [name, property] : properties->items()) {
    const std::string value = visit(property, hint + "-" + name, path + "/properties/" + name, depth + 1);
    pairs.emplace_back(name, add_rule(hint + "-" + name + "-kv", gbnf_quote(json(name).dump()) + " \":\" ws " + value));
  }
  const size_t n = pairs.size();
  std::vector<std::string> first(n + 1), rest(n + 1);
  first[n] = rest[n] = "\"\"";
  for (size_t k = n; k-- > 0;) {
    const bool must = required.contains(pairs[k].first);
    const std::string& kv = pairs[k].second;
    const std::string rest_body = must ? "\",\" ws " + kv + " " + rest[k + 1] : "(\",\" ws " + kv + ")? " + rest[k + 1];
    rest[k] = add_rule(hint + "-rest", rest_body);
    const std::string first_body = must ? kv + " " + rest[k + 1] : kv + " " + rest[k + 1] + " | " + first[k + 1];
    first[k] = add_rule(hint + "-first", first_body);
  }
  return add_rule(hint, "\"{\" ws " + first[0] + " \"}\"");
}

std::string json_schema_to_gbnf(const json& schema) {
  JsonGrammarBuilder builder(schema);
  const std::string root = builder.add_schema(schema, "root");
  return builder.grammar(root);
}

std::string json_object_gbnf() { return JsonGrammarBuilder(json::object()).grammar("object"); }

}  // namespace jisu::server
