#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/special_token_splitter.h"
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocabulary.h"

namespace jisu {
namespace {

// The byte a "<0xXX>" token stands for.
int byte_token_value(const std::string& text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  const int high = hex(text[3]), low = hex(text[4]);
  return (high < 0 || low < 0) ? -1 : high * 16 + low;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Vocabulary> vocabulary, std::unique_ptr<TokenizerModel> model,
                     TokenizerKind kind, std::vector<int32_t> prefix, std::vector<int32_t> suffix)
    : vocabulary_(std::move(vocabulary)),
      model_(std::move(model)),
      splitter_(std::make_unique<SpecialTokenSplitter>(*vocabulary_)),
      kind_(kind),
      prefix_(std::move(prefix)),
      suffix_(std::move(suffix)) {}

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  return encode(text, add_special, parse_special, {});
}

std::string_view Tokenizer::first_control_text(std::string_view text) const {
  for (const TextFragment& fragment : splitter_->split(text, true))
    if (fragment.token >= 0 && vocabulary_->is_special(fragment.token)) return vocabulary_->entry(fragment.token).text;
  return {};
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                                       std::span<const TextRange> plain) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special) ids.insert(ids.end(), prefix_.begin(), prefix_.end());
  for (const TextFragment& fragment : splitter_->split(text, parse_special, plain)) {
    if (fragment.token >= 0) {
      ids.push_back(fragment.token);
      continue;
    }
    const FragmentContext context{fragment.text.data() == text.data()};
    model_->encode(fragment.text, context, ids);
  }
  if (add_special) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  return ids;
}

void Tokenizer::append_piece(int32_t id, bool skip_special, bool& at_start, std::string& out) const {
  if (!vocabulary_->contains(id))
    throw Error("token id " + std::to_string(id) + " is out of range: the vocabulary has " +
                    std::to_string(vocabulary_->size()) + " tokens",
                "pass ids produced by this model's tokenizer");
  const size_t start = out.size();
  const TokenEntry& entry = vocabulary_->entry(id);
  switch (entry.type) {
    case TokenType::Normal:
      model_->append_normal_token(id, out);
      break;
    case TokenType::Byte:
      if (const int byte = byte_token_value(entry.text); byte >= 0) out += static_cast<char>(byte);
      break;
    case TokenType::Control:
    case TokenType::Unknown:
      if (!skip_special) out += entry.text;
      break;
    case TokenType::UserDefined:
      out += entry.text;
      break;
    case TokenType::Unused:
    case TokenType::Undefined:
      break;  // placeholders stand for no text
  }
  if (out.size() == start) return;
  if (at_start && model_->strips_leading_space() && out[start] == ' ') out.erase(start, 1);
  at_start = false;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string text;
  bool at_start = true;
  for (int32_t id : ids) append_piece(id, skip_special, at_start, text);
  return text;
}

std::string_view Tokenizer::token_text(int32_t id) const {
  if (!vocabulary_->contains(id))
    throw Error("token id " + std::to_string(id) + " is out of range: the vocabulary has " +
                std::to_string(vocabulary_->size()) + " tokens");
  return vocabulary_->text(id);
}

int32_t Tokenizer::token_id(std::string_view text) const { return vocabulary_->find(text); }
int32_t Tokenizer::n_vocab() const { return vocabulary_->size(); }
int32_t Tokenizer::bos_id() const { return vocabulary_->special.bos; }
int32_t Tokenizer::eos_id() const { return vocabulary_->special.eos; }

bool Tokenizer::is_end_of_generation(int32_t id) const {
  const auto& eog = vocabulary_->end_of_generation;
  return std::binary_search(eog.begin(), eog.end(), id);
}

bool Tokenizer::is_control(int32_t id) const { return vocabulary_->contains(id) && vocabulary_->is_special(id); }

}  // namespace jisu
