#include "chat/jinja/json_bridge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/jinja/python_repr.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

namespace {

// Deeper JSON than this is refused rather than recursed into.
constexpr int kMaxJsonDepth = 512;

template <typename Json>
Value convert(const Json& json, int depth) {
  if (depth > kMaxJsonDepth) fail("JSON input is nested too deeply");
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto value = json.template get<uint64_t>();
      if (value > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(value));
      return Value::integer(static_cast<int64_t>(value));
    }
    case nlohmann::json::value_t::number_float: return Value::number(json.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(convert(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      for (auto it = json.begin(); it != json.end(); ++it) dict.set(Value::string(it.key()), convert(it.value(), depth + 1));
      return Value::dict(std::move(dict));
    }
    default: fail("unsupported JSON value (binary data)");
  }
}

std::string float_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return float_repr(value);
}

void append_json_string(std::string& out, std::string_view text, bool ensure_ascii) {
  out.push_back('"');
  char buffer[16];
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = utf8::decode(text, pos);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        std::snprintf(buffer, sizeof buffer, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buffer;
    } else {
      utf8::append(out, c);
    }
  }
  out.push_back('"');
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {
    item_separator_ = options.item_separator.value_or(options.indent ? "," : ", ");
    key_separator_ = options.key_separator.value_or(": ");
  }

  void dump(const Value& value, int depth) {
    if (depth > kMaxJsonDepth) fail("maximum nesting depth exceeded while serializing to JSON");
    switch (value.kind()) {
      case ValueKind::None: out_ += "null"; return;
      case ValueKind::Bool: out_ += value.as_bool() ? "true" : "false"; return;
      case ValueKind::Int: out_ += std::to_string(value.as_int()); return;
      case ValueKind::Float: out_ += float_text(value.as_float()); return;
      case ValueKind::String: append_json_string(out_, value.as_string(), options_.ensure_ascii); return;
      case ValueKind::List:
      case ValueKind::Tuple: {
        const ValueList& items = value.items();
        if (items.empty()) {
          out_ += "[]";
          return;
        }
        enter(value);
        out_.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out_ += item_separator_;
          newline(depth + 1);
          dump(items[i], depth + 1);
        }
        newline(depth);
        out_.push_back(']');
        leave();
        return;
      }
      case ValueKind::Dict: {
        const Dict& dict = value.as_dict();
        if (dict.empty()) {
          out_ += "{}";
          return;
        }
        enter(value);
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& entry : dict.entries()) entries.push_back(&entry);
        if (options_.sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto* a, const auto* b) { return less_than(a->first, b->first); });
        out_.push_back('{');
        bool first = true;
        for (const auto* entry : entries) {
          if (!first) out_ += item_separator_;
          first = false;
          newline(depth + 1);
          append_json_string(out_, key_text(entry->first), options_.ensure_ascii);
          out_ += key_separator_;
          dump(entry->second, depth + 1);
        }
        newline(depth);
        out_.push_back('}');
        leave();
        return;
      }
      default: fail("Object of type " + type_name(value) + " is not JSON serializable");
    }
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string key_text(const Value& key) {
    switch (key.kind()) {
      case ValueKind::String: return key.as_string();
      case ValueKind::Int: return std::to_string(key.as_int());
      case ValueKind::Float: return float_text(key.as_float());
      case ValueKind::Bool: return key.as_bool() ? "true" : "false";
      case ValueKind::None: return "null";
      default: fail("keys must be str, int, float, bool or None, not " + type_name(key));
    }
  }

  void newline(int depth) {
    if (!options_.indent) return;
    out_.push_back('\n');
    for (int i = 0; i < depth; ++i) out_ += *options_.indent;
    if (out_.size() > (size_t{64} << 20)) fail("JSON output is too large");
  }

  void enter(const Value& container) {
    if (std::find(stack_.begin(), stack_.end(), container.identity()) != stack_.end()) fail("Circular reference detected");
    stack_.push_back(container.identity());
  }
  void leave() { stack_.pop_back(); }

  const JsonDumpOptions& options_;
  std::string item_separator_, key_separator_;
  std::string out_;
  std::vector<const void*> stack_;
};

}  // namespace

Value value_from_json(const nlohmann::json& json) { return convert(json, 0); }
Value value_from_json(const nlohmann::ordered_json& json) { return convert(json, 0); }

std::string json_dumps(const Value& value, const JsonDumpOptions& options) {
  Dumper dumper(options);
  dumper.dump(value, 0);
  return dumper.take();
}

}  // namespace jisu::jinja
