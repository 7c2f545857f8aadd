#include "chat/chat_prompt.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/error.h"
#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace jisu {

ChatPrompt::ChatPrompt(const std::optional<std::string>& template_source, std::string bos_text, std::string eos_text)
    : bos_text_(std::move(bos_text)), eos_text_(std::move(eos_text)) {
  if (!template_source || template_source->empty()) return;
  template_source_ = *template_source;
  template_ = std::make_unique<ChatTemplate>(*template_source);
  // Templates either write {{ bos_token }} themselves or leave it to the tokenizer; a one-turn
  // render tells which. A template that rejects even that (say, it demands a system message)
  // is judged by whether it mentions bos_token at all.
  if (bos_text_.empty()) return;
  std::string probe, error;
  if (render({ChatMessage{"user", "hello"}}, probe, error))
    starts_with_bos_ = probe.starts_with(bos_text_);
  else
    starts_with_bos_ = template_source->find("bos_token") != std::string::npos;
}

ChatPrompt::~ChatPrompt() = default;

namespace {

// One message as templates see it: OpenAI's fields, tool-call arguments parsed into objects.
nlohmann::ordered_json message_json(const ChatMessage& message) {
  nlohmann::ordered_json item = {{"role", message.role}, {"content", message.content}};
  if (!message.tool_calls_json.empty()) {
    nlohmann::ordered_json calls = nlohmann::ordered_json::parse(message.tool_calls_json);
    for (auto& call : calls) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
      auto& function = call["function"];
      if (function.contains("arguments") && function["arguments"].is_string()) {
        auto parsed = nlohmann::ordered_json::parse(function["arguments"].get<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) function["arguments"] = std::move(parsed);
      }
    }
    item["tool_calls"] = std::move(calls);
  }
  if (!message.tool_call_id.empty()) item["tool_call_id"] = message.tool_call_id;
  if (!message.name.empty()) item["name"] = message.name;
  return item;
}

}  // namespace

bool ChatPrompt::render(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error,
                        const std::string& tools_json) const {
  prompt.clear();
  for (const ChatMessage& message : messages) {
    if (message.role.empty()) {
      error = "a chat message has no role";
      return false;
    }
  }
  if (!template_) {
    for (const ChatMessage& message : messages)
      prompt.append("<|im_start|>").append(message.role).append("\n").append(message.content).append("<|im_end|>\n");
    prompt.append("<|im_start|>assistant\n");
    return true;
  }
  nlohmann::ordered_json context = {{"bos_token", bos_text_}, {"eos_token", eos_text_}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  try {
    for (const ChatMessage& message : messages) list.push_back(message_json(message));
    if (!tools_json.empty()) context["tools"] = nlohmann::ordered_json::parse(tools_json);
  } catch (const nlohmann::json::exception& failure) {
    error = std::string("tool data is not valid JSON: ") + failure.what();
    return false;
  }
  try {
    prompt = template_->render(list, true, context);
  } catch (const Error& e) {
    error = e.what();
    return false;
  } catch (const std::bad_alloc&) {  // a template past every limit must still not end the server
    error = "the chat template ran out of memory";
    return false;
  }
  return true;
}

}  // namespace jisu

namespace jisu {

bool ChatPrompt::render_tokens(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer,
                               std::vector<int32_t>& tokens, std::string& error, const std::string& tools_json) const {
  // Tool data is re-serialised by the template (tojson), so its text cannot be found in the
  // prompt to keep it plain: a control token spelled there is refused instead.
  const auto spells_control = [&](const std::string& text, const char* what) {
    const std::string_view control = tokenizer.first_control_text(text);
    if (control.empty()) return false;
    error = std::string(what) + " spells the control token '" + std::string(control) + "'";
    return true;
  };
  if (spells_control(tools_json, "'tools'")) return false;
  for (const ChatMessage& message : messages)
    if (spells_control(message.tool_calls_json, "a message's tool_calls") ||
        spells_control(message.tool_call_id, "a message's tool_call_id") || spells_control(message.name, "a message's name"))
      return false;
  std::string prompt;
  if (!render(messages, prompt, error, tools_json)) return false;
  std::vector<TextRange> plain;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& content = messages[i].content;
    const std::string_view control = tokenizer.first_control_text(content);
    if (control.empty()) continue;
    size_t found = 0;
    for (size_t at = prompt.find(content); at != std::string::npos; at = prompt.find(content, at + content.size())) {
      plain.push_back({at, at + content.size()});
      ++found;
    }
    if (found == 0) {
      error = "message " + std::to_string(i) + " spells the control token '" + std::string(control) +
              "', and the chat template changed its text so that it cannot be kept as plain text";
      return false;
    }
  }
  std::sort(plain.begin(), plain.end(), [](const TextRange& a, const TextRange& b) { return a.begin < b.begin; });
  // Copies of one text may overlap (a text repeated within itself): merge into disjoint ranges.
  std::vector<TextRange> merged;
  for (const TextRange& range : plain) {
    if (!merged.empty() && range.begin <= merged.back().end)
      merged.back().end = std::max(merged.back().end, range.end);
    else
      merged.push_back(range);
  }
  tokens = tokenizer.encode(prompt, !starts_with_bos_, true, merged);
  return true;
}

}  // namespace jisu
