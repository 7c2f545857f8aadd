#include "chat/jinja/value_access.h"

#include "chat/jinja/builtins.h"
#include "chat/jinja/python_repr.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

std::string object_type_repr(const Value& value) {
  switch (value.kind()) {
    case ValueKind::None: return "None";
    case ValueKind::String: return value.is_markup() ? "markupsafe.Markup object" : "str object";
    case ValueKind::Namespace: return "jinja2.utils.Namespace object";
    case ValueKind::Function: return value.as_function().is_macro ? "jinja2.runtime.Macro object" : "builtin_function_or_method object";
    case ValueKind::Object: return value.as_object().type_name() + " object";
    default: return type_name(value) + " object";
  }
}

namespace {

Value missing_attribute(const Value& object, const std::string& name) {
  // Starts from a std::string, not `"'" + string&&` (a false GCC 12 -Wrestrict).
  return Value::undefined(std::string("'").append(object_type_repr(object)) + "' has no attribute '" + name + "'");
}

}  // namespace

std::optional<Value> python_getattr(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case ValueKind::Namespace: {
      const Value* found = object.as_namespace().attributes.find(std::string_view(name));
      if (found) return *found;
      return std::nullopt;
    }
    case ValueKind::Object: {
      Value found = object.as_object().attribute(name);
      if (found.is_undefined()) return std::nullopt;
      return found;
    }
    default: return find_attribute(object, name);
  }
}

namespace {

// Python obj[key] for the subscription step; nullopt when Python raises TypeError/LookupError
// (which the sandbox turns into a fallback). Errors that are not those propagate.
std::optional<Value> python_getitem(const Value& object, const Value& key) {
  switch (object.kind()) {
    case ValueKind::Undefined: fail(object.undefined_message());
    case ValueKind::Dict: {
      if (!is_hashable(key)) return std::nullopt;
      const Value* found = object.as_dict().find(key);
      if (found) return *found;
      return std::nullopt;
    }
    case ValueKind::List:
    case ValueKind::Tuple: {
      if (!key.is_integral()) return std::nullopt;
      const ValueList& items = object.items();
      int64_t index = key.as_int();
      if (index < 0) index += static_cast<int64_t>(items.size());
      if (index < 0 || index >= static_cast<int64_t>(items.size())) return std::nullopt;
      return items[static_cast<size_t>(index)];
    }
    case ValueKind::String: {
      if (!key.is_integral()) return std::nullopt;
      const std::string& text = object.as_string();
      int64_t index = key.as_int();
      const auto length = static_cast<int64_t>(utf8::length(text));
      if (index < 0) index += length;
      if (index < 0 || index >= length) return std::nullopt;
      size_t begin = utf8::offset_of(text, static_cast<size_t>(index));
      size_t end = begin;
      utf8::decode(text, end);
      return Value::string(text.substr(begin, end - begin), object.is_markup());
    }
    default: return std::nullopt;
  }
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail(object.undefined_message());
  if (std::optional<Value> attribute = python_getattr(object, name)) return *attribute;
  if (std::optional<Value> item = python_getitem(object, Value::string(name))) return *item;
  return missing_attribute(object, name);
}

Value get_item(const Value& object, const Value& key) {
  if (std::optional<Value> item = python_getitem(object, key)) return *item;
  if (key.is_string()) {
    if (std::optional<Value> attribute = python_getattr(object, key.as_string())) return *attribute;
    return missing_attribute(object, key.as_string());
  }
  return Value::undefined(object_type_repr(object) + " has no element " + to_repr(key));
}

namespace {

// CPython's PySlice_AdjustIndices: clamps start/stop for a sequence of `length`.
void adjust_slice(int64_t length, int64_t& start, int64_t& stop, int64_t step, bool has_start, bool has_stop) {
  if (!has_start) {
    start = step < 0 ? length - 1 : 0;
  } else if (start < 0) {
    start += length;
    if (start < 0) start = step < 0 ? -1 : 0;
  } else if (start >= length) {
    start = step < 0 ? length - 1 : length;
  }
  if (!has_stop) {
    stop = step < 0 ? -1 : length;
  } else if (stop < 0) {
    stop += length;
    if (stop < 0) stop = step < 0 ? -1 : 0;
  } else if (stop >= length) {
    stop = step < 0 ? length - 1 : length;
  }
}

int64_t slice_bound(const Value* bound) {
  if (!bound->is_integral()) fail("slice indices must be integers or None or have an __index__ method");
  return bound->as_int();
}

}  // namespace

Value slice_value(const Value& object, const Value* start_value, const Value* stop_value, const Value* step_value) {
  if (object.is_undefined()) fail(object.undefined_message());
  // None bounds are the same as omitted ones.
  if (start_value && start_value->is_none()) start_value = nullptr;
  if (stop_value && stop_value->is_none()) stop_value = nullptr;
  if (step_value && step_value->is_none()) step_value = nullptr;
  int64_t start = start_value ? slice_bound(start_value) : 0;
  int64_t stop = stop_value ? slice_bound(stop_value) : 0;
  const int64_t step = step_value ? slice_bound(step_value) : 1;
  if (step == 0) fail("slice step cannot be zero");

  const auto collect = [&](int64_t length, auto&& take) {
    adjust_slice(length, start, stop, step, start_value != nullptr, stop_value != nullptr);
    if (step > 0)
      for (int64_t i = start; i < stop; i += step) take(i);
    else
      for (int64_t i = start; i > stop; i += step) take(i);
  };

  if (object.is_list_or_tuple()) {
    const ValueList& items = object.items();
    ValueList out;
    collect(static_cast<int64_t>(items.size()), [&](int64_t i) { out.push_back(items[static_cast<size_t>(i)]); });
    return object.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
  }
  if (object.is_string()) {
    const std::string& text = object.as_string();
    std::string out;
    if (utf8::is_ascii(text)) {
      collect(static_cast<int64_t>(text.size()), [&](int64_t i) { out.push_back(text[static_cast<size_t>(i)]); });
    } else {
      const std::u32string chars = utf8::to_u32(text);
      collect(static_cast<int64_t>(chars.size()), [&](int64_t i) { utf8::append(out, chars[static_cast<size_t>(i)]); });
    }
    return Value::string(std::move(out), object.is_markup());
  }
  if (object.is_dict()) fail("unhashable type: 'slice'");
  fail(std::string("'").append(type_name(object)) + "' object is not subscriptable");
}

ValueList iterate(const Value& value) {
  switch (value.kind()) {
    case ValueKind::Undefined: return {};
    case ValueKind::List:
    case ValueKind::Tuple: return value.items();
    case ValueKind::Dict: {
      ValueList keys;
      keys.reserve(value.as_dict().size());
      for (const auto& [key, item] : value.as_dict().entries()) keys.push_back(key);
      return keys;
    }
    case ValueKind::String: {
      ValueList chars;
      const std::string& text = value.as_string();
      for (size_t pos = 0; pos < text.size();) {
        const size_t begin = pos;
        utf8::decode(text, pos);
        chars.push_back(Value::string(text.substr(begin, pos - begin), value.is_markup()));
      }
      return chars;
    }
    case ValueKind::Object:
      if (value.as_object().iterable()) return value.as_object().take_items();
      [[fallthrough]];
    default: fail("'" + type_name(value) + "' object is not iterable");
  }
}

}  // namespace jisu::jinja
