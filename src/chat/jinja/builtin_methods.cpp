// Python methods of builtin values that templates call: "text".strip(), d.get('k'), xs.index(x),
// with Python's semantics (code point indices, whitespace rules, tuple prefixes in startswith).
// Mutating methods exist but are refused, as jinja2's ImmutableSandboxedEnvironment refuses them.
#include <algorithm>
#include <cmath>

#include "chat/jinja/builtins.h"
#include "chat/jinja/python_repr.h"
#include "chat/jinja/renderer.h"
#include "chat/jinja/string_formatting.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

namespace {

using Method = Value (*)(const Value& self, CallArgs& args);

const std::string& require_str(const Value& value, const char* context) {
  if (value.is_undefined()) fail(value.undefined_message());
  if (!value.is_string()) fail(std::string(context) + " must be str, not " + type_name(value));
  return value.as_string();
}

// Markup methods return Markup and escape their string arguments.
std::string markup_arg(const Value& self, const Value& arg, const char* context) {
  const std::string& text = require_str(arg, context);
  if (self.is_markup() && !arg.is_markup()) return escape_html(text);
  return text;
}

Value same_kind(const Value& self, std::string text) { return Value::string(std::move(text), self.is_markup()); }

// ---- str ----

Value strip_common(const Value& self, CallArgs& args, bool left, bool right, const char* name) {
  ArgumentBinder bind(name, args, {"chars"});
  const Value* chars = bind.get(0);
  if (!chars || chars->is_none()) return same_kind(self, utf8::strip(self.as_string(), nullptr, left, right));
  const std::u32string set = utf8::to_u32(markup_arg(self, *chars, "strip arg"));
  return same_kind(self, utf8::strip(self.as_string(), &set, left, right));
}
Value str_strip(const Value& self, CallArgs& args) { return strip_common(self, args, true, true, "strip"); }
Value str_lstrip(const Value& self, CallArgs& args) { return strip_common(self, args, true, false, "lstrip"); }
Value str_rstrip(const Value& self, CallArgs& args) { return strip_common(self, args, false, true, "rstrip"); }

Value split_common(const Value& self, CallArgs& args, bool from_right, const char* name) {
  ArgumentBinder bind(name, args, {"sep", "maxsplit"});
  const Value sep = bind.get_or(0, Value::none());
  const Value maxsplit_value = bind.get_or(1, Value::integer(-1));
  if (!maxsplit_value.is_integral()) fail("'" + type_name(maxsplit_value) + "' object cannot be interpreted as an integer");
  const long long maxsplit = maxsplit_value.as_int();
  std::vector<std::string> parts;
  if (sep.is_none()) {
    parts = utf8::split_whitespace(self.as_string(), maxsplit, from_right);
  } else {
    const std::string separator = markup_arg(self, sep, "must be str or None");
    if (separator.empty()) fail("empty separator");
    parts = utf8::split_on(self.as_string(), separator, maxsplit, from_right);
  }
  ValueList items;
  for (std::string& part : parts) items.push_back(same_kind(self, std::move(part)));
  return Value::list(std::move(items));
}
Value str_split(const Value& self, CallArgs& args) { return split_common(self, args, false, "split"); }
Value str_rsplit(const Value& self, CallArgs& args) { return split_common(self, args, true, "rsplit"); }

Value str_splitlines(const Value& self, CallArgs& args) {
  ArgumentBinder bind("splitlines", args, {"keepends"});
  ValueList items;
  for (std::string& line : utf8::splitlines(self.as_string(), truthy(bind.get_or(0, Value::boolean(false)))))
    items.push_back(same_kind(self, std::move(line)));
  return Value::list(std::move(items));
}

// Resolves Python's optional start/end (code point indices, negative from the end, clamped)
// to a byte range of `text`.
std::pair<size_t, size_t> byte_range(const std::string& text, const Value* start, const Value* end) {
  const auto length = static_cast<int64_t>(utf8::length(text));
  const auto clamp_index = [&](const Value* v, int64_t fallback) {
    if (!v || v->is_none()) return fallback;
    if (!v->is_integral()) fail("slice indices must be integers or None or have an __index__ method");
    int64_t i = v->as_int();
    if (i < 0) i = std::max<int64_t>(0, i + length);
    return std::min(i, length);
  };
  const int64_t s = clamp_index(start, 0), e = clamp_index(end, length);
  if (s > e) return {std::string::npos, std::string::npos};
  return {utf8::offset_of(text, static_cast<size_t>(s)), utf8::offset_of(text, static_cast<size_t>(e))};
}

Value affix_common(const Value& self, CallArgs& args, bool prefix, const char* name) {
  ArgumentBinder bind(name, args, {"prefix", "start", "end"}, 1);
  const std::string& text = self.as_string();
  const auto [begin, end] = byte_range(text, bind.get(1), bind.get(2));
  if (begin == std::string::npos) return Value::boolean(false);
  const std::string_view window = std::string_view(text).substr(begin, end - begin);
  const auto matches = [&](const Value& candidate) {
    const std::string& affix =
        require_str(candidate, (std::string(name) + " first arg must be str or a tuple of str").c_str());
    if (affix.size() > window.size()) return false;
    return prefix ? window.substr(0, affix.size()) == affix : window.substr(window.size() - affix.size()) == affix;
  };
  const Value& target = *bind.get(0);
  if (target.is_tuple()) {
    for (const Value& candidate : target.items())
      if (matches(candidate)) return Value::boolean(true);
    return Value::boolean(false);
  }
  if (!target.is_string())
    fail(std::string(name) + " first arg must be str or a tuple of str, not " + type_name(target));
  return Value::boolean(matches(target));
}
Value str_startswith(const Value& self, CallArgs& args) { return affix_common(self, args, true, "startswith"); }
Value str_endswith(const Value& self, CallArgs& args) { return affix_common(self, args, false, "endswith"); }

Value str_upper(const Value& self, CallArgs&) { return same_kind(self, utf8::upper(self.as_string())); }
Value str_lower(const Value& self, CallArgs&) { return same_kind(self, utf8::lower(self.as_string())); }
Value str_title(const Value& self, CallArgs&) { return same_kind(self, utf8::title(self.as_string())); }
Value str_capitalize(const Value& self, CallArgs&) { return same_kind(self, utf8::capitalize(self.as_string())); }
Value str_swapcase(const Value& self, CallArgs&) {
  std::string out;
  const std::string& text = self.as_string();
  for (size_t pos = 0; pos < text.size();) {
    const size_t begin = pos;
    const char32_t c = utf8::decode(text, pos);
    const std::string one = text.substr(begin, pos - begin);
    out += utf8::is_upper(c) ? utf8::lower(one) : (utf8::is_lower(c) ? utf8::upper(one) : one);
  }
  return same_kind(self, std::move(out));
}

// Python str.replace, including the empty-pattern case ("ab".replace("", "-") == "-a-b-").
std::string replace_text(const std::string& text, const std::string& old, const std::string& replacement, int64_t count) {
  std::string out;
  int64_t done = 0;
  const auto may_replace = [&] { return count < 0 || done < count; };
  if (old.empty()) {
    // Every boundary between code points (and both ends) is a match.
    if (may_replace()) {
      out += replacement;
      ++done;
    }
    for (size_t pos = 0; pos < text.size();) {
      const size_t begin = pos;
      utf8::decode(text, pos);
      out.append(text, begin, pos - begin);
      if (may_replace()) {
        out += replacement;
        ++done;
      }
      if (out.size() > (size_t{64} << 20)) fail("replace result is too large");
    }
    return out;
  }
  size_t start = 0;
  while (may_replace()) {
    const size_t found = text.find(old, start);
    if (found == std::string::npos) break;
    out.append(text, start, found - start);
    out += replacement;
    start = found + old.size();
    ++done;
    if (out.size() > (size_t{64} << 20)) fail("replace result is too large");
  }
  out.append(text, start, std::string::npos);
  return out;
}

Value str_replace(const Value& self, CallArgs& args) {
  ArgumentBinder bind("replace", args, {"old", "new", "count"}, 2);
  const Value count = bind.get_or(2, Value::integer(-1));
  if (!count.is_integral()) fail("'" + type_name(count) + "' object cannot be interpreted as an integer");
  return same_kind(self, replace_text(self.as_string(), markup_arg(self, *bind.get(0), "replace() argument 1"),
                                      markup_arg(self, *bind.get(1), "replace() argument 2"), count.as_int()));
}

// find/rfind/index/rindex/count: code point results.
Value search_common(const Value& self, CallArgs& args, const char* name, bool reverse, bool raise, bool count) {
  ArgumentBinder bind(name, args, {"sub", "start", "end"}, 1);
  const std::string& text = self.as_string();
  const std::string& sub = require_str(*bind.get(0), "must be str");
  const auto [begin, end] = byte_range(text, bind.get(1), bind.get(2));
  if (begin == std::string::npos) {
    if (raise) fail("substring not found");
    return Value::integer(count ? 0 : -1);
  }
  const std::string_view window = std::string_view(text).substr(begin, end - begin);
  if (count) {
    if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8::length(window)) + 1);
    int64_t n = 0;
    for (size_t pos = window.find(sub); pos != std::string_view::npos; pos = window.find(sub, pos + sub.size())) ++n;
    return Value::integer(n);
  }
  const size_t found = reverse ? window.rfind(sub) : window.find(sub);
  if (found == std::string_view::npos) {
    if (raise) fail("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(static_cast<int64_t>(utf8::length(std::string_view(text).substr(0, begin + found))));
}
Value str_find(const Value& self, CallArgs& args) { return search_common(self, args, "find", false, false, false); }
Value str_rfind(const Value& self, CallArgs& args) { return search_common(self, args, "rfind", true, false, false); }
Value str_index(const Value& self, CallArgs& args) { return search_common(self, args, "index", false, true, false); }
Value str_rindex(const Value& self, CallArgs& args) { return search_common(self, args, "rindex", true, true, false); }
Value str_count(const Value& self, CallArgs& args) { return search_common(self, args, "count", false, false, true); }

Value str_join(const Value& self, CallArgs& args) {
  ArgumentBinder bind("join", args, {"iterable"}, 1);
  const ValueList items = iterate(*bind.get(0));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string())
      fail("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
    if (i) out += self.as_string();
    out += self.is_markup() && !items[i].is_markup() ? escape_html(items[i].as_string()) : items[i].as_string();
  }
  return same_kind(self, std::move(out));
}

Value str_format(const Value& self, CallArgs& args) { return brace_format(self, args); }

Value str_format_map(const Value& self, CallArgs& args) {
  if (args.positional.size() != 1 || !args.keyword.empty()) fail("format_map() takes exactly one argument");
  const Value& mapping = args.positional[0];
  if (!mapping.is_dict()) fail("format_map() argument must be a mapping");
  CallArgs converted;
  for (const auto& [key, value] : mapping.as_dict().entries())
    if (key.is_string()) converted.keyword.emplace_back(key.as_string(), value);
  return brace_format(self, converted);
}

Value justify_common(const Value& self, CallArgs& args, char align, const char* name) {
  ArgumentBinder bind(name, args, {"width", "fillchar"}, 1);
  const Value& width = *bind.get(0);
  if (!width.is_integral()) fail("'" + type_name(width) + "' object cannot be interpreted as an integer");
  std::string fill = " ";
  if (const Value* f = bind.get(1)) {
    fill = require_str(*f, "The fill character");
    if (utf8::length(fill) != 1) fail("The fill character must be exactly one character long");
  }
  const std::string& text = self.as_string();
  const int64_t length = static_cast<int64_t>(utf8::length(text));
  const int64_t target = std::min<int64_t>(width.as_int(), 1 << 24);
  if (target <= length) return self;
  const int64_t total = target - length;
  int64_t left = 0;
  if (align == '>') left = total;
  else if (align == '^') left = total / 2 + (total & target & 1);  // CPython's centering rule
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += text;
  for (int64_t i = left; i < total; ++i) out += fill;
  return same_kind(self, std::move(out));
}
Value str_center(const Value& self, CallArgs& args) { return justify_common(self, args, '^', "center"); }
Value str_ljust(const Value& self, CallArgs& args) { return justify_common(self, args, '<', "ljust"); }
Value str_rjust(const Value& self, CallArgs& args) { return justify_common(self, args, '>', "rjust"); }

Value str_zfill(const Value& self, CallArgs& args) {
  ArgumentBinder bind("zfill", args, {"width"}, 1);
  const Value& width = *bind.get(0);
  if (!width.is_integral()) fail("'" + type_name(width) + "' object cannot be interpreted as an integer");
  std::string text = self.as_string();
  const int64_t length = static_cast<int64_t>(utf8::length(text));
  if (width.as_int() <= length) return self;
  const size_t fill = static_cast<size_t>(std::min<int64_t>(width.as_int(), 1 << 24) - length);
  const size_t at = (!text.empty() && (text[0] == '+' || text[0] == '-')) ? 1 : 0;
  text.insert(at, fill, '0');
  return same_kind(self, std::move(text));
}

template <bool (*Predicate)(char32_t)>
Value all_chars(const Value& self, CallArgs&) {
  const std::string& text = self.as_string();
  if (text.empty()) return Value::boolean(false);
  for (size_t pos = 0; pos < text.size();)
    if (!Predicate(utf8::decode(text, pos))) return Value::boolean(false);
  return Value::boolean(true);
}
bool is_digit_char(char32_t c) { return c >= '0' && c <= '9'; }
bool is_alpha_char(char32_t c) { return utf8::is_word(c) && !is_digit_char(c) && c != '_'; }
bool is_alnum_char(char32_t c) { return utf8::is_word(c) && c != '_'; }

Value str_isspace(const Value& self, CallArgs& args) { return all_chars<utf8::is_space>(self, args); }
Value str_isdigit(const Value& self, CallArgs& args) { return all_chars<is_digit_char>(self, args); }
Value str_isalpha(const Value& self, CallArgs& args) { return all_chars<is_alpha_char>(self, args); }
Value str_isalnum(const Value& self, CallArgs& args) { return all_chars<is_alnum_char>(self, args); }
Value str_isascii(const Value& self, CallArgs&) { return Value::boolean(utf8::is_ascii(self.as_string())); }
Value str_islower(const Value& self, CallArgs&) { return Value::boolean(utf8::is_all_lower(self.as_string())); }
Value str_isupper(const Value& self, CallArgs&) { return Value::boolean(utf8::is_all_upper(self.as_string())); }
Value str_istitle(const Value& self, CallArgs&) {
  // Upper-case letters only after uncased characters, lower-case only after cased ones.
  const std::string& text = self.as_string();
  bool any_cased = false, previous_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = utf8::decode(text, pos);
    if (utf8::is_upper(c)) {
      if (previous_cased) return Value::boolean(false);
      previous_cased = any_cased = true;
    } else if (utf8::is_lower(c)) {
      if (!previous_cased) return Value::boolean(false);
      previous_cased = any_cased = true;
    } else {
      previous_cased = false;
    }
  }
  return Value::boolean(any_cased);
}

Value partition_common(const Value& self, CallArgs& args, bool reverse, const char* name) {
  ArgumentBinder bind(name, args, {"sep"}, 1);
  const std::string sep = markup_arg(self, *bind.get(0), "must be str");
  if (sep.empty()) fail("empty separator");
  const std::string& text = self.as_string();
  const size_t found = reverse ? text.rfind(sep) : text.find(sep);
  if (found == std::string::npos) {
    if (reverse) return Value::tuple({same_kind(self, ""), same_kind(self, ""), self});
    return Value::tuple({self, same_kind(self, ""), same_kind(self, "")});
  }
  return Value::tuple({same_kind(self, text.substr(0, found)), same_kind(self, sep),
                       same_kind(self, text.substr(found + sep.size()))});
}
Value str_partition(const Value& self, CallArgs& args) { return partition_common(self, args, false, "partition"); }
Value str_rpartition(const Value& self, CallArgs& args) { return partition_common(self, args, true, "rpartition"); }

Value str_removeprefix(const Value& self, CallArgs& args) {
  ArgumentBinder bind("removeprefix", args, {"prefix"}, 1);
  const std::string& prefix = require_str(*bind.get(0), "removeprefix() argument");
  const std::string& text = self.as_string();
  if (text.compare(0, prefix.size(), prefix) == 0) return same_kind(self, text.substr(prefix.size()));
  return self;
}
Value str_removesuffix(const Value& self, CallArgs& args) {
  ArgumentBinder bind("removesuffix", args, {"suffix"}, 1);
  const std::string& suffix = require_str(*bind.get(0), "removesuffix() argument");
  const std::string& text = self.as_string();
  if (!suffix.empty() && text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0)
    return same_kind(self, text.substr(0, text.size() - suffix.size()));
  return self;
}

// ---- dict ----

Value dict_get(const Value& self, CallArgs& args) {
  ArgumentBinder bind("get", args, {"key", "default"}, 1);
  const Value& key = *bind.get(0);
  if (!is_hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
  const Value* found = self.as_dict().find(key);
  if (found) return *found;
  return bind.get_or(1, Value::none());
}

Value dict_items(const Value& self, CallArgs& args) {
  ArgumentBinder bind("items", args, {});
  ValueList items;
  for (const auto& [key, value] : self.as_dict().entries()) items.push_back(Value::tuple({key, value}));
  return Value::list(std::move(items));
}

Value dict_keys(const Value& self, CallArgs& args) {
  ArgumentBinder bind("keys", args, {});
  ValueList keys;
  for (const auto& [key, value] : self.as_dict().entries()) keys.push_back(key);
  return Value::list(std::move(keys));
}

Value dict_values(const Value& self, CallArgs& args) {
  ArgumentBinder bind("values", args, {});
  ValueList values;
  for (const auto& [key, value] : self.as_dict().entries()) values.push_back(value);
  return Value::list(std::move(values));
}

Value dict_copy(const Value& self, CallArgs& args) {
  ArgumentBinder bind("copy", args, {});
  return Value::dict(self.as_dict());
}

// ---- list / tuple ----

Value sequence_index(const Value& self, CallArgs& args) {
  ArgumentBinder bind("index", args, {"value", "start", "stop"}, 1);
  const ValueList& items = self.items();
  int64_t start = 0, stop = static_cast<int64_t>(items.size());
  const auto n = static_cast<int64_t>(items.size());
  if (const Value* s = bind.get(1)) start = s->as_int() < 0 ? std::max<int64_t>(0, s->as_int() + n) : s->as_int();
  if (const Value* e = bind.get(2)) stop = e->as_int() < 0 ? std::max<int64_t>(0, e->as_int() + n) : std::min(e->as_int(), n);
  for (int64_t i = start; i < stop; ++i)
    if (values_equal(items[static_cast<size_t>(i)], *bind.get(0))) return Value::integer(i);
  fail(to_repr(*bind.get(0)) + " is not in " + type_name(self));
}

Value sequence_count(const Value& self, CallArgs& args) {
  ArgumentBinder bind("count", args, {"value"}, 1);
  int64_t n = 0;
  for (const Value& item : self.items())
    if (values_equal(item, *bind.get(0))) ++n;
  return Value::integer(n);
}

Value list_copy(const Value& self, CallArgs& args) {
  ArgumentBinder bind("copy", args, {});
  return Value::list(self.items());
}

struct MethodEntry {
  std::string_view name;
  Method method;
};

constexpr MethodEntry kStringMethods[] = {
    {"strip", str_strip},         {"lstrip", str_lstrip},         {"rstrip", str_rstrip},
    {"split", str_split},         {"rsplit", str_rsplit},         {"splitlines", str_splitlines},
    {"startswith", str_startswith}, {"endswith", str_endswith},   {"upper", str_upper},
    {"lower", str_lower},         {"casefold", str_lower},        {"title", str_title},
    {"capitalize", str_capitalize}, {"swapcase", str_swapcase},   {"replace", str_replace},
    {"find", str_find},           {"rfind", str_rfind},           {"index", str_index},
    {"rindex", str_rindex},       {"count", str_count},           {"join", str_join},
    {"format", str_format},       {"format_map", str_format_map}, {"center", str_center},
    {"ljust", str_ljust},         {"rjust", str_rjust},           {"zfill", str_zfill},
    {"isspace", str_isspace},     {"isdigit", str_isdigit},       {"isdecimal", str_isdigit},
    {"isnumeric", str_isdigit},   {"isalpha", str_isalpha},       {"isalnum", str_isalnum},
    {"isascii", str_isascii},     {"islower", str_islower},       {"isupper", str_isupper},
    {"istitle", str_istitle},     {"partition", str_partition},   {"rpartition", str_rpartition},
    {"removeprefix", str_removeprefix}, {"removesuffix", str_removesuffix},
};
constexpr MethodEntry kDictMethods[] = {
    {"get", dict_get}, {"items", dict_items}, {"keys", dict_keys}, {"values", dict_values}, {"copy", dict_copy},
};
constexpr MethodEntry kListMethods[] = {{"index", sequence_index}, {"count", sequence_count}, {"copy", list_copy}};
constexpr MethodEntry kTupleMethods[] = {{"index", sequence_index}, {"count", sequence_count}};

// Attributes that exist in Python but that ImmutableSandboxedEnvironment refuses.
constexpr std::string_view kUnsafeDictMethods[] = {"clear", "pop", "popitem", "setdefault", "update"};
constexpr std::string_view kUnsafeListMethods[] = {"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};
// Python str methods jisu does not implement (they exist, so they are not "missing").
constexpr std::string_view kOtherStringMethods[] = {"encode", "expandtabs", "isidentifier", "isprintable", "maketrans",
                                                    "translate"};

template <size_t N>
std::optional<Value> bind_method(const Value& self, const std::string& name, const MethodEntry (&table)[N]) {
  for (const MethodEntry& entry : table) {
    if (entry.name == name) {
      const Method method = entry.method;
      return Value::function(name, [self, method](Renderer&, CallArgs& args) { return method(self, args); });
    }
  }
  return std::nullopt;
}

Value unsafe(const Value& self, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.");
}

}  // namespace

std::optional<Value> find_attribute(const Value& object, const std::string& name) {
  // Dunder attributes exist on every Python object and are always refused by the sandbox;
  // other names starting with '_' do not exist (the lookup then falls back to items).
  if (name.size() > 4 && name.compare(0, 2, "__") == 0 && name.compare(name.size() - 2, 2, "__") == 0)
    return unsafe(object, name);
  switch (object.kind()) {
    case ValueKind::String:
      if (auto method = bind_method(object, name, kStringMethods)) return method;
      if (object.is_markup()) {
        if (name == "escape") return Value::function(name, [object](Renderer&, CallArgs&) { return object; });
        if (name == "unescape" || name == "striptags") {
          const bool strip = name == "striptags";
          return Value::function(name, [object, strip](Renderer&, CallArgs&) {
            return Value::string(strip ? markup_striptags(object.as_string()) : html_unescape(object.as_string()),
                                 false);
          });
        }
      }
      for (std::string_view other : kOtherStringMethods)
        if (other == name)
          return Value::function(name, [name](Renderer&, CallArgs&) -> Value { fail("str." + name + "() is not supported by jisu"); });
      return std::nullopt;
    case ValueKind::Dict:
      for (std::string_view bad : kUnsafeDictMethods)
        if (bad == name) return unsafe(object, name);
      return bind_method(object, name, kDictMethods);
    case ValueKind::List:
      for (std::string_view bad : kUnsafeListMethods)
        if (bad == name) return unsafe(object, name);
      return bind_method(object, name, kListMethods);
    case ValueKind::Tuple: return bind_method(object, name, kTupleMethods);
    case ValueKind::Float:
      if (name == "is_integer") {
        const double d = object.as_float();
        return Value::function(name, [d](Renderer&, CallArgs&) { return Value::boolean(std::isfinite(d) && d == std::floor(d)); });
      }
      if (name == "real") return object;
      if (name == "imag") return Value::number(0.0);
      return std::nullopt;
    case ValueKind::Int:
    case ValueKind::Bool:
      if (name == "real" || name == "numerator") return Value::integer(object.as_int());
      if (name == "imag") return Value::integer(0);
      if (name == "denominator") return Value::integer(1);
      return std::nullopt;
    default: return std::nullopt;
  }
}

}  // namespace jisu::jinja
