#pragma once
// Parsing and validation of OpenAI completion / chat-completion request bodies. Every problem
// becomes an ApiError naming the parameter (400), never an exception escaping to the server.
#include <jisu/sampling_params.h>
#include <jisu/serving_engine.h>

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
};

// Returns the request, or the error to send. `served_model` is the only accepted model name.
std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body, bool chat,
                                                           const std::string& served_model);

}  // namespace jisu::server
