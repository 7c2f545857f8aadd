#include "chat/chat_prompt.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "chat/chat_template.h"

namespace jisu {

ChatPrompt::ChatPrompt(const std::optional<std::string>& template_source, std::string bos_text, std::string eos_text)
    : bos_text_(std::move(bos_text)), eos_text_(std::move(eos_text)) {
  if (!template_source || template_source->empty()) return;
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

bool ChatPrompt::render(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error) const {
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
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChatMessage& message : messages) list.push_back({{"role", message.role}, {"content", message.content}});
  const nlohmann::ordered_json context = {{"bos_token", bos_text_}, {"eos_token", eos_text_}};
  try {
    prompt = template_->render(list, true, context);
  } catch (const Error& e) {
    error = e.what();
    return false;
  }
  return true;
}

}  // namespace jisu
