// jinja2's builtin tests (`x is defined`, `x is divisibleby 3`, ...), jinja2/tests.py, with the
// Python type checks they make: bool counts as a number but not as an integer, a dict is a
// sequence, Undefined is iterable, and so on.
#include "chat/jinja/builtins.h"
#include "chat/jinja/operators.h"
#include "chat/jinja/python_repr.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::jinja {

namespace {

const Value& single_argument(const CallArgs& args, const char* test) {
  if (args.positional.size() + args.keyword.size() != 1)
    fail(std::string(test) + "() takes exactly one argument");
  return args.positional.empty() ? args.keyword[0].second : args.positional[0];
}

void no_arguments(const CallArgs& args, const char* test) {
  if (!args.positional.empty() || !args.keyword.empty()) fail(std::string(test) + "() takes no arguments");
}

bool test_defined(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "defined"); return !v.is_undefined(); }
bool test_undefined(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "undefined"); return v.is_undefined(); }
bool test_none(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "none"); return v.is_none(); }
bool test_boolean(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "boolean"); return v.is_bool(); }
bool test_true(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "true"); return v.is_bool() && v.as_bool(); }
bool test_false(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "false"); return v.is_bool() && !v.as_bool(); }
bool test_integer(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "integer"); return v.is_int(); }
bool test_float(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "float"); return v.is_float(); }
bool test_number(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "number"); return v.is_number(); }
bool test_string(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "string"); return v.is_string(); }
bool test_mapping(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "mapping"); return v.is_dict(); }
bool test_escaped(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "escaped"); return v.is_markup(); }

// len(value) and value.__getitem__ both exist.
bool test_sequence(Renderer&, const Value& v, CallArgs& a) {
  no_arguments(a, "sequence");
  return v.is_undefined() || v.is_string() || v.is_list_or_tuple() || v.is_dict();
}

// iter(value) succeeds.
bool test_iterable(Renderer&, const Value& v, CallArgs& a) {
  no_arguments(a, "iterable");
  return v.is_undefined() || v.is_string() || v.is_list_or_tuple() || v.is_dict() ||
         (v.is_object() && (v.as_object().iterable() || v.as_object().type_name() == "LoopContext"));
}

bool test_callable(Renderer&, const Value& v, CallArgs& a) {
  no_arguments(a, "callable");
  // Undefined defines __call__ (to raise), so Python's callable() says True.
  return v.is_function() || v.is_undefined() || (v.is_object() && v.as_object().callable());
}

bool test_lower(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "lower"); return utf8::is_all_lower(to_str(v)); }
bool test_upper(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "upper"); return utf8::is_all_upper(to_str(v)); }

bool modulo_equals(const Value& v, const Value& divisor, int64_t expected) {
  const Value remainder = binary_operation(BinaryOp::Modulo, v, divisor);
  return values_equal(remainder, Value::integer(expected));
}
bool test_odd(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "odd"); return modulo_equals(v, Value::integer(2), 1); }
bool test_even(Renderer&, const Value& v, CallArgs& a) { no_arguments(a, "even"); return modulo_equals(v, Value::integer(2), 0); }
bool test_divisibleby(Renderer&, const Value& v, CallArgs& a) {
  return modulo_equals(v, single_argument(a, "divisibleby"), 0);
}

bool test_eq(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::Equal, v, single_argument(a, "eq")); }
bool test_ne(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::NotEqual, v, single_argument(a, "ne")); }
bool test_lt(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::Less, v, single_argument(a, "lt")); }
bool test_le(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::LessEqual, v, single_argument(a, "le")); }
bool test_gt(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::Greater, v, single_argument(a, "gt")); }
bool test_ge(Renderer&, const Value& v, CallArgs& a) { return compare_operation(CompareOp::GreaterEqual, v, single_argument(a, "ge")); }
bool test_in(Renderer&, const Value& v, CallArgs& a) { return contains(single_argument(a, "in"), v); }

// Python identity: None/True/False are singletons, CPython caches ints in [-5, 256], other
// values are identical when they share their payload.
bool test_sameas(Renderer&, const Value& v, CallArgs& a) {
  const Value& other = single_argument(a, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case ValueKind::None: return true;
    case ValueKind::Bool: return v.as_bool() == other.as_bool();
    case ValueKind::Int: return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case ValueKind::Float: return false;
    default: return v.identity() == other.identity();
  }
}

bool test_filter(Renderer&, const Value& v, CallArgs& a) {
  no_arguments(a, "filter");
  return v.is_string() && jinja2_has_filter(v.as_string());
}
bool test_test(Renderer&, const Value& v, CallArgs& a) {
  no_arguments(a, "test");
  return v.is_string() && jinja2_has_test(v.as_string());
}

struct TestEntry {
  std::string_view name;
  TestFunction function;
};

constexpr TestEntry kTests[] = {
    {"boolean", test_boolean},   {"callable", test_callable}, {"defined", test_defined},
    {"divisibleby", test_divisibleby}, {"eq", test_eq},      {"equalto", test_eq},
    {"==", test_eq},             {"escaped", test_escaped},   {"even", test_even},
    {"false", test_false},       {"filter", test_filter},     {"float", test_float},
    {"ge", test_ge},             {">=", test_ge},             {"gt", test_gt},
    {"greaterthan", test_gt},    {">", test_gt},              {"in", test_in},
    {"integer", test_integer},   {"iterable", test_iterable}, {"le", test_le},
    {"<=", test_le},             {"lower", test_lower},       {"lt", test_lt},
    {"lessthan", test_lt},       {"<", test_lt},              {"mapping", test_mapping},
    {"ne", test_ne},             {"!=", test_ne},             {"none", test_none},
    {"number", test_number},     {"odd", test_odd},           {"sameas", test_sameas},
    {"sequence", test_sequence}, {"string", test_string},     {"test", test_test},
    {"true", test_true},         {"undefined", test_undefined}, {"upper", test_upper},
};

}  // namespace

TestFunction find_test(std::string_view name) {
  for (const TestEntry& entry : kTests)
    if (entry.name == name) return entry.function;
  return nullptr;
}

bool jinja2_has_test(std::string_view name) { return find_test(name) != nullptr; }

}  // namespace jisu::jinja
