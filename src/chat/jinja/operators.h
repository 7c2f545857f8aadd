#pragma once
// Python's operators on interpreter values: int arithmetic with floor division and modulo that
// round toward negative infinity, true division always giving a float, str/list concatenation
// and repetition, `%` string formatting, chained comparisons, `in`. Markup strings escape plain
// strings combined with them through `+`, `*` and `%`, as markupsafe does.
// Type errors carry Python's messages; int64 overflow (Python would switch to big integers) is an
// error too.
#include "chat/jinja/ast.h"
#include "chat/jinja/value.h"

namespace jisu::jinja {

// Upper bound on strings and lists built by `*` and `+` (hostile templates must not exhaust
// memory). Output size has its own bound in the renderer.
constexpr size_t kMaxBuiltSize = size_t{8} << 20;

Value binary_operation(BinaryOp op, const Value& left, const Value& right);
Value unary_operation(UnaryOp op, const Value& operand);
bool compare_operation(CompareOp op, const Value& left, const Value& right);
// Python `item in container`.
bool contains(const Value& container, const Value& item);
// Python's float // and % (CPython float_divmod), exposed for the `round`-like filters.
double python_float_floor_divide(double x, double y);
double python_float_modulo(double x, double y);

}  // namespace jisu::jinja
