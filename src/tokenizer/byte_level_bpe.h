#pragma once
// Byte-level BPE (GPT-2 and descendants): the pre-tokenizer cuts the text into words, each word's
// bytes are spelled with GPT-2's byte alphabet, and ranked merges combine adjacent pieces,
// lowest rank first. Every byte has a token, so any input (even invalid UTF-8) round-trips.
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece_bpe.h"  // MergeTable
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocabulary.h"

namespace jisu {

struct ByteLevelOptions {
  bool ignore_merges = false;     // a word that is itself a token is not split by merges
  bool add_prefix_space = false;  // HF ByteLevel add_prefix_space: text runs start with a space
};

class ByteLevelBpe : public TokenizerModel {
 public:
  ByteLevelBpe(const Vocabulary& vocabulary, PreTokenizer pre_tokenizer, MergeTable merges, ByteLevelOptions options);

  void encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const override;
  void append_normal_token(int32_t id, std::string& out) const override;
  bool strips_leading_space() const override { return false; }

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;

  const Vocabulary& vocabulary_;
  PreTokenizer pre_tokenizer_;
  MergeTable merges_;
  ByteLevelOptions options_;
  int32_t byte_tokens_[256];  // the token spelling each single byte, -1 where missing
};

// Parses merges given as "left right" strings (GGUF, older tokenizer.json) into a table.
// Rules whose parts or result are not tokens cannot apply and are skipped; for a pair listed
// twice the first (lowest) rank wins.
MergeTable parse_merges(const Vocabulary& vocabulary, const std::vector<std::string>& merges);
void add_merge(const Vocabulary& vocabulary, MergeTable& table, std::string_view left, std::string_view right,
               int32_t rank);

}  // namespace jisu
