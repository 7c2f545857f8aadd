// `jisu chat-template (-m MODEL | --template FILE) --messages FILE.json [--add-generation-prompt]
// [--context FILE.json]`: prints the prompt the chat template renders for the messages, exactly
// (no newline added). MODEL is a GGUF file with `tokenizer.chat_template`; its vocabulary's BOS
// and EOS texts are passed as `bos_token`/`eos_token`, as transformers passes them. The
// messages file is a list of messages or an object {"messages": [...], other keys = context};
// --context adds top-level variables and wins over both ("__now__" pins strftime_now's clock).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <jisu/json_nesting.h>
#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct ChatTemplateOptions {
  std::string model;
  std::string template_file;
  std::string messages_file;
  std::string context_file;
  bool add_generation_prompt = false;
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string("cannot open ") + what + " " + path, "check the path");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw Error(std::string("cannot read ") + what + " " + path);
  return text;
}

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  const std::string text = read_file(path, what);
  // Checked before parsing: nlohmann copies and compares documents recursively, so a file
  // nested 100,000 deep would crash the first copy (the interpreter takes 512 levels).
  constexpr size_t kMaxDepth = 512;
  if (json_nesting_depth(text, kMaxDepth) > kMaxDepth)
    throw Error(std::string(what) + " " + path + " nests JSON deeper than " + std::to_string(kMaxDepth) + " levels");
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    // nlohmann's messages are one line: "[json.exception.parse_error.101] parse error at line 1, ..."
    throw Error(std::string(what) + " " + path + " is not valid JSON: " + error.what());
  }
}

// The template and the special-token variables a model brings.
struct ModelTemplate {
  std::string source;
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

ModelTemplate load_model_template(const std::string& path) {
  const std::unique_ptr<gguf::GgufFile> file = gguf::GgufFile::open(path);
  ModelTemplate model;
  std::optional<std::string> source = file->get_string("tokenizer.chat_template");
  if (!source) throw Error(path + " has no tokenizer.chat_template", "pass the template with --template FILE");
  model.source = std::move(*source);
  if (file->find("tokenizer.ggml.tokens")) {
    const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(*file);
    if (tokenizer->bos_id() >= 0) model.special_tokens["bos_token"] = std::string(tokenizer->token_text(tokenizer->bos_id()));
    if (tokenizer->eos_id() >= 0) model.special_tokens["eos_token"] = std::string(tokenizer->token_text(tokenizer->eos_id()));
  }
  return model;
}

int run_chat_template(const ChatTemplateOptions& options) {
  ModelTemplate model;
  if (!options.model.empty()) model = load_model_template(options.model);
  else model.source = read_file(options.template_file, "template");
  const nlohmann::ordered_json messages_doc = read_json(options.messages_file, "messages file");
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  if (!options.context_file.empty()) {
    context = read_json(options.context_file, "context file");
    if (!context.is_object()) throw Error("context file " + options.context_file + " must hold a JSON object");
  }
  // The model's tokens are defaults: the messages document and --context override them.
  for (const auto& [key, value] : model.special_tokens.items()) {
    const bool in_document = messages_doc.is_object() && messages_doc.contains(key);
    if (!in_document && !context.contains(key)) context[key] = value;
  }
  const std::string prompt = render_chat(model.source, messages_doc, options.add_generation_prompt, context);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

CommandRegistrar registrar{
    "chat-template", "Render a chat template for a list of messages", [](CLI::App& command) {
      auto options = std::make_shared<ChatTemplateOptions>();
      auto* model = command.add_option("-m,--model", options->model, "GGUF file whose tokenizer.chat_template is used");
      auto* file = command.add_option("--template", options->template_file, "Jinja template file");
      model->excludes(file);
      command.add_option("--messages", options->messages_file, "JSON list of messages, or {\"messages\": [...], ...}")
          ->required();
      command.add_flag("--add-generation-prompt", options->add_generation_prompt,
                       "end with the start of an assistant turn");
      command.add_option("--context", options->context_file, "JSON object of extra template variables");
      return [options, model, file] {
        if (model->count() == 0 && file->count() == 0)
          throw Error("no chat template given", "pass -m MODEL.gguf or --template FILE");
        return run_chat_template(*options);
      };
    }};

}  // namespace
}  // namespace jisu::cli
