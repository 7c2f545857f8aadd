#pragma once
// Parsing and validation of OpenAI completion / chat-completion request bodies. Every problem
// becomes an ApiError naming the parameter (400), never an exception escaping to the server.
#include <jisu/sampling_params.h>
#include <jisu/serving_engine.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/api_error.h"

namespace jisu::server {

struct ParsedRequest {
  bool chat = false;
  std::string model;
  // Completions: prompt text or token ids. Chat: messages.
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_tokens;
  std::vector<ChatMessage> messages;
  SamplingParams sampling;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: an extra usage-only chunk
  bool echo = false;
  int32_t n = 1;               // choices, each its own sequence (the prompt's KV blocks shared)
  // Chat tool use: `tools` as JSON text ("" none), their function names, and tool_choice.
  std::string tools_json;
  std::vector<std::string> tool_names;
  enum class ToolChoice { Auto, None, Required, Named } tool_choice = ToolChoice::Auto;
  std::string tool_choice_name;  // Named: the function
  std::vector<nlohmann::json> tool_parameters;  // per tool_names entry: its parameters schema
  // response_format json_object / json_schema or `grammar`: the grammar is in sampling.grammar.
  bool constrained = false;
};

// What one request may ask for (`jisu serve` flags); beyond any of them is a 400 naming it.
struct RequestLimits {
  size_t max_json_depth = 64;          // nesting of the body (content parts need 4)
  size_t max_stop_strings = 16;        // entries of 'stop'
  size_t max_stop_bytes = 1024;        // bytes of one stop string
  int64_t max_tokens = 1 << 20;        // 'max_tokens' / 'max_completion_tokens'
  size_t max_messages = 4096;          // chat messages
  int64_t max_n = 8;                   // 'n' (choices per request), `jisu serve --max-n`
  size_t max_tools = 128;              // entries of 'tools'
};

// Returns the request, or the error to send. `served_models`: the names a request may give as
// 'model' (the served name and its --alias names; absent or "" is accepted too).
std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body, bool chat,
                                                           const std::vector<std::string>& served_models,
                                                           const RequestLimits& limits = {});
std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body, bool chat,
                                                           const std::string& served_model,
                                                           const RequestLimits& limits = {});

}  // namespace jisu::server
