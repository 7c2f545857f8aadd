#pragma once
// Chat messages -> prompt text, in the ChatML layout:
//   "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then "<|im_start|>assistant\n".
//
// Why not the model's `tokenizer.chat_template`: the Jinja interpreter in src/tokenizer/jinja/
// is still being completed on another branch (its filter table does not link yet), so for now
// every model gets ChatML, the common default of instruction-tuned models. When the renderer
// lands, this class is the one place to switch to it (the server only calls render()).
#include <jisu/serving_engine.h>

#include <string>
#include <vector>

namespace jisu {

class ChatPrompt {
 public:
  // Whether rendered prompts begin with the BOS text (then tokenizing must not add another).
  bool starts_with_bos() const { return false; }
  // Returns false (with `error`) for a message it cannot render.
  bool render(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error) const;
};

}  // namespace jisu
