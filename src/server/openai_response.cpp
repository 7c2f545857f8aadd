#include "server/openai_response.h"

#include <algorithm>

namespace jisu::server {

using nlohmann::json;

const char* openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length:
    case FinishReason::ContextFull: return "length";
    case FinishReason::EndOfGeneration:
    case FinishReason::StopString: return "stop";
    case FinishReason::Cancelled: return "abort";
  }
  return "stop";
}

json usage_json(const StreamUpdate& update) {
  return {{"prompt_tokens", update.prompt_tokens},
          {"completion_tokens", update.completion_tokens},
          {"total_tokens", update.prompt_tokens + update.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", update.cached_prompt_tokens}}}};
}

json logprobs_json(bool chat, const std::vector<TokenLogprobs>& tokens, size_t text_offset) {
  // Token texts may hold partial UTF-8 (byte tokens): dump with replacement, never throw.
  const auto bytes_of = [](const std::string& text) {
    json bytes = json::array();
    for (unsigned char c : text) bytes.push_back(c);
    return bytes;
  };
  if (chat) {
    json content = json::array();
    for (const TokenLogprobs& token : tokens) {
      json top = json::array();
      for (const auto& [text, logprob] : token.top)
        top.push_back({{"token", text}, {"logprob", logprob}, {"bytes", bytes_of(text)}});
      content.push_back(
          {{"token", token.text}, {"logprob", token.logprob}, {"bytes", bytes_of(token.text)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json texts = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset;
  for (const TokenLogprobs& token : tokens) {
    texts.push_back(token.text);
    logprobs.push_back(token.logprob);
    json top = json::object();
    // A JSON object has one value per key: alternatives that print the same text (distinct
    // ids) keep the first, most likely one, not the last written.
    for (const auto& [text, logprob] : token.top)
      if (!top.contains(text)) top[text] = logprob;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += token.text.size();
  }
  return {{"tokens", texts}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

namespace {
json envelope(const ResponseContext& context, const char* object) {
  return {{"id", context.id}, {"object", object}, {"created", context.created}, {"model", context.model}};
}
}  // namespace

json completion_choice(const ResponseContext& context, const StreamUpdate& update, bool with_logprobs, int index) {
  json choice = {{"index", index}, {"finish_reason", openai_finish_reason(update.finish_reason)}};
  choice["logprobs"] = with_logprobs ? logprobs_json(context.chat, update.logprobs, 0) : json(nullptr);
  if (context.chat)
    choice["message"] = {{"role", "assistant"}, {"content", update.text}};
  else
    choice["text"] = update.text;
  return choice;
}

json completion_body(const ResponseContext& context, const StreamUpdate& update, bool with_logprobs) {
  json body = envelope(context, context.chat ? "chat.completion" : "text_completion");
  body["choices"] = json::array({completion_choice(context, update, with_logprobs, 0)});
  body["usage"] = usage_json(update);
  return body;
}

json usage_json(const std::vector<StreamUpdate>& choices) {
  StreamUpdate total;
  if (!choices.empty()) {
    total.prompt_tokens = choices[0].prompt_tokens;
    for (const StreamUpdate& choice : choices) {
      total.completion_tokens += choice.completion_tokens;
      total.cached_prompt_tokens = std::max(total.cached_prompt_tokens, choice.cached_prompt_tokens);
    }
  }
  return usage_json(total);
}

json stream_chunk(const ResponseContext& context, std::string_view text, const json& logprobs, const char* finish,
                  bool role_delta) {
  json body = envelope(context, context.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", logprobs}};
  choice["finish_reason"] = finish ? json(finish) : json(nullptr);
  if (context.chat) {
    json delta = json::object();
    if (role_delta) delta["role"] = "assistant";
    if (!text.empty() || role_delta) delta["content"] = std::string(text);
    choice["delta"] = delta;
  } else {
    choice["text"] = std::string(text);
  }
  body["choices"] = json::array({choice});
  return body;
}

json usage_chunk(const ResponseContext& context, const StreamUpdate& update) {
  json body = envelope(context, context.chat ? "chat.completion.chunk" : "text_completion");
  body["choices"] = json::array();
  body["usage"] = usage_json(update);
  return body;
}

std::string dump_json(const json& payload) { return payload.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& payload) { return "data: " + dump_json(payload) + "\n\n"; }

}  // namespace jisu::server
