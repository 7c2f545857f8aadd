#pragma once
// The token table every tokenizer model shares: id -> (text, score, type), text -> id, and the
// special-token settings of the vocabulary. Built once by a loader, immutable afterwards.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace jisu {

// Token types, numbered as in GGUF `tokenizer.ggml.token_type` and SentencePiece's
// ModelProto.SentencePiece.Type.
enum class TokenType : uint8_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

struct TokenEntry {
  std::string text;
  float score = 0;
  TokenType type = TokenType::Normal;
  // Added-token options (Hugging Face `lstrip`/`rstrip`): when matched in the input, also
  // swallow the whitespace before/after it.
  bool lstrip = false;
  bool rstrip = false;
};

// Ids of the vocabulary's special tokens; -1 when the vocabulary has none.
struct SpecialTokenIds {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t eot = -1;
  int32_t eom = -1;
  int32_t unknown = -1;
  int32_t padding = -1;
  int32_t separator = -1;
  int32_t classifier = -1;
  int32_t mask = -1;
};

class Vocabulary {
 public:
  Vocabulary() = default;
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;

  // Building: add every token in id order, then finalize() (which indexes texts and throws
  // jisu::Error on a duplicate text). Nothing may be added after finalize().
  int32_t add(std::string text, float score, TokenType type);
  // Mutable access for loaders (types, strip flags). Never change `text` after finalize().
  TokenEntry& entry(int32_t id) { return tokens_[static_cast<size_t>(id)]; }
  void finalize(const std::string& source);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }
  const TokenEntry& entry(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  const std::string& text(int32_t id) const { return tokens_[static_cast<size_t>(id)].text; }
  TokenType type(int32_t id) const { return tokens_[static_cast<size_t>(id)].type; }
  float score(int32_t id) const { return tokens_[static_cast<size_t>(id)].score; }
  // -1 when no token has exactly this text.
  int32_t find(std::string_view text) const;

  // Control and unknown tokens: matched in input only with parse_special, skipped by decode
  // with skip_special. User-defined tokens are always matched and always decoded.
  bool is_special(int32_t id) const {
    const TokenType t = type(id);
    return t == TokenType::Control || t == TokenType::Unknown;
  }

  // Fills end_of_generation from eos/eot/eom and the control texts chat models end turns with
  // (<|eot_id|>, <|im_end|>, <end_of_turn>, ...). Call after `special` is set.
  void collect_end_of_generation();

  SpecialTokenIds special;
  std::vector<int32_t> end_of_generation;  // sorted, unique

 private:
  std::vector<TokenEntry> tokens_;
  // Views into tokens_[i].text: valid because tokens_ never changes after finalize().
  std::unordered_map<std::string_view, int32_t> ids_;
  bool finalized_ = false;
};

}  // namespace jisu
