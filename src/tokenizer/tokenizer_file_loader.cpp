// Tokenizer::from_file: picks the loader from the file name.
#include <string_view>

#include "format/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace jisu {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  if (ends_with(path, ".json")) return from_hf_json(path);
  if (ends_with(path, ".model")) return from_sentencepiece_model(path);
  const std::unique_ptr<gguf::GgufFile> file = gguf::GgufFile::open(path);
  return from_gguf(*file);
}

}  // namespace jisu
