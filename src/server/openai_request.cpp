#include "server/openai_request.h"

#include <cmath>
#include <limits>

#include "server/json_body.h"

namespace jisu::server {
namespace {

using nlohmann::json;

// Typed readers: absent or null keeps the default; a wrong type or range is a 400 naming the
// parameter. They throw ApiError, caught once in parse_openai_request.
double read_number(const json& body, const char* key, double fallback, double low, double high) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw bad_request(std::string("'") + key + "' must be a number", key);
  const double value = it->get<double>();
  if (!std::isfinite(value) || value < low || value > high)
    throw bad_request(std::string("'") + key + "' must be in [" + json(low).dump() + ", " + json(high).dump() +
                          "], got " + it->dump(),
                      key);
  return value;
}

int64_t read_integer(const json& body, const char* key, int64_t fallback, int64_t low, int64_t high) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    throw bad_request(std::string("'") + key + "' must be an integer", key);
  const bool too_big = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(high);
  if (too_big || it->get<int64_t>() < low || it->get<int64_t>() > high)
    throw bad_request(std::string("'") + key + "' must be in [" + std::to_string(low) + ", " + std::to_string(high) +
                          "], got " + it->dump(),
                      key);
  return it->get<int64_t>();
}

bool read_bool(const json& body, const char* key, bool fallback) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw bad_request(std::string("'") + key + "' must be a boolean", key);
  return it->get<bool>();
}

std::vector<std::string> read_stop(const json& body, const RequestLimits& limits) {
  const auto it = body.find("stop");
  std::vector<std::string> stops;
  if (it == body.end() || it->is_null()) return stops;
  const auto take = [&](const json& item) {
    if (!item.is_string()) throw bad_request("'stop' must be a string or an array of strings", "stop");
    const std::string& text = item.get_ref<const std::string&>();
    if (text.empty()) throw bad_request("'stop' strings cannot be empty", "stop");
    if (text.size() > limits.max_stop_bytes)
      throw bad_request("a 'stop' string has " + std::to_string(text.size()) + " bytes; at most " +
                            std::to_string(limits.max_stop_bytes) + " are allowed",
                        "stop");
    stops.push_back(item.get<std::string>());
  };
  if (it->is_array()) {
    if (it->size() > limits.max_stop_strings)
      throw bad_request("'stop' holds at most " + std::to_string(limits.max_stop_strings) + " strings", "stop");
    for (const json& item : *it) take(item);
  } else {
    take(*it);
  }
  return stops;
}

void read_prompt(const json& body, ParsedRequest& request) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw bad_request("'prompt' is required", "prompt");
  if (it->is_string()) {
    request.prompt_text = it->get<std::string>();
    return;
  }
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    request.prompt_text = (*it)[0].get<std::string>();
    return;
  }
  if (it->is_array() && !it->empty()) {
    for (const json& item : *it) {
      if (!item.is_number_integer())
        throw bad_request("'prompt' must be a string, one string in an array, or an array of token ids", "prompt");
      const int64_t token = item.get<int64_t>();
      if (token < 0 || token > std::numeric_limits<int32_t>::max())
        throw bad_request("'prompt' token id " + item.dump() + " is out of range", "prompt");
      request.prompt_tokens.push_back(static_cast<int32_t>(token));
    }
    return;
  }
  throw bad_request("'prompt' must be a string, one string in an array, or an array of token ids", "prompt");
}

// Content as a string, or the text parts of an array of content parts.
std::string read_content(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return {};
  if (content.is_array()) {
    std::string text;
    for (const json& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        throw bad_request("only text content parts are supported", "messages");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw bad_request("message 'content' must be a string or an array of text parts", "messages");
}

void read_messages(const json& body, ParsedRequest& request, const RequestLimits& limits) {
  const auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty())
    throw bad_request("'messages' must be a non-empty array", "messages");
  if (it->size() > limits.max_messages)
    throw bad_request("'messages' holds at most " + std::to_string(limits.max_messages) + " messages", "messages");
  for (const json& message : *it) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string())
      throw bad_request("each message needs a string 'role'", "messages");
    const std::string role = message["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
      throw bad_request("unknown message role '" + role + "'", "messages");
    // By reference: the content is never copied as a JSON tree.
    const auto content = message.find("content");
    request.messages.push_back({role, content == message.end() ? std::string() : read_content(*content)});
  }
}

void read_sampling(const json& body, ParsedRequest& request, const RequestLimits& limits) {
  SamplingParams& s = request.sampling;
  // OpenAI's defaults (vLLM's too): temperature 1, nucleus off, no llama.cpp-style truncation.
  s.temperature = static_cast<float>(read_number(body, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(read_number(body, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p <= 0.0f) throw bad_request("'top_p' must be in (0, 1]", "top_p");
  s.top_k = static_cast<int32_t>(read_integer(body, "top_k", 0, -1, 1 << 20));
  if (s.top_k < 0) s.top_k = 0;  // vLLM's -1 means off
  s.min_p = static_cast<float>(read_number(body, "min_p", 0.0, 0.0, 1.0));
  s.repetition_penalty = static_cast<float>(read_number(body, "repetition_penalty", 1.0, 0.01, 100.0));
  s.speculative_ngram = static_cast<int32_t>(read_integer(body, "speculative_ngram", -1, -1, 64));
  s.presence_penalty = static_cast<float>(read_number(body, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(read_number(body, "frequency_penalty", 0.0, -2.0, 2.0));
  s.penalty_last_n = -1;  // OpenAI's penalties look at all generated text
  if (const auto seed = body.find("seed"); seed != body.end() && !seed->is_null())
    s.seed = static_cast<uint64_t>(read_integer(body, "seed", 0, std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max()));
  s.stop = read_stop(body, limits);
  const char* max_key = request.chat && body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  // Completions default to 16 tokens (OpenAI); chat to the rest of the context.
  s.max_tokens = static_cast<int32_t>(read_integer(body, max_key, request.chat ? -1 : 16, 0, limits.max_tokens));
  if (read_integer(body, "n", 1, 1, 1) != 1) throw bad_request("only n = 1 is supported", "n");
  if (read_integer(body, "best_of", 1, 1, 1) != 1) throw bad_request("only best_of = 1 is supported", "best_of");
  if (request.chat) {
    s.logprobs = read_bool(body, "logprobs", false);
    s.top_logprobs = static_cast<int32_t>(read_integer(body, "top_logprobs", 0, 0, SamplingParams::kMaxTopLogprobs));
    if (s.top_logprobs > 0 && !s.logprobs)
      throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  } else {
    // Completions: logprobs is the number of alternatives (0..5 in OpenAI's API; we allow 20).
    const int64_t n = read_integer(body, "logprobs", -1, 0, SamplingParams::kMaxTopLogprobs);
    s.logprobs = n >= 0;
    s.top_logprobs = n > 0 ? static_cast<int32_t>(n) : 0;
  }
}

}  // namespace

std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body_text, bool chat,
                                                           const std::string& served_model,
                                                           const RequestLimits& limits) {
  auto parsed = parse_json_object(body_text, limits.max_json_depth);
  if (ApiError* error = std::get_if<ApiError>(&parsed)) return *error;
  const json& body = std::get<json>(parsed);
  ParsedRequest request;
  request.chat = chat;
  try {
    request.model = read_model_name(body, served_model);
    if (chat)
      read_messages(body, request, limits);
    else
      read_prompt(body, request);
    request.stream = read_bool(body, "stream", false);
    request.echo = !chat && read_bool(body, "echo", false);
    if (const auto options = body.find("stream_options"); options != body.end() && !options->is_null()) {
      if (!options->is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
      request.include_usage = read_bool(*options, "include_usage", false);
    }
    read_sampling(body, request, limits);
    request.sampling.validate();
  } catch (const ApiError& error) {
    return error;
  } catch (const json::exception& failure) {
    return bad_request(std::string("bad request: ") + failure.what());
  } catch (const std::exception& failure) {  // SamplingParams::validate: jisu::Error
    return bad_request(failure.what());
  }
  return request;
}

}  // namespace jisu::server
