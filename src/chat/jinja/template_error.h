#pragma once
// Errors inside the Jinja interpreter. Code deep in the value/filter layer does not know where
// in the template it is, so it throws TemplateError without a location; the renderer catches it
// at the innermost AST node that is being evaluated and attaches that node's line and column
// (first attachment wins, so the location is the most precise one). At the API boundary
// (ChatTemplate) every TemplateError becomes a jisu::Error:
//   "chat template error at line 3, column 14: unexpected '}'".
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace jisu::jinja {

struct SourceLocation {
  uint32_t line = 0;    // 1-based; 0 = unknown
  uint32_t column = 0;  // 1-based, in code points
};

class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(std::string message, SourceLocation where = {})
      : std::runtime_error(std::move(message)), where_(where) {}
  bool located() const { return where_.line != 0; }
  SourceLocation where() const { return where_; }
  void locate(SourceLocation where) {
    if (!located()) where_ = where;
  }

 private:
  SourceLocation where_;
};

// Throws a TemplateError without location (the renderer adds it).
[[noreturn]] void fail(std::string message);

// "chat template error at line L, column C: message" as a jisu::Error.
jisu::Error to_jisu_error(const TemplateError& error);

}  // namespace jisu::jinja
