#pragma once
// Template source -> tokens, reproducing jinja2's lexer (jinja2/lexer.py) as Hugging Face
// configures it: trim_blocks=True, lstrip_blocks=True, default delimiters, no line statements,
// keep_trailing_newline=False.
//
// Whitespace rules, exactly as jinja2 applies them:
//   * Newlines are normalised first (\r\n and \r become \n) and one trailing newline of the
//     whole source is dropped.
//   * `{%-`, `{{-`, `{#-` strip all whitespace (Python str.rstrip) before the tag; `-%}`, `-}}`,
//     `-#}` strip all whitespace after it.
//   * trim_blocks: a plain `%}` or `#}` swallows one directly following "\n" (not `}}`, not
//     `+%}`, and not the `%}` of `{% raw %}`).
//   * lstrip_blocks: the spaces/tabs between the start of a line and a `{%` or `{#` tag are
//     removed (not for `{{`, not for `{%+`); "start of a line" includes the start of the text
//     right after a previous tag whose match ended with "\n".
//   * `{% raw %}...{% endraw %}` yields its content as text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja/template_error.h"

namespace jisu::jinja {

enum class TokenType : uint8_t {
  Data,           // literal template text (text)
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,           // identifier or keyword (text)
  String,         // string literal, already unescaped (text)
  Integer,        // integer literal (integer)
  Float,          // float literal (floating)
  Operator,       // + - * / // % ** ~ [ ] ( ) { } == != > >= < <= = . : | , ; (text)
  Eof,
};

struct Token {
  TokenType type = TokenType::Eof;
  std::string text;
  int64_t integer = 0;
  double floating = 0;
  SourceLocation where;
};

// The source as jinja2 sees it: newlines normalised, one trailing newline removed.
std::string normalize_template_source(std::string_view source);

// Tokenizes a normalized source. Throws TemplateError (with location) on lexical errors:
// unterminated comments/raw blocks, unexpected characters, unbalanced brackets, bad escapes.
// The last token is always Eof.
std::vector<Token> tokenize(std::string_view source);

}  // namespace jisu::jinja
