#pragma once
// Text <-> token ids for every vocabulary kind the engine loads: SentencePiece BPE (GGUF
// `llama`, Llama 2 .model files), byte-level BPE (GGUF `gpt2`, Hugging Face tokenizer.json) and
// WordPiece (GGUF `bert`). Loaders throw jisu::Error on bad input; encoding never fails.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_range.h"

namespace jisu {

namespace gguf {
class GgufFile;
}
class SpecialTokenSplitter;
class TokenizerModel;
class Vocabulary;

enum class TokenizerKind { SentencePieceBpe, ByteLevelBpe, WordPiece };

class Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);
  static std::unique_ptr<Tokenizer> from_hf_json(const std::string& path);
  static std::unique_ptr<Tokenizer> from_sentencepiece_model(const std::string& path);
  // By file name: *.json -> from_hf_json, *.model -> from_sentencepiece_model, a folder -> its
  // tokenizer.json as GGUF metadata (tokenizer/hf_tokenizer_gguf.h), else GGUF.
  static std::unique_ptr<Tokenizer> from_file(const std::string& path);

  // For loaders: `model` must refer to *vocabulary. `prefix`/`suffix` are the ids encode() adds
  // around the text when add_special is set (BOS; EOS; BERT's [CLS] ... [SEP]).
  Tokenizer(std::unique_ptr<Vocabulary> vocabulary, std::unique_ptr<TokenizerModel> model, TokenizerKind kind,
            std::vector<int32_t> prefix, std::vector<int32_t> suffix);
  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: the vocabulary's BOS/EOS/CLS/SEP around the text. parse_special: control-token
  // texts in `text` (e.g. "<|im_start|>") become their ids; otherwise they are plain text.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // As above, but no control token may overlap the `plain` ranges (sorted, disjoint): the
  // text of chat messages inside a rendered template, which must stay text whatever it spells.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special,
                              std::span<const TextRange> plain) const;
  // The text of the first control token spelled in `text`, or "" when it spells none.
  std::string_view first_control_text(std::string_view text) const;
  // Throws jisu::Error for an id outside the vocabulary. The result may be invalid UTF-8 when
  // the ids split a character (byte tokens); StreamingDetokenizer never produces that.
  std::string decode(std::span<const int32_t> ids, bool skip_special = true) const;

  std::string_view token_text(int32_t id) const;  // raw vocabulary entry; throws when out of range
  int32_t token_id(std::string_view text) const;  // -1 when no token has exactly this text
  int32_t n_vocab() const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;  // -1 if none
  bool is_end_of_generation(int32_t id) const;  // eos, eot, <|im_end|>, <|eot_id|>, ...
  bool is_control(int32_t id) const;            // control or unknown type: skipped by decode
  TokenizerKind kind() const { return kind_; }
  const Vocabulary& vocabulary() const { return *vocabulary_; }

  // Appends the bytes token `id` decodes to. `at_start` tracks whether no text has been
  // produced yet (the first piece loses the space the model prepends); it is updated.
  void append_piece(int32_t id, bool skip_special, bool& at_start, std::string& out) const;

 private:
  std::unique_ptr<Vocabulary> vocabulary_;
  std::unique_ptr<TokenizerModel> model_;  // refers to *vocabulary_: declared after it
  std::unique_ptr<SpecialTokenSplitter> splitter_;
  TokenizerKind kind_;
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

// Turns ids into text one at a time, as a generator produces them. Text comes out only in
// whole UTF-8 characters: bytes of a character split across tokens are held until it is
// complete. Bytes that can never form a character come out as U+FFFD, so the output is always
// valid UTF-8. For ids whose decode() is valid UTF-8, the concatenated output equals decode().
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special = true);
  std::string push(int32_t id);  // throws jisu::Error for an out-of-range id
  std::string flush();           // whatever is held, incomplete characters as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace jisu
