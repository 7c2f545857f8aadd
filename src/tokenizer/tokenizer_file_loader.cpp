// Tokenizer::from_file: picks the loader from the file name (or a Hugging Face folder).
#include <filesystem>
#include <string_view>

#include "format/gguf_file.h"
#include "tokenizer/hf_tokenizer_gguf.h"
#include "tokenizer/tokenizer.h"

namespace jisu {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  // A Hugging Face folder: its tokenizer.json as the GGUF metadata `-m DIR` runs with.
  if (std::filesystem::is_directory(path)) {
    const std::string json_path = (std::filesystem::path(path) / "tokenizer.json").string();
    return from_gguf(*gguf::GgufFile::from_parts(json_path, gguf_tokenizer_metadata(json_path), {}, {}));
  }
  if (ends_with(path, ".json")) return from_hf_json(path);
  if (ends_with(path, ".model")) return from_sentencepiece_model(path);
  const std::unique_ptr<gguf::GgufFile> file = gguf::GgufFile::open(path);
  return from_gguf(*file);
}

}  // namespace jisu
