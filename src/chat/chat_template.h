#pragma once
// Chat messages -> prompt text, by running a model's Jinja chat template the way Hugging Face
// transformers does (jinja2 with trim_blocks/lstrip_blocks, its `tojson`, `raise_exception`,
// `strftime_now`); tests/chat_templates/reference_render.py is the executable specification.
//
// Rendering variables: every key of the extra context, then `messages` and
// `add_generation_prompt` (those two always win). One context key is special: "__now__"
// ("YYYY-MM-DD[THH:MM[:SS[.ffffff]]]", as Python's datetime.fromisoformat reads it) pins the
// clock strftime_now() reads, so renders are reproducible; it is still visible as a variable.
//
// Errors (all jisu::Error, one line): template syntax and render errors read
// "chat template error at line L, column C: ...", including the template's own
// raise_exception(...) calls; bad documents (messages not a list, bad __now__) name the problem.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace jisu {

namespace jinja {
struct TemplateProgram;
}

class ChatTemplate {
 public:
  static constexpr size_t kMaxTemplateBytes = size_t{256} << 10;  // 15 times the largest real template

  // Parses once; render() may then run any number of times, from any number of threads.
  explicit ChatTemplate(std::string_view source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // `messages` must be a JSON array; `context` an object (or null for none).
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& context) const;

 private:
  std::unique_ptr<jinja::TemplateProgram> program_;
};

// The document rule shared by `jisu chat-template` and the reference renderer: `messages_doc`
// is the list of messages, or an object whose "messages" is that list and whose other keys join
// the context (keys of `extra_context` win over them).
std::string render_chat(std::string_view template_source, const nlohmann::ordered_json& messages_doc,
                        bool add_generation_prompt, const nlohmann::ordered_json& extra_context = nullptr);

}  // namespace jisu
