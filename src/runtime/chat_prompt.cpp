#include "runtime/chat_prompt.h"

namespace jisu {

bool ChatPrompt::render(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error) const {
  prompt.clear();
  for (const ChatMessage& message : messages) {
    if (message.role.empty()) {
      error = "a chat message has no role";
      return false;
    }
    prompt.append("<|im_start|>").append(message.role).append("\n").append(message.content).append("<|im_end|>\n");
  }
  prompt.append("<|im_start|>assistant\n");
  return true;
}

}  // namespace jisu
