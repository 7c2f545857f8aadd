#include "tokenizer/vocabulary.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {

int32_t Vocabulary::add(std::string text, float score, TokenType type) {
  JISU_ASSERT(!finalized_);
  tokens_.push_back(TokenEntry{std::move(text), score, type});
  return static_cast<int32_t>(tokens_.size() - 1);
}

void Vocabulary::finalize(const std::string& source) {
  JISU_ASSERT(!finalized_);
  ids_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string& text = tokens_[id].text;
    if (text.empty()) continue;  // can never match input; decodes to nothing
    const auto [it, inserted] = ids_.emplace(std::string_view(text), static_cast<int32_t>(id));
    if (!inserted)
      throw Error(source + ": duplicate token text '" + text + "' (ids " + std::to_string(it->second) + " and " +
                      std::to_string(id) + ")",
                  "the vocabulary is corrupt; re-export the model's tokenizer");
  }
  finalized_ = true;
}

int32_t Vocabulary::find(std::string_view text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

void Vocabulary::collect_end_of_generation() {
  // The texts llama.cpp also treats as end of generation (it has no metadata for them).
  static const char* const kEndTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
      "[EOT]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<|return|>", "<|call|>", "<turn|>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",  // DeepSeek's <｜end▁of▁sentence｜>
  };
  end_of_generation.clear();
  for (int32_t id : {special.eos, special.eot, special.eom})
    if (contains(id)) end_of_generation.push_back(id);
  for (const char* text : kEndTexts) {
    const int32_t id = find(text);
    if (id >= 0 && type(id) != TokenType::Normal) end_of_generation.push_back(id);
  }
  std::sort(end_of_generation.begin(), end_of_generation.end());
  end_of_generation.erase(std::unique(end_of_generation.begin(), end_of_generation.end()), end_of_generation.end());
}

}  // namespace jisu
