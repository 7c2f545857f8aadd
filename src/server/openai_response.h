#pragma once
// OpenAI response bodies: whole completions and SSE chunks, for /v1/completions ("text_completion")
// and /v1/chat/completions ("chat.completion" / "chat.completion.chunk").
#include <jisu/serving_engine.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace jisu::server {

struct ResponseContext {
  bool chat = false;
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

const char* openai_finish_reason(FinishReason reason);
nlohmann::json usage_json(const StreamUpdate& final_update);
// logprobs in the endpoint's format; `text_offset` is where the first token's text starts.
nlohmann::json logprobs_json(bool chat, const std::vector<TokenLogprobs>& tokens, size_t text_offset);

// The whole response of a finished request (update holds all text and the final fields).
nlohmann::json completion_body(const ResponseContext& context, const StreamUpdate& update, bool with_logprobs);
// One entry of "choices" of a whole response.
nlohmann::json completion_choice(const ResponseContext& context, const StreamUpdate& update, bool with_logprobs,
                                 int index);
// Usage of several choices of one prompt: the prompt counted once, completions summed.
nlohmann::json usage_json(const std::vector<StreamUpdate>& choices);

// One streamed chunk. `finish` null: more follows. Chat chunks carry `delta`; the first one
// (role_delta) announces the assistant role.
nlohmann::json stream_chunk(const ResponseContext& context, std::string_view text, const nlohmann::json& logprobs,
                            const char* finish, bool role_delta);
// The usage-only chunk of stream_options.include_usage (choices empty).
nlohmann::json usage_chunk(const ResponseContext& context, const StreamUpdate& final_update);

// JSON text; invalid UTF-8 (a byte token's partial character) becomes U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& payload);
// "data: <json>\n\n"
std::string sse_event(const nlohmann::json& payload);

}  // namespace jisu::server
