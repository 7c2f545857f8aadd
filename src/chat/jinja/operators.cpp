#include "chat/jinja/operators.h"

#include <cmath>

#include "chat/jinja/python_repr.h"
#include "chat/jinja/string_formatting.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

namespace {

const char* op_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Subtract: return "-";
    case BinaryOp::Multiply: return "*";
    case BinaryOp::Divide: return "/";
    case BinaryOp::FloorDivide: return "//";
    case BinaryOp::Modulo: return "%";
    case BinaryOp::Power: return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinaryOp op, const Value& left, const Value& right) {
  if (op == BinaryOp::Add && left.is_string() && !right.is_string())
    fail("can only concatenate str (not \"" + type_name(right) + "\") to str");
  if (op == BinaryOp::Add && left.is_list() && !right.is_list())
    fail("can only concatenate list (not \"" + type_name(right) + "\") to list");
  fail(std::string("unsupported operand type(s) for ") + op_symbol(op) + ": '" + type_name(left) + "' and '" +
       type_name(right) + "'");
}

[[noreturn]] void overflow() { fail("integer result too large (jisu integers are 64-bit)"); }

// Runs one __builtin_*_overflow operation. (Passing the result variable as a second argument
// next to the builtin call would read it before it is written: argument order is unspecified.)
template <typename Operation>
int64_t checked(Operation operation, int64_t x, int64_t y) {
  int64_t result;
  if (operation(x, y, &result)) overflow();
  return result;
}
bool add_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); }
bool sub_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); }
bool mul_overflow(int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); }

int64_t floor_divide(int64_t x, int64_t y) {
  if (y == 0) fail("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1) overflow();
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  return q;
}

int64_t modulo(int64_t x, int64_t y) {
  if (y == 0) fail("integer division or modulo by zero");
  if (y == -1) return 0;
  int64_t r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

Value integer_power(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 0) fail("0.0 cannot be raised to a negative power");
    return Value::number(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
  int64_t result = 1;
  int64_t factor = base;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, factor, &result)) overflow();
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(factor, factor, &factor)) overflow();
  }
  return Value::integer(result);
}

Value repeat(const Value& sequence, int64_t count) {
  if (count < 0) count = 0;
  // Nothing repeated any number of times is nothing: return before a loop of 10**18 rounds.
  const bool empty = sequence.is_string() ? sequence.as_string().empty() : sequence.items().empty();
  if (empty || count == 0)
    return sequence.is_string() ? Value::string("", sequence.is_markup())
                                : (sequence.is_list() ? Value::list({}) : Value::tuple({}));
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    if (!text.empty() && static_cast<uint64_t>(count) > kMaxBuiltSize / text.size())
      fail("string repetition result is too large");
    std::string out;
    out.reserve(text.size() * static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) out += text;
    return Value::string(std::move(out), sequence.is_markup());
  }
  const ValueList& items = sequence.items();
  if (!items.empty() && static_cast<uint64_t>(count) > (kMaxBuiltSize / 16) / items.size())
    fail("sequence repetition result is too large");
  ValueList out;
  out.reserve(items.size() * static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

// Markup + other: the plain side is escaped first (markupsafe's __add__/__radd__).
std::string markup_operand(const Value& value) {
  if (value.is_markup()) return value.as_string();
  return escape_html(to_str(value));
}

}  // namespace

double python_float_modulo(double x, double y) {
  if (y == 0.0) fail("float modulo");
  double mod = std::fmod(x, y);
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double python_float_floor_divide(double x, double y) {
  if (y == 0.0) fail("float floor division by zero");
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
  double floordiv;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, x / y);
  }
  return floordiv;
}

Value binary_operation(BinaryOp op, const Value& left, const Value& right) {
  if (left.is_undefined()) fail(left.undefined_message());
  if (right.is_undefined()) fail(right.undefined_message());

  if (left.is_number() && right.is_number()) {
    const bool both_int = left.is_integral() && right.is_integral();
    if (both_int) {
      const int64_t x = left.as_int(), y = right.as_int();
      switch (op) {
        case BinaryOp::Add: return Value::integer(checked(add_overflow, x, y));
        case BinaryOp::Subtract: return Value::integer(checked(sub_overflow, x, y));
        case BinaryOp::Multiply: return Value::integer(checked(mul_overflow, x, y));
        case BinaryOp::Divide:
          if (y == 0) fail("division by zero");
          return Value::number(static_cast<double>(x) / static_cast<double>(y));
        case BinaryOp::FloorDivide: return Value::integer(floor_divide(x, y));
        case BinaryOp::Modulo: return Value::integer(modulo(x, y));
        case BinaryOp::Power: return integer_power(x, y);
      }
    }
    const double x = left.as_float(), y = right.as_float();
    switch (op) {
      case BinaryOp::Add: return Value::number(x + y);
      case BinaryOp::Subtract: return Value::number(x - y);
      case BinaryOp::Multiply: return Value::number(x * y);
      case BinaryOp::Divide:
        if (y == 0.0) fail("float division by zero");
        return Value::number(x / y);
      case BinaryOp::FloorDivide: return Value::number(python_float_floor_divide(x, y));
      case BinaryOp::Modulo: return Value::number(python_float_modulo(x, y));
      case BinaryOp::Power: {
        if (x == 0.0 && y < 0) fail("0.0 cannot be raised to a negative power");
        if (x < 0 && y != std::floor(y)) fail("complex results are not supported");
        const double r = std::pow(x, y);
        if (std::isinf(r) && !std::isinf(x) && !std::isinf(y)) fail("numerical result out of range");
        return Value::number(r);
      }
    }
  }

  switch (op) {
    case BinaryOp::Add:
      if (left.is_string() && right.is_string()) {
        if (left.is_markup() || right.is_markup()) {
          std::string joined = markup_operand(left) + markup_operand(right);
          if (joined.size() > kMaxBuiltSize) fail("string concatenation result is too large");
          return Value::string(std::move(joined), true);
        }
        if (left.as_string().size() + right.as_string().size() > kMaxBuiltSize)
          fail("string concatenation result is too large");
        return Value::string(left.as_string() + right.as_string());
      }
      if ((left.is_list() && right.is_list()) || (left.is_tuple() && right.is_tuple())) {
        if (left.items().size() + right.items().size() > kMaxBuiltSize / 16) fail("list concatenation result is too large");
        ValueList items = left.items();
        items.insert(items.end(), right.items().begin(), right.items().end());
        return left.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      break;
    case BinaryOp::Multiply:
      if ((left.is_string() || left.is_list_or_tuple()) && right.is_integral()) return repeat(left, right.as_int());
      if (left.is_integral() && (right.is_string() || right.is_list_or_tuple())) return repeat(right, left.as_int());
      break;
    case BinaryOp::Modulo:
      if (left.is_string()) return percent_format(left, right);
      break;
    default: break;
  }
  unsupported(op, left, right);
}

Value unary_operation(UnaryOp op, const Value& operand) {
  if (op == UnaryOp::Not) return Value::boolean(!truthy(operand));
  if (operand.is_undefined()) fail(operand.undefined_message());
  if (operand.is_integral()) {
    if (op == UnaryOp::Plus) return Value::integer(operand.as_int());
    if (operand.as_int() == INT64_MIN) overflow();
    return Value::integer(-operand.as_int());
  }
  if (operand.is_float()) return Value::number(op == UnaryOp::Plus ? operand.as_float() : -operand.as_float());
  fail(std::string("bad operand type for unary ") + (op == UnaryOp::Plus ? "+" : "-") + ": '" + type_name(operand) + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::Undefined: return false;  // Undefined iterates as empty
    case ValueKind::String:
      if (!item.is_string())
        fail("'in <string>' requires string as left operand, not " + type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::List:
    case ValueKind::Tuple:
      for (const Value& element : container.items())
        if (values_equal(element, item)) return true;
      return false;
    case ValueKind::Dict:
      if (!is_hashable(item)) fail("unhashable type: '" + type_name(item) + "'");
      return container.as_dict().find(item) != nullptr;
    case ValueKind::Object:
      if (container.as_object().iterable()) {
        // Python consumes the iterator up to the match; consuming all of it differs only for a
        // template that iterates the same generator again after an `in` test.
        for (const Value& element : container.as_object().take_items())
          if (values_equal(element, item)) return true;
        return false;
      }
      [[fallthrough]];
    default: fail("argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool compare_operation(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::Equal: return values_equal(left, right);
    case CompareOp::NotEqual: return !values_equal(left, right);
    case CompareOp::Less: return less_than(left, right, "<");
    case CompareOp::LessEqual:
      if (left.is_undefined() || right.is_undefined()) less_than(left, right, "<=");
      if (left.is_number() && right.is_number()) return !less_than(right, left, "<=") && !std::isnan(left.as_float()) && !std::isnan(right.as_float());
      return less_than(left, right, "<=") || values_equal(left, right);
    case CompareOp::Greater: return less_than(right, left, ">");
    case CompareOp::GreaterEqual:
      if (left.is_undefined() || right.is_undefined()) less_than(left, right, ">=");
      if (left.is_number() && right.is_number()) return !less_than(left, right, ">=") && !std::isnan(left.as_float()) && !std::isnan(right.as_float());
      return less_than(right, left, ">=") || values_equal(left, right);
    case CompareOp::In: return contains(right, left);
    case CompareOp::NotIn: return !contains(right, left);
  }
  return false;
}

}  // namespace jisu::jinja
