#pragma once
// Attribute access, subscription, slicing and iteration with the exact lookup rules of jinja2's
// sandboxed environment (jinja2/sandbox.py):
//   obj.name  -> Python attribute first (methods like d.items, s.upper), then obj['name'];
//   obj[key]  -> obj[key] first, then (for string keys) the attribute;
//   a lookup that finds nothing yields Undefined ("'dict object' has no attribute 'x'"), while
//   lookups on Undefined itself are errors. Slices bypass the sandbox and are plain Python:
//   bad slices are errors.
#include <optional>
#include <string>

#include "chat/jinja/value.h"

namespace jisu::jinja {

Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// Python getattr(obj, name) alone (no item fallback; sandbox-refused attributes come back as a
// failing Undefined); nullopt when Python would raise AttributeError. The `attr` filter's lookup.
std::optional<Value> python_getattr(const Value& object, const std::string& name);
// Python obj[start:stop:step]; null pointers are omitted bounds.
Value slice_value(const Value& object, const Value* start, const Value* stop, const Value* step);
// Python iter(): list/tuple items, dict keys, string code points; Undefined iterates as empty.
// Throws for non-iterables ("'int' object is not iterable").
ValueList iterate(const Value& value);
// jinja2's object_type_repr: "dict object", "None", ... for messages.
std::string object_type_repr(const Value& value);

}  // namespace jisu::jinja
