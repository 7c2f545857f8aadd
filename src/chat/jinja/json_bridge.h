#pragma once
// JSON in and out of the interpreter:
//   * nlohmann JSON -> Value, the way Python's json.load builds objects (objects keep their key
//     order when given an ordered_json; integers stay ints, 1.0 stays a float);
//   * Value -> JSON text exactly as Python's json.dumps writes it, which is what Hugging Face's
//     `tojson` filter calls: ensure_ascii=False by default, ", " / ": " separators, optional
//     indent, float repr ("1.0", "1e-05", NaN, Infinity), "\u001b" escapes in lower case.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/jinja/value.h"

namespace jisu::jinja {

Value value_from_json(const nlohmann::json& json);
Value value_from_json(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt: single line
  std::optional<std::string> item_separator;  // default ", " (or "," with indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
};

// Throws TemplateError for values json.dumps rejects (Undefined, namespaces, functions, keys
// that are not str/int/float/bool/None, circular or too deeply nested structures).
std::string json_dumps(const Value& value, const JsonDumpOptions& options);

}  // namespace jisu::jinja
