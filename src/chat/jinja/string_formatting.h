#pragma once
// Python's two string formatting mini-languages:
//   "%s and %(name)05.2f" % args   (printf-style, used by `%` and the `format` filter)
//   "{} and {0.attr!r:>10}".format(...)   (str.format, with the sandbox's attribute lookups)
// Markup format strings escape their (non-Markup) arguments and stay Markup, as markupsafe does.
#include <string>

#include "chat/jinja/value.h"

namespace jisu::jinja {

// format % args. `args` is a tuple (positional), a dict (mapping keys) or a single value.
Value percent_format(const Value& format, const Value& args);
// format.format(*positional, **keyword).
Value brace_format(const Value& format, const CallArgs& args);
// Python format(value, spec) for str, int, bool, float; other types accept only an empty spec.
std::string format_with_spec(const Value& value, const std::string& spec);

}  // namespace jisu::jinja
