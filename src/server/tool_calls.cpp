#include "server/tool_calls.h"

#include <algorithm>

#include "server/json_schema_grammar.h"

namespace jisu::server {
namespace {

using nlohmann::json;

std::string_view trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// {"name": ..., "arguments"|"parameters": {...}} naming a known tool -> a call.
bool call_from_json(const json& value, const std::vector<std::string>& tool_names, std::vector<ToolCall>& calls) {
  if (!value.is_object() || !value.contains("name") || !value["name"].is_string()) return false;
  const std::string name = value["name"].get<std::string>();
  if (std::find(tool_names.begin(), tool_names.end(), name) == tool_names.end()) return false;
  json arguments = json::object();
  for (const char* key : {"arguments", "parameters"})
    if (value.contains(key)) arguments = value[key];
  if (arguments.is_string()) {
    json parsed = json::parse(arguments.get<std::string>(), nullptr, false);
    if (parsed.is_discarded()) return false;
    arguments = std::move(parsed);
  }
  if (!arguments.is_object()) return false;
  calls.push_back({name, arguments.dump()});
  return true;
}

json parse_or_discard(std::string_view text) { return json::parse(text.begin(), text.end(), nullptr, false); }

}  // namespace

ToolCallFormat detect_tool_call_format(std::string_view chat_template) {
  if (chat_template.find("[TOOL_CALLS]") != std::string_view::npos) return ToolCallFormat::Mistral;
  if (chat_template.find("<tool_call>") != std::string_view::npos) return ToolCallFormat::Hermes;
  if (chat_template.find("<|python_tag|>") != std::string_view::npos ||
      (chat_template.find("<|start_header_id|>") != std::string_view::npos &&
       chat_template.find("\"parameters\"") != std::string_view::npos))
    return ToolCallFormat::Llama3Json;
  return ToolCallFormat::Hermes;
}

const char* tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::Hermes: return "hermes";
    case ToolCallFormat::Llama3Json: return "llama3-json";
    case ToolCallFormat::Mistral: return "mistral";
  }
  return "hermes";
}

ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat format, const std::vector<std::string>& tool_names) {
  ParsedReply reply;
  if (format == ToolCallFormat::Hermes) {
    static constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
    size_t at = 0;
    while (at < text.size()) {
      const size_t open = text.find(kOpen, at);
      if (open == std::string_view::npos) break;
      size_t close = text.find(kClose, open + kOpen.size());
      const size_t inner_end = close == std::string_view::npos ? text.size() : close;
      const size_t next = close == std::string_view::npos ? text.size() : close + kClose.size();
      const json value = parse_or_discard(trim(text.substr(open + kOpen.size(), inner_end - open - kOpen.size())));
      if (call_from_json(value, tool_names, reply.calls)) {
        reply.content.append(text.substr(at, open - at));
      } else {
        reply.content.append(text.substr(at, next - at));  // not a call: it stays text
      }
      at = next;
    }
    if (at < text.size()) reply.content.append(text.substr(at));
    if (!reply.calls.empty()) reply.content = std::string(trim(reply.content));
    return reply;
  }
  std::string_view body = trim(text);
  if (format == ToolCallFormat::Llama3Json) {
    if (body.starts_with("<|python_tag|>")) body = trim(body.substr(14));
    if (body.starts_with("{") && call_from_json(parse_or_discard(body), tool_names, reply.calls)) return reply;
  } else {
    if (body.starts_with("[TOOL_CALLS]")) body = trim(body.substr(12));
    const json list = body.starts_with("[") ? parse_or_discard(body) : json();
    if (list.is_array() && !list.empty()) {
      std::vector<ToolCall> calls;
      bool all = true;
      for (const json& item : list) all = all && call_from_json(item, tool_names, calls);
      if (all) {
        reply.calls = std::move(calls);
        return reply;
      }
    }
  }
  reply.calls.clear();
  reply.content = std::string(text);
  return reply;
}

std::string tool_call_grammar(ToolCallFormat format, const std::vector<std::string>& names,
                              const std::vector<json>& parameters, const std::string& only) {
  JsonGrammarBuilder builder(parameters.empty() ? json::object() : parameters[0]);
  std::string alternatives;
  const char* arguments_key = format == ToolCallFormat::Llama3Json ? "parameters" : "arguments";
  for (size_t i = 0; i < names.size(); ++i) {
    if (!only.empty() && names[i] != only) continue;
    const std::string arguments = builder.add_schema(parameters[i], "args", &parameters[i]);
    const std::string head = "{\"name\": " + json(names[i]).dump() + ", \"" + arguments_key + "\": ";
    const std::string call = builder.add_rule("call", gbnf_quote(head) + " " + arguments + " \"}\"");
    alternatives += (alternatives.empty() ? "" : " | ") + call;
  }
  const std::string any_call = builder.add_rule("calls", alternatives);
  switch (format) {
    case ToolCallFormat::Hermes:
      return builder.grammar(gbnf_quote("<tool_call>\n") + " " + any_call + " " + gbnf_quote("\n</tool_call>"));
    case ToolCallFormat::Llama3Json: return builder.grammar(any_call);
    case ToolCallFormat::Mistral: return builder.grammar("\"[TOOL_CALLS][\" " + any_call + " \"]\"");
  }
  return builder.grammar(any_call);
}

}  // namespace jisu::server
