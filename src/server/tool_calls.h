#pragma once
// Tool calls in model output: the three common formats, told apart by the chat template.
//
//   Hermes / Qwen:  <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>  (one block per call)
//   Llama 3.x JSON: {"name": "f", "parameters": {...}}  (the whole reply, maybe after <|python_tag|>)
//   Mistral:        [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]
//
// parse_tool_calls turns a finished reply into OpenAI tool_calls (arguments as JSON text) and
// the remaining content; a call naming a function that is not among the request's tools stays
// content. tool_call_grammar writes the GBNF that forces a reply to be one call in the format
// (tool_choice required: any tool; named: that one), its arguments valid per the tool's schema.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace jisu::server {

enum class ToolCallFormat { Hermes, Llama3Json, Mistral };

// From the template's text (Hermes when nothing else is recognisable, and for ChatML).
ToolCallFormat detect_tool_call_format(std::string_view chat_template);
const char* tool_call_format_name(ToolCallFormat format);

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text of an object
};

struct ParsedReply {
  std::string content;
  std::vector<ToolCall> calls;
};

ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat format, const std::vector<std::string>& tool_names);

// `names` and `parameters` are the request's tools; `only` (if not empty) the one to call.
// Throws SchemaError (json_schema_grammar.h) for a schema it cannot express.
std::string tool_call_grammar(ToolCallFormat format, const std::vector<std::string>& names,
                              const std::vector<nlohmann::json>& parameters, const std::string& only);

}  // namespace jisu::server
