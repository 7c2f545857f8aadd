#include "tokenizer/jinja/template_error.h"

namespace jisu::jinja {

void fail(std::string message) { throw TemplateError(std::move(message)); }

jisu::Error to_jisu_error(const TemplateError& error) {
  std::string message = "chat template error";
  if (error.located())
    message += " at line " + std::to_string(error.where().line) + ", column " + std::to_string(error.where().column);
  message += ": ";
  message += error.what();
  return jisu::Error(std::move(message));
}

}  // namespace jisu::jinja
