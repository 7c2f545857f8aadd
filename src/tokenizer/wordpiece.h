#pragma once
// WordPiece (BERT): after BERT's basic tokenization, each word is covered greedily by the
// longest vocabulary pieces from the left; a word that cannot be covered, or that is longer
// than 100 characters, becomes the unknown token.
//
// Vocabularies mark word position in one of two ways: GGUF files prefix word-initial pieces
// with '▁' and store continuations bare; Hugging Face files store word-initial pieces bare and
// prefix continuations with "##".
#include <string>

#include "tokenizer/bert_pre_tokenizer.h"
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocabulary.h"

namespace jisu {

struct WordPieceOptions {
  BertNormalization normalization;
  std::string word_start_prefix = "\xE2\x96\x81";  // GGUF convention
  std::string continuation_prefix;                 // Hugging Face: "##"
  size_t max_word_chars = 100;
};

class WordPiece : public TokenizerModel {
 public:
  WordPiece(const Vocabulary& vocabulary, WordPieceOptions options);

  void encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const override;
  void append_normal_token(int32_t id, std::string& out) const override;
  bool strips_leading_space() const override { return true; }

 private:
  void encode_word(const std::string& word, std::vector<int32_t>& ids) const;

  const Vocabulary& vocabulary_;
  WordPieceOptions options_;
  size_t max_piece_bytes_ = 0;
};

}  // namespace jisu
