#pragma once
// jinja2's builtin filters, tests, globals and the Python methods templates call on values,
// as the interpreter looks them up by name. Implementations live in builtin_filters.cpp,
// builtin_tests.cpp, builtin_methods.cpp and builtin_globals.cpp.
#include <optional>
#include <string>
#include <string_view>

#include "chat/jinja/value.h"

namespace jisu::jinja {

// value | name(args). Null when jisu does not implement the filter.
using FilterFunction = Value (*)(Renderer& renderer, const Value& input, CallArgs& args);
FilterFunction find_filter(std::string_view name);
// Whether jinja2 (as Hugging Face configures it) has a filter/test of that name. Decides
// between a parse-time "No filter named" error and a run-time "not supported" one.
bool jinja2_has_filter(std::string_view name);

// value is name(args).
using TestFunction = bool (*)(Renderer& renderer, const Value& input, CallArgs& args);
TestFunction find_test(std::string_view name);
bool jinja2_has_test(std::string_view name);

// Python attribute lookup of a method or data attribute on a builtin value ("abc".upper,
// d.items, ns.attr excluded). Methods the sandbox forbids (list.append, dict.pop, anything
// starting with '_') come back as an Undefined that fails when used, as in jinja2's
// ImmutableSandboxedEnvironment. nullopt: Python has no such attribute.
std::optional<Value> find_attribute(const Value& object, const std::string& name);

// markupsafe's Markup.striptags() (comments and tags removed, whitespace collapsed, entities
// decoded) and html.unescape() for the common named and all numeric entities.
std::string markup_striptags(const std::string& text);
std::string html_unescape(std::string_view text);

// A Python iterator over `items` whose type name is `type_name` ("generator",
// "list_reverseiterator"): truthy, no len(), not JSON serializable, iterable once -- what
// jinja2's generator filters hand to the next filter or to the template.
Value make_iterator(std::string type_name, ValueList items);

// range, dict, namespace, cycler, joiner, lipsum, raise_exception, strftime_now.
Dict builtin_globals();

// Binds a builtin's call arguments to parameter names the way Python does (positional first,
// then keywords by name) and reports Python's TypeErrors for too many or unknown arguments.
class ArgumentBinder {
 public:
  ArgumentBinder(std::string_view function_name, const CallArgs& args, std::initializer_list<std::string_view> names,
                 size_t required = 0);
  const Value* get(size_t index) const { return index < bound_.size() && bound_[index] ? bound_[index] : nullptr; }
  Value get_or(size_t index, Value fallback) const {
    const Value* v = get(index);
    return v ? *v : std::move(fallback);
  }

 private:
  std::vector<const Value*> bound_;
};

}  // namespace jisu::jinja
