#pragma once
// SentencePiece-style BPE: spaces become '▁', a '▁' dummy prefix starts the text, the text is
// split into characters, and adjacent pieces merge while the merged piece is in the vocabulary.
// Characters no piece covers fall back to <0xXX> byte tokens (or the unknown token).
//
// Two merge orders:
//  - PieceScore: SentencePiece's own rule (GGUF `llama` vocabularies, .model files): the pair
//    whose merged piece has the highest score merges first; only Normal, UserDefined and Unused
//    pieces can be formed, and Unused ones are split back into their parts at the end.
//  - MergeRank: Hugging Face's BPE model with byte_fallback (Llama/Mistral tokenizer.json):
//    the pair listed earliest in `merges` merges first.
#include <cstdint>
#include <unordered_map>

#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocabulary.h"

namespace jisu {

struct RankedMerge {
  int32_t rank;
  int32_t result;
};
// Key: (left id << 32) | right id.
using MergeTable = std::unordered_map<uint64_t, RankedMerge>;
inline uint64_t merge_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct SentencePieceOptions {
  enum class MergeOrder { PieceScore, MergeRank };
  enum class DummyPrefix {
    Never,
    EveryFragment,  // each text run, also after an added token (llama.cpp, HF Prepend normalizer)
    InputStart,     // only a run that begins the input (HF Metaspace prepend_scheme "first")
  };
  MergeOrder merge_order = MergeOrder::PieceScore;
  DummyPrefix dummy_prefix = DummyPrefix::EveryFragment;
  bool escape_whitespace = true;           // ' ' -> '▁'
  bool remove_extra_whitespace = false;    // trim and collapse runs of spaces first
  bool ignore_merges = false;              // MergeRank: a whole fragment that is a token stays whole
  bool fuse_unknown = true;                // consecutive unknown characters give one unknown token
};

class SentencePieceBpe : public TokenizerModel {
 public:
  // `merges` is used only with MergeOrder::MergeRank.
  SentencePieceBpe(const Vocabulary& vocabulary, SentencePieceOptions options, MergeTable merges = {});

  void encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const override;
  void append_normal_token(int32_t id, std::string& out) const override;
  bool strips_leading_space() const override { return options_.dummy_prefix != SentencePieceOptions::DummyPrefix::Never; }

 private:
  std::string normalize(std::string_view text, const FragmentContext& context) const;
  bool can_form(int32_t id) const;  // a merge may produce this piece
  void append_unknown_bytes(std::string_view bytes, std::vector<int32_t>& ids) const;

  const Vocabulary& vocabulary_;
  SentencePieceOptions options_;
  MergeTable merges_;
  int32_t byte_tokens_[256];  // <0xXX> ids, -1 where missing
  bool has_byte_tokens_ = false;
  bool has_unused_ = false;
};

}  // namespace jisu
