#include "server/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/json_body.h"

#include "server/json_schema_grammar.h"

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
    ChatMessage parsed{role, content == message.end() ? std::string() : read_content(*content)};
    if (const auto calls = message.find("tool_calls"); calls != message.end() && !calls->is_null()) {
      if (role != "assistant") throw bad_request("only assistant messages carry 'tool_calls'", "messages");
      if (!calls->is_array()) throw bad_request("'tool_calls' must be an array", "messages");
      for (const json& call : *calls) {
        const auto function = call.is_object() ? call.find("function") : call.end();
        if (!call.is_object() || function == call.end() || !function->is_object() || !function->contains("name") ||
            !(*function)["name"].is_string())
          throw bad_request("each tool call needs 'function' with a string 'name'", "messages");
        if (const auto arguments = function->find("arguments");
            arguments != function->end() && !arguments->is_string() && !arguments->is_object())
          throw bad_request("a tool call's 'arguments' must be a JSON string", "messages");
      }
      if (!calls->empty()) parsed.tool_calls_json = calls->dump();
    }
    for (const char* key : {"tool_call_id", "name"}) {
      const auto it = message.find(key);
      if (it == message.end() || it->is_null()) continue;
      if (!it->is_string()) throw bad_request(std::string("a message's '") + key + "' must be a string", "messages");
      (key[0] == 't' ? parsed.tool_call_id : parsed.name) = it->get<std::string>();
    }
    request.messages.push_back(std::move(parsed));
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
  s.speculative_draft = static_cast<int32_t>(read_integer(body, "speculative_draft", -1, -1, 64));
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
  if (const auto n = body.find("n"); n != body.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<int64_t>() < 1 || (n->is_number_unsigned() && n->get<uint64_t>() > uint64_t(limits.max_n)) ||
        n->get<int64_t>() > limits.max_n)
      throw bad_request("'n' must be an integer in [1, " + std::to_string(limits.max_n) + "] (this server's --max-n), got " +
                            n->dump(),
                        "n");
    request.n = static_cast<int32_t>(n->get<int64_t>());
  }
  if (const auto bias = body.find("logit_bias"); bias != body.end() && !bias->is_null()) {
    if (!bias->is_object()) throw bad_request("'logit_bias' must be an object of token id -> bias", "logit_bias");
    for (const auto& [key, value] : bias->items()) {
      size_t used = 0;
      long long token = -1;
      try {
        token = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != key.size() || token < 0 || token > std::numeric_limits<int32_t>::max())
        throw bad_request("'logit_bias' key '" + key + "' is not a token id", "logit_bias");
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < -100.0 ||
          value.get<double>() > 100.0)
        throw bad_request("'logit_bias' value for token " + key + " must be a number in [-100, 100], got " + value.dump(),
                          "logit_bias");
      s.logit_bias.emplace_back(static_cast<int32_t>(token), value.get<float>());
    }
  }
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

// response_format and grammar -> sampling.grammar.
void read_constraints(const json& body, ParsedRequest& request) {
  std::string grammar;
  if (const auto format = body.find("response_format"); format != body.end() && !format->is_null()) {
    if (!format->is_object() || !format->contains("type") || !(*format)["type"].is_string())
      throw bad_request("'response_format' must be an object with a string 'type'", "response_format");
    const std::string type = (*format)["type"].get<std::string>();
    if (type == "json_object") {
      grammar = json_object_gbnf();
    } else if (type == "json_schema") {
      const auto spec = format->find("json_schema");
      if (spec == format->end() || !spec->is_object() || !spec->contains("schema"))
        throw bad_request("response_format json_schema needs 'json_schema': {\"name\": ..., \"schema\": {...}}",
                          "response_format");
      try {
        grammar = json_schema_to_gbnf((*spec)["schema"]);
      } catch (const SchemaError& error) {
        throw bad_request(std::string("response_format: ") + error.what(), "response_format");
      }
    } else if (type != "text") {
      throw bad_request("'response_format' type must be text, json_object or json_schema, got '" + type + "'",
                        "response_format");
    }
  }
  if (const auto text = body.find("grammar"); text != body.end() && !text->is_null()) {
    if (!text->is_string()) throw bad_request("'grammar' must be a string of GBNF rules", "grammar");
    if (!grammar.empty()) throw bad_request("give either 'grammar' or a JSON 'response_format', not both", "grammar");
    grammar = text->get<std::string>();
    if (grammar.empty()) throw bad_request("'grammar' is empty", "grammar");
  }
  request.constrained = !grammar.empty();
  request.sampling.grammar = std::move(grammar);
}

void read_tools(const json& body, ParsedRequest& request, const RequestLimits& limits) {
  const auto tools = body.find("tools");
  const bool has_tools = tools != body.end() && !tools->is_null();
  if (has_tools) {
    if (!request.chat) throw bad_request("'tools' belong to /v1/chat/completions", "tools");
    if (!tools->is_array()) throw bad_request("'tools' must be an array", "tools");
    if (tools->size() > limits.max_tools)
      throw bad_request("'tools' holds at most " + std::to_string(limits.max_tools) + " tools", "tools");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
          !tool["function"].is_object())
        throw bad_request(where + " must be {\"type\": \"function\", \"function\": {...}}", "tools");
      const json& function = tool["function"];
      if (!function.contains("name") || !function["name"].is_string() || function["name"].get<std::string>().empty())
        throw bad_request(where + ".function needs a non-empty string 'name'", "tools");
      json parameters = function.contains("parameters") ? function["parameters"] : json{{"type", "object"}};
      if (!parameters.is_object()) throw bad_request(where + ".function.parameters must be a JSON Schema object", "tools");
      try {
        (void)json_schema_to_gbnf(parameters);  // refuses what is not (supported) JSON Schema
      } catch (const SchemaError& error) {
        throw bad_request(where + ".function.parameters: " + error.what(), "tools");
      }
      request.tool_names.push_back(function["name"].get<std::string>());
      request.tool_parameters.push_back(std::move(parameters));
    }
    request.tools_json = tools->dump();
  }
  const auto choice = body.find("tool_choice");
  if (choice == body.end() || choice->is_null()) return;
  using Choice = ParsedRequest::ToolChoice;
  if (choice->is_string()) {
    const std::string text = choice->get<std::string>();
    if (text == "auto") request.tool_choice = Choice::Auto;
    else if (text == "none") request.tool_choice = Choice::None;
    else if (text == "required") request.tool_choice = Choice::Required;
    else throw bad_request("'tool_choice' must be auto, none, required or a named function", "tool_choice");
  } else if (choice->is_object() && choice->contains("function") && (*choice)["function"].is_object() &&
             (*choice)["function"].contains("name") && (*choice)["function"]["name"].is_string()) {
    request.tool_choice = Choice::Named;
    request.tool_choice_name = (*choice)["function"]["name"].get<std::string>();
    if (std::find(request.tool_names.begin(), request.tool_names.end(), request.tool_choice_name) ==
        request.tool_names.end())
      throw bad_request("'tool_choice' names the function '" + request.tool_choice_name + "', which is not in 'tools'",
                        "tool_choice");
  } else {
    throw bad_request("'tool_choice' must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                      "tool_choice");
  }
  if ((request.tool_choice == Choice::Required || request.tool_choice == Choice::Named) && request.tool_names.empty())
    throw bad_request("'tool_choice' " + choice->dump() + " needs 'tools'", "tool_choice");
  if ((request.tool_choice == Choice::Required || request.tool_choice == Choice::Named) && request.constrained)
    throw bad_request("a required tool call and a response_format/grammar cannot both constrain the output", "tool_choice");
}

}  // namespace

std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body_text, bool chat,
                                                           const std::string& served_model,
                                                           const RequestLimits& limits) {
  return parse_openai_request(body_text, chat, std::vector<std::string>{served_model}, limits);
}

std::variant<ParsedRequest, ApiError> parse_openai_request(const std::string& body_text, bool chat,
                                                           const std::vector<std::string>& served_models,
                                                           const RequestLimits& limits) {
  auto parsed = parse_json_object(body_text, limits.max_json_depth);
  if (ApiError* error = std::get_if<ApiError>(&parsed)) return *error;
  const json& body = std::get<json>(parsed);
  ParsedRequest request;
  request.chat = chat;
  try {
    request.model = read_model_name(body, served_models);
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
    read_constraints(body, request);
    read_tools(body, request, limits);
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
