#include "chat/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

// ---- Dict -------------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries_)
    if (values_equal(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries_) {
    if (values_equal(k, key)) {
      v = std::move(value);  // Python keeps the original key object and position
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

// ---- NativeObject -----------------------------------------------------------------------

// Messages start from a std::string, not `"'" + type_name()`: GCC 12 misreads the inlined
// insert of a literal into a temporary as an overlapping copy (-Wrestrict).
Value NativeObject::attribute(const std::string& name) {
  return Value::undefined(std::string("'").append(type_name()) + "' object has no attribute '" + name + "'");
}

Value NativeObject::call(Renderer&, CallArgs&) { fail("'" + type_name() + "' object is not callable"); }

std::string NativeObject::repr() const { return std::string("<").append(type_name()) + " object>"; }

std::vector<Value> NativeObject::take_items() { fail("'" + type_name() + "' object is not iterable"); }

// ---- Value construction -----------------------------------------------------------------

Value Value::undefined(std::string message) {
  Value v;
  if (!message.empty()) v.pointer_ = std::make_shared<std::string>(std::move(message));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = ValueKind::None;
  return v;
}

Value Value::boolean(bool value) {
  Value v;
  v.kind_ = ValueKind::Bool;
  v.scalar_.boolean = value;
  return v;
}

Value Value::integer(int64_t value) {
  Value v;
  v.kind_ = ValueKind::Int;
  v.scalar_.integer = value;
  return v;
}

Value Value::number(double value) {
  Value v;
  v.kind_ = ValueKind::Float;
  v.scalar_.floating = value;
  return v;
}

Value Value::string(std::string value, bool markup) {
  Value v;
  v.kind_ = ValueKind::String;
  v.markup_ = markup;
  v.pointer_ = std::make_shared<std::string>(std::move(value));
  return v;
}

namespace {

uint16_t container_depth(const ValueList& items) {
  uint16_t deepest = 0;
  for (const Value& item : items) deepest = std::max(deepest, item.depth());
  if (deepest >= Value::kMaxDepth)
    fail("values are nested more than " + std::to_string(Value::kMaxDepth) + " levels deep");
  return static_cast<uint16_t>(deepest + 1);
}

}  // namespace

Value Value::list(ValueList items) {
  Value v;
  v.depth_ = container_depth(items);
  v.kind_ = ValueKind::List;
  v.pointer_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::tuple(ValueList items) {
  Value v;
  v.depth_ = container_depth(items);
  v.kind_ = ValueKind::Tuple;
  v.pointer_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::dict(Dict dict) {
  Value v;
  uint16_t deepest = 0;
  for (const auto& [key, value] : dict.entries()) deepest = std::max({deepest, key.depth(), value.depth()});
  if (deepest >= kMaxDepth) fail("values are nested more than " + std::to_string(kMaxDepth) + " levels deep");
  v.depth_ = static_cast<uint16_t>(deepest + 1);
  v.kind_ = ValueKind::Dict;
  v.pointer_ = std::make_shared<Dict>(std::move(dict));
  return v;
}

Value Value::make_namespace(Dict attributes) {
  Value v;
  v.depth_ = 1;
  v.kind_ = ValueKind::Namespace;
  v.pointer_ = std::make_shared<Namespace>(Namespace{std::move(attributes)});
  return v;
}

Value Value::function(std::string name, std::function<Value(Renderer&, CallArgs&)> invoke, bool is_macro) {
  Value v;
  v.kind_ = ValueKind::Function;
  v.pointer_ = std::make_shared<Function>(Function{std::move(name), is_macro, std::move(invoke)});
  return v;
}

Value Value::object(std::shared_ptr<NativeObject> object) {
  Value v;
  v.kind_ = ValueKind::Object;
  v.pointer_ = std::move(object);
  return v;
}

double Value::as_float() const {
  switch (kind_) {
    case ValueKind::Float: return scalar_.floating;
    case ValueKind::Int: return static_cast<double>(scalar_.integer);
    case ValueKind::Bool: return scalar_.boolean ? 1.0 : 0.0;
    default: return 0.0;
  }
}

std::string Value::undefined_message() const {
  if (pointer_) return *static_cast<const std::string*>(pointer_.get());
  return "undefined value";
}

// ---- Python semantics -------------------------------------------------------------------

bool truthy(const Value& value) {
  switch (value.kind()) {
    case ValueKind::Undefined:
    case ValueKind::None: return false;
    case ValueKind::Bool: return value.as_bool();
    case ValueKind::Int: return value.as_int() != 0;
    case ValueKind::Float: return value.as_float() != 0.0;
    case ValueKind::String: return !value.as_string().empty();
    case ValueKind::List:
    case ValueKind::Tuple: return !value.items().empty();
    case ValueKind::Dict: return !value.as_dict().empty();
    default: return true;
  }
}

namespace {

// Exact int/float comparison as Python does it (no rounding of large ints through double).
// Returns -1, 0, 1, or 2 when unordered (NaN).
int compare_int_float(int64_t i, double d) {
  if (std::isnan(d)) return 2;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const double floor_d = std::floor(d);
  const auto whole = static_cast<int64_t>(floor_d);
  if (i < whole) return -1;
  if (i > whole) return 1;
  return floor_d == d ? 0 : -1;  // i == floor(d) < d when d has a fraction
}

int compare_numbers(const Value& a, const Value& b) {
  if (a.is_float() && b.is_float()) {
    const double x = a.as_float(), y = b.as_float();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_float()) {
    const int r = compare_int_float(b.as_int(), a.as_float());
    return r == 2 ? 2 : -r;
  }
  if (b.is_float()) return compare_int_float(a.as_int(), b.as_float());
  const int64_t x = a.as_int(), y = b.as_int();
  return x < y ? -1 : (x > y ? 1 : 0);
}

}  // namespace

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::Undefined:
    case ValueKind::None: return true;
    case ValueKind::String: return a.as_string() == b.as_string();
    case ValueKind::List:
    case ValueKind::Tuple: {
      const ValueList &x = a.items(), &y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!values_equal(x[i], y[i])) return false;
      return true;
    }
    case ValueKind::Dict: {
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.entries()) {
        const Value* other = y.find(key);
        if (!other || !values_equal(value, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

bool less_than(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail(a.undefined_message());
  if (b.is_undefined()) fail(b.undefined_message());
  if (a.is_number() && b.is_number()) {
    const int r = compare_numbers(a, b);
    return r == -1;
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 order = code point order
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const ValueList &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!values_equal(x[i], y[i])) return less_than(x[i], y[i], op);
    return x.size() < y.size();
  }
  fail(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) +
       "'");
}

bool is_hashable(const Value& value) {
  switch (value.kind()) {
    case ValueKind::List:
    case ValueKind::Dict: return false;
    case ValueKind::Tuple:
      for (const Value& item : value.items())
        if (!is_hashable(item)) return false;
      return true;
    default: return true;
  }
}

std::string type_name(const Value& value) {
  switch (value.kind()) {
    case ValueKind::Undefined: return "Undefined";
    case ValueKind::None: return "NoneType";
    case ValueKind::Bool: return "bool";
    case ValueKind::Int: return "int";
    case ValueKind::Float: return "float";
    case ValueKind::String: return value.is_markup() ? "Markup" : "str";
    case ValueKind::List: return "list";
    case ValueKind::Tuple: return "tuple";
    case ValueKind::Dict: return "dict";
    case ValueKind::Namespace: return "Namespace";
    case ValueKind::Function: return value.as_function().is_macro ? "Macro" : "builtin_function_or_method";
    case ValueKind::Object: return value.as_object().type_name();
  }
  return "object";
}

int64_t python_length(const Value& value) {
  switch (value.kind()) {
    case ValueKind::Undefined: return 0;
    case ValueKind::String: return static_cast<int64_t>(utf8::length(value.as_string()));
    case ValueKind::List:
    case ValueKind::Tuple: return static_cast<int64_t>(value.items().size());
    case ValueKind::Dict: return static_cast<int64_t>(value.as_dict().size());
    default: return -1;
  }
}

}  // namespace jisu::jinja
