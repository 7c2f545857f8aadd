// `jisu detokenize -m MODEL --ids "1 2 3"`: prints the text the ids decode to (ids separated by
// spaces or commas). Control tokens are skipped unless --special.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command_registry.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool special = false;
};

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '[' || c == ']') {
      ++pos;
      continue;
    }
    size_t end = pos;
    if (text[end] == '-') ++end;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == pos || (end == pos + 1 && text[pos] == '-') || end - pos > 11)
      throw Error("--ids: '" + text.substr(pos, 20) + "' is not a token id", "give integers separated by spaces");
    const long long value = std::stoll(text.substr(pos, end - pos));
    if (value < INT32_MIN || value > INT32_MAX) throw Error("--ids: " + text.substr(pos, end - pos) + " is out of range");
    ids.push_back(static_cast<int32_t>(value));
    pos = end;
  }
  return ids;
}

int run_detokenize(const DetokenizeOptions& options) {
  const std::unique_ptr<Tokenizer> tokenizer =
      Tokenizer::from_file(options.model.empty() ? default_model_path() : options.model);
  const std::string text = tokenizer->decode(parse_ids(options.ids), !options.special) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

CommandRegistrar registrar{
    "detokenize", "Print the text of token ids", [](CLI::App& command) {
      auto options = std::make_shared<DetokenizeOptions>();
      command.add_option("-m,--model", options->model, "GGUF, tokenizer.json or tokenizer.model (default: bundled model)");
      command.add_option("--ids", options->ids, "token ids, e.g. \"1 15043 3186\"")->required();
      command.add_flag("--special", options->special, "also print control tokens such as <s>");
      return [options] { return run_detokenize(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
