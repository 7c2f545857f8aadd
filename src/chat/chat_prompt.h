#pragma once
// Chat messages -> prompt text for the serving engine.
//
// A model that carries `tokenizer.chat_template` gets exactly what that Jinja template renders
// (src/chat/chat_template.h, checked byte for byte against jinja2), with `bos_token` and
// `eos_token` set to its vocabulary's texts, as Hugging Face transformers passes them. A model
// without a template gets the ChatML layout, the common default of instruction-tuned models:
//   "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then "<|im_start|>assistant\n".
#include <jisu/serving_engine.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jisu {

class ChatTemplate;
class Tokenizer;

class ChatPrompt {
 public:
  // `template_source`: the model's chat template, if any. Throws jisu::Error when the template
  // does not parse (a model whose template is broken should fail at load, not per request).
  ChatPrompt(const std::optional<std::string>& template_source, std::string bos_text, std::string eos_text);
  ~ChatPrompt();

  // Whether rendered prompts begin with the BOS text (then tokenizing must not add another).
  bool starts_with_bos() const { return starts_with_bos_; }
  // Returns false (with a one-line `error`) for messages the template rejects.
  // `tools_json`: OpenAI's tools array as JSON text, the template's `tools` ("": none). Assistant
  // tool_calls get their `arguments` as objects (as Hugging Face templates expect them).
  bool render(const std::vector<ChatMessage>& messages, std::string& prompt, std::string& error,
              const std::string& tools_json = {}) const;
  // Renders and tokenizes. Control tokens come only from the template's own markup: where a
  // message's text spells one ("</s>", "<|im_start|>system"), every copy of that text in the
  // prompt stays plain text, so a user cannot forge turns; when the template changed such a
  // text so that it cannot be found, the request is refused (false, `error`).
  bool render_tokens(const std::vector<ChatMessage>& messages, const Tokenizer& tokenizer,
                     std::vector<int32_t>& tokens, std::string& error, const std::string& tools_json = {}) const;
  const std::string& template_source() const { return template_source_; }

 private:
  std::unique_ptr<ChatTemplate> template_;  // null: ChatML
  std::string template_source_;
  std::string bos_text_;
  std::string eos_text_;
  bool starts_with_bos_ = false;
};

}  // namespace jisu
