#pragma once
// Tokens -> syntax tree, following jinja2's recursive-descent parser (jinja2/parser.py) rule for
// rule, so operator precedence and the odd corners match: `is` tests and `|` filters bind tighter
// than arithmetic (`a + b|length` is `a + (b|length)`), unary minus binds tighter than `**`
// (`-2 ** 2` is 4), `**` is left-associative, comparisons chain, `{{ a, b }}` is a tuple.
//
// Also enforced at parse time, like jinja2's compiler does:
//   * `break`/`continue` only inside a loop body (not across a macro/call/generation body);
//   * an unknown filter or test name is an error, except below an `if` or inline `x if y`
//     (nearer than any loop/macro/block body), where jinja2 defers it to run time;
//   * nesting depth is capped so hostile input cannot overflow the stack.
// Errors are TemplateError with the line and column of the offending token.
#include <string_view>

#include "chat/jinja/ast.h"

namespace jisu::jinja {

// Parses a normalized template source (see normalize_template_source).
TemplateProgram parse_template(std::string_view normalized_source);

}  // namespace jisu::jinja
