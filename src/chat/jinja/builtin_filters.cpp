// jinja2's builtin filters (jinja2/filters.py, version 3.1) as chat templates use them: with
// autoescape off (Hugging Face never turns it on), Python's argument binding, and the `tojson`
// that transformers installs in place of jinja2's (json.dumps, ensure_ascii=False, no HTML
// escaping). Filters jinja2 implements as generators (map, select, unique, batch, items, ...)
// return single-pass iterators here too, because templates observe the difference: `|length`
// and `|tojson` fail on them, and a second loop over one sees nothing.
//
// Filters jinja2 has but jisu does not implement (random output, HTML/URL helpers) are listed
// in kUnsupportedFilters, so they fail at run time with a clear message instead of the parse-time
// "no filter named" error jinja2 would never give.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "chat/jinja/builtins.h"
#include "chat/jinja/json_bridge.h"
#include "chat/jinja/operators.h"
#include "chat/jinja/python_repr.h"
#include "chat/jinja/renderer.h"
#include "chat/jinja/string_formatting.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

namespace {

// ---- helpers ------------------------------------------------------------------------------

class IteratorObject : public NativeObject {
 public:
  IteratorObject(std::string type_name, ValueList items) : type_name_(std::move(type_name)), items_(std::move(items)) {}
  std::string type_name() const override { return type_name_; }
  bool iterable() const override { return true; }
  ValueList take_items() override { return std::exchange(items_, {}); }

 private:
  std::string type_name_;
  ValueList items_;
};

Value generator(ValueList items) { return make_iterator("generator", std::move(items)); }

// jinja2's soft_str: strings (Markup included) stay as they are, anything else becomes str(x).
Value soft_str(const Value& value) { return value.is_string() ? value : Value::string(to_str(value)); }

int64_t require_integer(const Value& value) {
  if (value.is_undefined()) fail(value.undefined_message());
  if (!value.is_integral()) fail("'" + type_name(value) + "' object cannot be interpreted as an integer");
  return value.as_int();
}

// Calls the Python str method `name` on `text` (a str) with the given arguments.
Value call_str_method(Renderer& renderer, const Value& text, const char* name, CallArgs args) {
  const std::optional<Value> method = find_attribute(text, name);
  if (!method || !method->is_function()) fail(std::string("str has no method ") + name);
  return renderer.call(*method, args);
}

CallArgs positional_args(std::initializer_list<Value> values) {
  CallArgs args;
  args.positional.assign(values.begin(), values.end());
  return args;
}

// jinja2's ignore_case: lower-cases strings, leaves other keys alone.
Value ignore_case(const Value& value) {
  return value.is_string() ? Value::string(utf8::lower(value.as_string()), value.is_markup()) : value;
}

// jinja2's _prepare_attribute_parts: "a.0.b" -> ["a", 0, "b"]; an int stays one part.
ValueList attribute_parts(const Value& attribute) {
  if (attribute.is_none() || attribute.is_undefined()) return {};
  if (!attribute.is_string()) return {attribute};
  ValueList parts;
  for (const std::string& part : utf8::split_on(attribute.as_string(), ".", -1, false)) {
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18) parts.push_back(Value::integer(std::strtoll(part.c_str(), nullptr, 10)));
    else if (digits) fail("attribute index " + part + " is too large");
    else parts.push_back(Value::string(part));
  }
  return parts;
}

// jinja2's make_attrgetter: follows the parts with environment.getitem; `default` replaces an
// Undefined reached on the way (when given); `fold_case` applies ignore_case to the result.
struct AttributeGetter {
  ValueList parts;
  std::optional<Value> fallback = std::nullopt;
  bool fold_case = false;

  Value operator()(Value item) const {
    for (const Value& part : parts) {
      item = get_item(item, part);
      if (fallback && item.is_undefined()) item = *fallback;
    }
    return fold_case ? ignore_case(item) : item;
  }
};

// Python's `a < b` on sort keys that are lists (make_multi_attrgetter): the first unequal pair
// decides, then the length.
bool key_list_less(const ValueList& a, const ValueList& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (!values_equal(a[i], b[i])) return less_than(a[i], b[i]);
  return a.size() < b.size();
}

// Python's sorted(items, key, reverse): stable, and only ever asks `<` of the keys. A merge sort
// of our own (not std::sort) so an inconsistent ordering (NaN keys) cannot break memory safety.
template <typename Key, typename Less>
ValueList stable_sorted(ValueList items, std::vector<Key> keys, bool reverse, Less less) {
  const size_t n = items.size();
  std::vector<size_t> order(n), buffer(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  // Right goes before left only when strictly ordered before it, which keeps equal keys in
  // their original order in both directions (what Python's reverse=True guarantees).
  const auto right_first = [&](size_t left, size_t right) {
    return reverse ? less(keys[left], keys[right]) : less(keys[right], keys[left]);
  };
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t begin = 0; begin < n; begin += 2 * width) {
      const size_t middle = std::min(begin + width, n), end = std::min(begin + 2 * width, n);
      size_t i = begin, j = middle, k = begin;
      while (i < middle && j < end) buffer[k++] = right_first(order[i], order[j]) ? order[j++] : order[i++];
      while (i < middle) buffer[k++] = order[i++];
      while (j < end) buffer[k++] = order[j++];
    }
    order.swap(buffer);
  }
  ValueList sorted;
  sorted.reserve(n);
  for (size_t index : order) sorted.push_back(std::move(items[index]));
  return sorted;
}

// Python's float(str): surrounding whitespace allowed, "inf"/"nan" spellings, '_' between digits.
std::optional<double> parse_python_float(const std::string& text) {
  std::string cleaned;
  const std::string stripped = utf8::strip(text, nullptr, true, true);
  for (size_t i = 0; i < stripped.size(); ++i) {
    const char c = stripped[i];
    if (c == '_') {
      const bool between_digits = i > 0 && i + 1 < stripped.size() && std::isdigit(static_cast<unsigned char>(stripped[i - 1])) &&
                                  std::isdigit(static_cast<unsigned char>(stripped[i + 1]));
      if (!between_digits) return std::nullopt;
      continue;
    }
    if (c == 'x' || c == 'X' || c == 'p' || c == 'P' || static_cast<unsigned char>(c) >= 0x80) return std::nullopt;
    cleaned += c;
  }
  if (cleaned.empty()) return std::nullopt;
  const std::string lowered = utf8::lower(cleaned);
  const std::string_view unsigned_part =
      (lowered[0] == '+' || lowered[0] == '-') ? std::string_view(lowered).substr(1) : std::string_view(lowered);
  if (unsigned_part == "inf" || unsigned_part == "infinity" || unsigned_part == "nan") {
    const double magnitude = unsigned_part == "nan" ? NAN : INFINITY;
    return lowered[0] == '-' ? -magnitude : magnitude;
  }
  if (unsigned_part.empty() || unsigned_part[0] == 'i' || unsigned_part[0] == 'n') return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return value;
}

// Python's int(str, base) for bases 2..36 (and 0: prefix decides); nullopt for ValueError.
std::optional<int64_t> parse_python_int(const std::string& text, int64_t base) {
  std::string digits = utf8::strip(text, nullptr, true, true);
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.erase(0, 1);
  }
  const auto has_prefix = [&](char lower) {
    return digits.size() > 2 && digits[0] == '0' && (digits[1] == lower || digits[1] == lower - 32);
  };
  if ((base == 16 || base == 0) && has_prefix('x')) base = 16, digits.erase(0, 2);
  else if ((base == 8 || base == 0) && has_prefix('o')) base = 8, digits.erase(0, 2);
  else if ((base == 2 || base == 0) && has_prefix('b')) base = 2, digits.erase(0, 2);
  if (base == 0) base = 10;
  if (digits.empty() || digits.front() == '_' || digits.back() == '_') return std::nullopt;
  __int128 value = 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    const char c = digits[i];
    if (c == '_') {
      if (digits[i - 1] == '_') return std::nullopt;
      continue;
    }
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'z') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z') digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return std::nullopt;
    value = value * base + digit;
    if (value > static_cast<__int128>(INT64_MAX) + 1) fail("integer is too large (jisu integers are 64-bit)");
  }
  if (negative) value = -value;
  if (value > INT64_MAX) fail("integer is too large (jisu integers are 64-bit)");
  return static_cast<int64_t>(value);
}

// Python int(x) for a float: truncation; nullopt where Python raises (NaN: ValueError,
// infinity: OverflowError).
std::optional<int64_t> truncate_float(double value) {
  if (!std::isfinite(value)) return std::nullopt;
  const double truncated = std::trunc(value);
  if (truncated >= 9.2233720368547758e18 || truncated < -9.2233720368547758e18)
    fail("integer is too large (jisu integers are 64-bit)");
  return static_cast<int64_t>(truncated);
}

// ---- filters ------------------------------------------------------------------------------

Value filter_abs(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("abs", args, {});
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) fail("integer is too large (jisu integers are 64-bit)");
    return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_undefined()) fail(v.undefined_message());
  fail("bad operand type for abs(): '" + type_name(v) + "'");
}

Value filter_attr(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("attr", args, {"name"}, 1);
  const Value name = soft_str(*bind.get(0));
  if (v.is_undefined()) fail(v.undefined_message());
  if (std::optional<Value> found = python_getattr(v, name.as_string())) return *found;
  return Value::undefined("'" + object_type_repr(v) + "' has no attribute '" + name.as_string() + "'");
}

Value filter_batch(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("batch", args, {"linecount", "fill_with"}, 1);
  const int64_t count = require_integer(*bind.get(0));
  const Value fill = bind.get_or(1, Value::none());
  ValueList batches, current;
  for (Value& item : iterate(v)) {
    if (static_cast<int64_t>(current.size()) == count) {
      batches.push_back(Value::list(std::move(current)));
      current.clear();
    }
    current.push_back(std::move(item));
  }
  if (!current.empty()) {
    if (!fill.is_none() && static_cast<uint64_t>(count) - current.size() > kMaxBuiltSize / sizeof(Value))
      fail("batch size is too large");
    if (!fill.is_none())
      while (static_cast<int64_t>(current.size()) < count) current.push_back(fill);
    batches.push_back(Value::list(std::move(current)));
  }
  return generator(std::move(batches));
}

Value filter_capitalize(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("capitalize", args, {});
  return call_str_method(r, soft_str(v), "capitalize", {});
}

Value filter_center(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("center", args, {"width"});
  return call_str_method(r, soft_str(v), "center", positional_args({bind.get_or(0, Value::integer(80))}));
}

Value filter_default(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("default", args, {"default_value", "boolean"});
  const bool boolean = truthy(bind.get_or(1, Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v))) return bind.get_or(0, Value::string(""));
  return v;
}

Value filter_dictsort(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = truthy(bind.get_or(0, Value::boolean(false)));
  const Value by = bind.get_or(1, Value::string("key"));
  const bool reverse = truthy(bind.get_or(2, Value::boolean(false)));
  size_t position = 0;
  if (by.is_string() && by.as_string() == "key") position = 0;
  else if (by.is_string() && by.as_string() == "value") position = 1;
  else fail("You can only sort by either \"key\" or \"value\"");
  if (v.is_undefined()) fail(v.undefined_message());
  if (!v.is_dict()) fail("'" + type_name(v) + "' object has no attribute 'items'");
  ValueList items;
  std::vector<Value> keys;
  for (const auto& [key, value] : v.as_dict().entries()) {
    items.push_back(Value::tuple({key, value}));
    const Value& sort_key = position == 0 ? key : value;
    keys.push_back(case_sensitive ? sort_key : ignore_case(sort_key));
  }
  return Value::list(stable_sorted(std::move(items), std::move(keys), reverse,
                                   [](const Value& a, const Value& b) { return less_than(a, b); }));
}

Value filter_escape(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("escape", args, {});
  if (v.is_markup()) return v;
  return Value::string(escape_html(to_str(v)), true);
}

Value filter_forceescape(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("forceescape", args, {});
  return Value::string(escape_html(to_str(v)), true);
}

Value filter_first(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("first", args, {});
  const ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value filter_last(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("last", args, {});
  if (!v.is_undefined() && !v.is_string() && !v.is_list_or_tuple() && !v.is_dict())
    fail("'" + type_name(v) + "' object is not reversible");
  const ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value filter_float(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("float", args, {"default"});
  const Value fallback = bind.get_or(0, Value::number(0.0));
  if (v.is_undefined()) fail(v.undefined_message());
  if (v.is_number()) return Value::number(v.as_float());
  if (v.is_string()) {
    if (const std::optional<double> parsed = parse_python_float(v.as_string())) return Value::number(*parsed);
  }
  return fallback;
}

Value filter_int(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("int", args, {"default", "base"});
  const Value fallback = bind.get_or(0, Value::integer(0));
  const int64_t base = require_integer(bind.get_or(1, Value::integer(10)));
  if (v.is_undefined()) fail(v.undefined_message());
  if (v.is_integral()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (std::isinf(v.as_float())) fail("cannot convert float infinity to integer");
    if (const std::optional<int64_t> truncated = truncate_float(v.as_float())) return Value::integer(*truncated);
    return fallback;
  }
  if (v.is_string()) {
    if (base != 0 && (base < 2 || base > 36)) fail("int() base must be >= 2 and <= 36, or 0");
    if (const std::optional<int64_t> parsed = parse_python_int(v.as_string(), base)) return Value::integer(*parsed);
    // jinja2's quirk: "42.23"|int is 42.
    if (const std::optional<double> parsed = parse_python_float(v.as_string()))
      if (const std::optional<int64_t> truncated = truncate_float(*parsed)) return Value::integer(*truncated);
  }
  return fallback;
}

Value filter_format(Renderer&, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    fail("can't handle positional and keyword arguments at the same time");
  Value operand;
  if (!args.keyword.empty()) {
    Dict mapping;
    for (auto& [key, value] : args.keyword) mapping.set(Value::string(key), value);
    operand = Value::dict(std::move(mapping));
  } else {
    operand = Value::tuple(args.positional);
  }
  return percent_format(soft_str(v), operand);
}

Value filter_indent(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("indent", args, {"width", "first", "blank"});
  const Value width = bind.get_or(0, Value::integer(4));
  const bool first = truthy(bind.get_or(1, Value::boolean(false)));
  const bool blank = truthy(bind.get_or(2, Value::boolean(false)));
  std::string indention;
  if (width.is_string()) indention = width.as_string();
  else indention.assign(static_cast<size_t>(std::clamp<int64_t>(require_integer(width), 0, 1 << 20)), ' ');
  if (v.is_undefined()) fail(v.undefined_message());
  if (!v.is_string()) fail("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  if (v.is_markup() && !width.is_markup()) indention = escape_html(indention);
  // Checked before splitting: each line costs a string, and each gets the indention.
  const auto newlines = static_cast<uint64_t>(std::count(v.as_string().begin(), v.as_string().end(), '\n'));
  if (newlines * (indention.size() + sizeof(std::string)) + v.as_string().size() > kMaxBuiltSize)
    fail("indent result is too large");
  // jinja2 appends "\n" before splitlines() so a trailing newline survives.
  const std::vector<std::string> lines = utf8::splitlines(v.as_string() + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    if (i > 0 && (blank || !lines[i].empty())) out += indention;
    out += lines[i];
    if (out.size() > kMaxBuiltSize) fail("indent result is too large");
  }
  if (first) out = indention + out;
  return Value::string(std::move(out), v.is_markup());
}

Value filter_items(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("items", args, {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  ValueList items;
  for (const auto& [key, value] : v.as_dict().entries()) items.push_back(Value::tuple({key, value}));
  return generator(std::move(items));
}

Value filter_join(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("join", args, {"d", "attribute"});
  const std::string separator = to_str(bind.get_or(0, Value::string("")));
  ValueList items = iterate(v);
  if (const Value* attribute = bind.get(1); attribute && !attribute->is_none()) {
    const AttributeGetter getter{attribute_parts(*attribute)};
    for (Value& item : items) item = getter(item);
  }
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += to_str(items[i]);
    if (out.size() > kMaxBuiltSize) fail("join result is too large");
  }
  return Value::string(std::move(out));
}

Value filter_length(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("length", args, {});
  const int64_t length = python_length(v);
  if (length < 0) fail("object of type '" + type_name(v) + "' has no len()");
  return Value::integer(length);
}

Value filter_list(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("list", args, {});
  return Value::list(iterate(v));
}

Value filter_lower(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("lower", args, {});
  return call_str_method(r, soft_str(v), "lower", {});
}

Value filter_upper(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("upper", args, {});
  return call_str_method(r, soft_str(v), "upper", {});
}

Value filter_map(Renderer& renderer, const Value& v, CallArgs& args) {
  ValueList items = iterate(v);
  const auto find_keyword = [&](const char* name) -> const Value* {
    for (const auto& [key, value] : args.keyword)
      if (key == name) return &value;
    return nullptr;
  };
  if (args.positional.empty() && find_keyword("attribute")) {
    AttributeGetter getter{attribute_parts(*find_keyword("attribute"))};
    if (const Value* fallback = find_keyword("default"); fallback && !fallback->is_none()) getter.fallback = *fallback;
    for (const auto& [key, value] : args.keyword)
      if (key != "attribute" && key != "default") fail("Unexpected keyword argument '" + key + "'");
    for (Value& item : items) item = getter(item);
    return generator(std::move(items));
  }
  if (args.positional.empty()) fail("map requires a filter argument");
  const Value name = args.positional[0];
  CallArgs rest{ValueList(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (Value& item : items) {
    if (!name.is_string()) fail("No filter named " + to_repr(name) + ".");
    CallArgs call_args = rest;
    item = renderer.apply_filter(name.as_string(), item, call_args);
  }
  return generator(std::move(items));
}

// jinja2's _min_or_max: the first item whose key is smallest (min) or largest (max).
Value min_or_max(const Value& v, CallArgs& args, bool want_max) {
  ArgumentBinder bind(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  AttributeGetter getter{attribute_parts(bind.get_or(1, Value::none()))};
  getter.fold_case = !truthy(bind.get_or(0, Value::boolean(false)));
  size_t best = 0;
  Value best_key = getter(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = getter(items[i]);
    const bool better = want_max ? less_than(best_key, key, ">") : less_than(key, best_key);
    if (better) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}
Value filter_max(Renderer&, const Value& v, CallArgs& args) { return min_or_max(v, args, true); }
Value filter_min(Renderer&, const Value& v, CallArgs& args) { return min_or_max(v, args, false); }

Value filter_replace(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("replace", args, {"old", "new", "count"}, 2);
  Value count = bind.get_or(2, Value::none());
  if (count.is_none()) count = Value::integer(-1);
  // Autoescape off: str(s).replace(str(old), str(new), count) -- Markup is dropped.
  return call_str_method(r, Value::string(to_str(v)), "replace",
                         positional_args({Value::string(to_str(*bind.get(0))), Value::string(to_str(*bind.get(1))), count}));
}

Value filter_reverse(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("reverse", args, {});
  if (v.is_string()) {
    std::u32string text = utf8::to_u32(v.as_string());
    std::reverse(text.begin(), text.end());
    return Value::string(utf8::from_u32(text), v.is_markup());
  }
  // Python's reversed() iterators; other iterables become a reversed list.
  if (!v.is_undefined() && !v.is_list_or_tuple() && !v.is_dict() && !(v.is_object() && v.as_object().iterable()))
    fail("argument must be iterable");
  ValueList items = iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_list()) return make_iterator("list_reverseiterator", std::move(items));
  if (v.is_dict()) return make_iterator("dict_reversekeyiterator", std::move(items));
  if (v.is_tuple() || v.is_undefined()) return make_iterator("reversed", std::move(items));
  return Value::list(std::move(items));
}

// Python's round(x, ndigits) for floats: correctly rounded, ties to even on the exact binary
// value -- which is what glibc's "%.*f" computes.
double python_round(double value, int64_t digits) {
  if (!std::isfinite(value) || value == 0) return value;
  if (digits > 323) return value;
  if (digits < -308) return std::copysign(0.0, value);
  if (digits < 0) {
    const double scale = std::pow(10.0, static_cast<double>(-digits));
    return std::nearbyint(value / scale) * scale;
  }
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(digits), value);
  return std::strtod(buffer, nullptr);
}

Value filter_round(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("round", args, {"precision", "method"});
  const int64_t precision = require_integer(bind.get_or(0, Value::integer(0)));
  const Value method = bind.get_or(1, Value::string("common"));
  const std::string method_name = method.is_string() ? method.as_string() : "";
  if (method_name != "common" && method_name != "ceil" && method_name != "floor")
    fail("method must be common, ceil or floor");
  if (v.is_undefined()) fail(v.undefined_message());
  if (!v.is_number()) fail("type " + type_name(v) + " doesn't define __round__ method");
  if (method_name == "common") {
    if (v.is_integral()) {
      if (precision >= 0) return Value::integer(v.as_int());
      return Value::integer(static_cast<int64_t>(python_round(static_cast<double>(v.as_int()), precision)));
    }
    return Value::number(python_round(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = v.as_float() * scale;
  if (!std::isfinite(scaled)) fail("cannot convert float infinity to integer");
  return Value::number((method_name == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value filter_safe(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("safe", args, {});
  return Value::string(to_str(v), true);
}

// select/reject/selectattr/rejectattr (jinja2's select_or_reject).
Value select_or_reject(Renderer& renderer, const Value& v, CallArgs& args, bool keep_matches, bool lookup_attribute) {
  if (!truthy(v)) return generator({});
  size_t offset = 0;
  AttributeGetter getter;
  if (lookup_attribute) {
    if (args.positional.empty()) fail("Missing parameter for attribute name");
    getter.parts = attribute_parts(args.positional[0]);
    offset = 1;
  }
  const bool has_test = args.positional.size() > offset;
  const Value test_name = has_test ? args.positional[offset] : Value();
  CallArgs test_args;
  if (has_test) test_args.positional.assign(args.positional.begin() + offset + 1, args.positional.end());
  test_args.keyword = args.keyword;
  ValueList kept;
  for (Value& item : iterate(v)) {
    const Value subject = getter(item);
    bool passed;
    if (has_test) {
      if (!test_name.is_string()) fail("No test named " + to_repr(test_name) + ".");
      CallArgs call_args = test_args;
      passed = renderer.apply_test(test_name.as_string(), subject, call_args);
    } else {
      passed = truthy(subject);
    }
    if (passed == keep_matches) kept.push_back(std::move(item));
  }
  return generator(std::move(kept));
}
Value filter_select(Renderer& r, const Value& v, CallArgs& a) { return select_or_reject(r, v, a, true, false); }
Value filter_reject(Renderer& r, const Value& v, CallArgs& a) { return select_or_reject(r, v, a, false, false); }
Value filter_selectattr(Renderer& r, const Value& v, CallArgs& a) { return select_or_reject(r, v, a, true, true); }
Value filter_rejectattr(Renderer& r, const Value& v, CallArgs& a) { return select_or_reject(r, v, a, false, true); }

Value filter_slice(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("slice", args, {"slices", "fill_with"}, 1);
  const int64_t slices = require_integer(*bind.get(0));
  const Value fill = bind.get_or(1, Value::none());
  const ValueList items = iterate(v);
  if (slices <= 0) {
    if (slices == 0) fail("integer division or modulo by zero");
    return generator({});
  }
  if (slices > (1 << 20)) fail("slice count is too large");
  const auto length = static_cast<int64_t>(items.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;
  int64_t offset = 0;
  ValueList out;
  for (int64_t number = 0; number < slices; ++number) {
    const int64_t start = offset + number * per_slice;
    if (number < with_extra) ++offset;
    const int64_t end = offset + (number + 1) * per_slice;
    ValueList part(items.begin() + start, items.begin() + end);
    if (!fill.is_none() && number >= with_extra) part.push_back(fill);
    out.push_back(Value::list(std::move(part)));
  }
  return generator(std::move(out));
}

Value filter_sort(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = truthy(bind.get_or(0, Value::boolean(false)));
  const bool case_sensitive = truthy(bind.get_or(1, Value::boolean(false)));
  const Value attribute = bind.get_or(2, Value::none());
  // make_multi_attrgetter: "a,b" gives a list key per item.
  std::vector<AttributeGetter> getters;
  if (attribute.is_string()) {
    for (const std::string& part : utf8::split_on(attribute.as_string(), ",", -1, false))
      getters.push_back(AttributeGetter{attribute_parts(Value::string(part)), std::nullopt, !case_sensitive});
  } else {
    getters.push_back(AttributeGetter{attribute_parts(attribute), std::nullopt, !case_sensitive});
  }
  ValueList items = iterate(v);
  std::vector<ValueList> keys;
  for (const Value& item : items) {
    ValueList key;
    for (const AttributeGetter& getter : getters) key.push_back(getter(item));
    keys.push_back(std::move(key));
  }
  return Value::list(stable_sorted(std::move(items), std::move(keys), reverse, key_list_less));
}

Value filter_string(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("string", args, {});
  return soft_str(v);
}

Value filter_striptags(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("striptags", args, {});
  return Value::string(markup_striptags(to_str(v)));
}

Value filter_sum(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("sum", args, {"attribute", "start"});
  const AttributeGetter getter{attribute_parts(bind.get_or(0, Value::none()))};
  Value total = bind.get_or(1, Value::integer(0));
  if (total.is_string()) fail("sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : iterate(v)) total = binary_operation(BinaryOp::Add, total, getter(item));
  return total;
}

Value filter_title(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("title", args, {});
  const Value text = soft_str(v);
  // Split into runs of word-beginning separators ([-\s({\[<]+) and the text between; each piece
  // gets its first code point upper-cased and the rest lower-cased.
  const std::u32string chars = utf8::to_u32(text.as_string());
  const auto is_separator = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || utf8::is_space(c);
  };
  std::string out;
  for (size_t begin = 0; begin < chars.size();) {
    const bool separator = is_separator(chars[begin]);
    size_t end = begin + 1;
    while (end < chars.size() && is_separator(chars[end]) == separator) ++end;
    const std::string piece = utf8::from_u32(chars.substr(begin, end - begin));
    const size_t first_end = utf8::offset_of(piece, 1);
    out += utf8::upper(piece.substr(0, first_end)) + utf8::lower(piece.substr(first_end));
    begin = end;
  }
  return Value::string(std::move(out), text.is_markup());
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False), returned as a plain str.
Value filter_tojson(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = truthy(bind.get_or(0, Value::boolean(false)));
  const Value indent = bind.get_or(1, Value::none());
  if (indent.is_string()) options.indent = indent.as_string();
  else if (indent.is_integral()) options.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 1 << 16)), ' ');
  else if (!indent.is_none()) fail("can't multiply sequence by non-int of type '" + type_name(indent) + "'");
  const Value separators = bind.get_or(2, Value::none());
  if (!separators.is_none()) {
    const ValueList parts = iterate(separators);
    if (parts.size() != 2) fail("separators must be a pair of strings");
    if (!parts[0].is_string() || !parts[1].is_string()) fail("separators must be a pair of strings");
    options.item_separator = parts[0].as_string();
    options.key_separator = parts[1].as_string();
  }
  options.sort_keys = truthy(bind.get_or(3, Value::boolean(false)));
  return Value::string(json_dumps(v, options));
}

Value filter_trim(Renderer& r, const Value& v, CallArgs& args) {
  ArgumentBinder bind("trim", args, {"chars"});
  return call_str_method(r, soft_str(v), "strip", positional_args({bind.get_or(0, Value::none())}));
}

Value filter_truncate(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("truncate", args, {"length", "killwords", "end", "leeway"});
  const int64_t length = require_integer(bind.get_or(0, Value::integer(255)));
  const bool killwords = truthy(bind.get_or(1, Value::boolean(false)));
  const Value end = bind.get_or(2, Value::string("..."));
  const int64_t leeway = require_integer(bind.get_or(3, Value::integer(5)));
  if (!end.is_string()) fail("object of type '" + type_name(end) + "' has no len()");
  const auto end_length = static_cast<int64_t>(utf8::length(end.as_string()));
  if (length < end_length) fail("expected length >= " + std::to_string(end_length) + ", got " + std::to_string(length));
  if (leeway < 0) fail("expected leeway >= 0, got " + std::to_string(leeway));
  const int64_t size = python_length(v);
  if (size < 0) fail("object of type '" + type_name(v) + "' has no len()");
  if (size <= length + leeway) return v;
  if (!v.is_string()) fail("truncate needs a string");
  const std::string& text = v.as_string();
  std::string kept = text.substr(0, utf8::offset_of(text, static_cast<size_t>(length - end_length)));
  if (!killwords) {
    const size_t space = kept.rfind(' ');
    if (space != std::string::npos) kept.resize(space);
  }
  return Value::string(kept + end.as_string(), v.is_markup() && end.is_markup());
}

Value filter_unique(Renderer& renderer, const Value& v, CallArgs& args) {
  ArgumentBinder bind("unique", args, {"case_sensitive", "attribute"});
  AttributeGetter getter{attribute_parts(bind.get_or(1, Value::none()))};
  getter.fold_case = !truthy(bind.get_or(0, Value::boolean(false)));
  ValueList kept, seen;
  for (Value& item : iterate(v)) {
    Value key = getter(item);
    if (!is_hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
    // Python's equality (1 == 1.0 == True) has no hash here: each item is compared with every
    // kept one, and each comparison is charged, so 100,000 items fail instead of running on.
    renderer.charge(seen.size());
    bool known = false;
    for (const Value& other : seen) known = known || values_equal(other, key);
    if (known) continue;
    seen.push_back(std::move(key));
    kept.push_back(std::move(item));
  }
  return generator(std::move(kept));
}

Value filter_wordcount(Renderer&, const Value& v, CallArgs& args) {
  ArgumentBinder bind("wordcount", args, {});
  const std::string text = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < text.size();) {
    const bool word = utf8::is_word(utf8::decode(text, pos));
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value::integer(words);
}

struct FilterEntry {
  std::string_view name;
  FilterFunction function;
};

constexpr FilterEntry kFilters[] = {
    {"abs", filter_abs},         {"attr", filter_attr},           {"batch", filter_batch},
    {"capitalize", filter_capitalize}, {"center", filter_center}, {"count", filter_length},
    {"d", filter_default},       {"default", filter_default},     {"dictsort", filter_dictsort},
    {"e", filter_escape},        {"escape", filter_escape},       {"first", filter_first},
    {"float", filter_float},     {"forceescape", filter_forceescape}, {"format", filter_format},
    {"indent", filter_indent},   {"int", filter_int},             {"items", filter_items},
    {"join", filter_join},       {"last", filter_last},           {"length", filter_length},
    {"list", filter_list},       {"lower", filter_lower},         {"map", filter_map},
    {"max", filter_max},         {"min", filter_min},             {"reject", filter_reject},
    {"rejectattr", filter_rejectattr}, {"replace", filter_replace}, {"reverse", filter_reverse},
    {"round", filter_round},     {"safe", filter_safe},           {"select", filter_select},
    {"selectattr", filter_selectattr}, {"slice", filter_slice},   {"sort", filter_sort},
    {"string", filter_string},   {"striptags", filter_striptags}, {"sum", filter_sum},
    {"title", filter_title},     {"tojson", filter_tojson},       {"trim", filter_trim},
    {"truncate", filter_truncate}, {"unique", filter_unique},     {"upper", filter_upper},
    {"wordcount", filter_wordcount},
};

// jinja2 filters jisu leaves out: random or environment-dependent output, HTML/URL formatting.
constexpr std::string_view kUnsupportedFilters[] = {"filesizeformat", "groupby", "pprint", "random", "urlencode",
                                                    "urlize", "wordwrap", "xmlattr"};

}  // namespace

Value make_iterator(std::string type_name, ValueList items) {
  return Value::object(std::make_shared<IteratorObject>(std::move(type_name), std::move(items)));
}

FilterFunction find_filter(std::string_view name) {
  for (const FilterEntry& entry : kFilters)
    if (entry.name == name) return entry.function;
  return nullptr;
}

bool jinja2_has_filter(std::string_view name) {
  if (find_filter(name)) return true;
  return std::find(std::begin(kUnsupportedFilters), std::end(kUnsupportedFilters), name) != std::end(kUnsupportedFilters);
}

}  // namespace jisu::jinja
