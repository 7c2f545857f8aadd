// `jisu tokenize -m MODEL (-p TEXT | --file PATH) [--add-special] [--parse-special]`: prints the
// token ids of the text, space-separated, on one line. MODEL is a GGUF file, a Hugging Face
// tokenizer.json or a SentencePiece tokenizer.model.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "command_registry.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  std::string file;
  bool add_special = false;
  bool parse_special = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path, "check the path given to --file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run_tokenize(const TokenizeOptions& options) {
  const std::unique_ptr<Tokenizer> tokenizer =
      Tokenizer::from_file(options.model.empty() ? default_model_path() : options.model);
  const std::string text = options.file.empty() ? options.prompt : read_text_file(options.file);
  const std::vector<int32_t> ids = tokenizer->encode(text, options.add_special, options.parse_special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

CommandRegistrar registrar{
    "tokenize", "Print the token ids of a text", [](CLI::App& command) {
      auto options = std::make_shared<TokenizeOptions>();
      command.add_option("-m,--model", options->model, "GGUF, tokenizer.json or tokenizer.model (default: bundled model)");
      auto* prompt = command.add_option("-p,--prompt", options->prompt, "text to tokenize");
      auto* file = command.add_option("-f,--file", options->file, "read the text from this file (bytes as they are)");
      prompt->excludes(file);
      command.add_flag("--add-special", options->add_special, "add the vocabulary's BOS/EOS (or [CLS]/[SEP])");
      command.add_flag("--parse-special", options->parse_special, "turn special-token texts such as <|im_start|> into their ids");
      return [options, prompt, file] {
        if (prompt->count() == 0 && file->count() == 0) throw Error("nothing to tokenize", "pass -p TEXT or --file PATH");
        return run_tokenize(*options);
      };
    }};

}  // namespace
}  // namespace jisu::cli
