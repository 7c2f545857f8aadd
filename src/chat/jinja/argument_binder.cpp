#include "chat/jinja/builtins.h"
#include "chat/jinja/template_error.h"

namespace jisu::jinja {

ArgumentBinder::ArgumentBinder(std::string_view function_name, const CallArgs& args,
                               std::initializer_list<std::string_view> names, size_t required)
    : bound_(names.size(), nullptr) {
  const std::vector<std::string_view> parameters(names);
  if (args.positional.size() > parameters.size())
    fail(std::string(function_name) + "() takes at most " + std::to_string(parameters.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    size_t index = parameters.size();
    for (size_t i = 0; i < parameters.size(); ++i)
      if (parameters[i] == name) index = i;
    if (index == parameters.size())
      fail(std::string(function_name) + "() got an unexpected keyword argument '" + name + "'");
    if (bound_[index]) fail(std::string(function_name) + "() got multiple values for argument '" + name + "'");
    bound_[index] = &value;
  }
  for (size_t i = 0; i < required; ++i)
    if (!bound_[i])
      fail(std::string(function_name) + "() missing required argument '" + std::string(parameters[i]) + "'");
}

}  // namespace jisu::jinja
