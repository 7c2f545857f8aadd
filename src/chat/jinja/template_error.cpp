#include "chat/jinja/template_error.h"

namespace jisu::jinja {

void fail(std::string message) { throw TemplateError(std::move(message)); }

jisu::Error to_jisu_error(const TemplateError& error) {
  std::string message = "chat template error";
  if (error.located())
    message += " at line " + std::to_string(error.where().line) + ", column " + std::to_string(error.where().column);
  message += ": ";
  // Errors are reported on one line: newlines in the message (a template's own
  // raise_exception text, quoted content) are written as "\n".
  for (const char* c = error.what(); *c; ++c) {
    if (*c == '\n') message += "\\n";
    else if (*c != '\r') message += *c;
  }
  return jisu::Error(std::move(message));
}

}  // namespace jisu::jinja
