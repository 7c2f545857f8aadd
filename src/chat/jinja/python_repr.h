#pragma once
// Python's str() and repr() for interpreter values, byte for byte: what `{{ value }}` prints
// (str) and how containers print their items (repr). Examples: None, True, 1.0, 1e+16,
// 0.30000000000000004, ['a', "b'c"], {'k': 1}, (1,), <Namespace {'a': 1}>, Markup('x').
#include <string>
#include <string_view>

#include "chat/jinja/value.h"

namespace jisu::jinja {

// float.__repr__: shortest round-trip digits; fixed notation when the decimal exponent is in
// [-4, 16), else scientific with a two-digit minimum exponent ("1e-05", "1.5e+16").
std::string float_repr(double value);
// str.__repr__: single quotes unless the text has ' and no ", escapes like CPython.
std::string string_repr(std::string_view text);
std::string to_str(const Value& value);   // str(value); Undefined -> ""
std::string to_repr(const Value& value);  // repr(value); Undefined -> "Undefined"
// markupsafe.escape on plain text: & < > ' " -> &amp; &lt; &gt; &#39; &#34;
std::string escape_html(std::string_view text);

}  // namespace jisu::jinja
