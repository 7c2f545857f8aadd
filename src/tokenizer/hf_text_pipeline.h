#pragma once
// Reads the `normalizer` and `pre_tokenizer` sections of a Hugging Face tokenizer.json into the
// few settings our models understand. Anything else throws jisu::Error naming the component,
// rather than tokenizing differently from the reference.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/bert_pre_tokenizer.h"
#include "tokenizer/pattern_matchers.h"
#include "tokenizer/sentencepiece_bpe.h"

namespace jisu {

struct HfTextPipeline {
  // Byte-level BPE: a ByteLevel pre-tokenizer (its own GPT-2 regex when use_regex) plus Split,
  // Digits and Punctuation rules, all in order.
  bool byte_level = false;
  bool add_prefix_space = false;
  std::vector<patterns::MatchFunction> rules;
  bool nfc = false;
  // SentencePiece-style BPE: '▁' for spaces and where the dummy prefix goes (Prepend/Replace
  // normalizers or a Metaspace pre-tokenizer).
  bool metaspace = false;
  SentencePieceOptions::DummyPrefix dummy_prefix = SentencePieceOptions::DummyPrefix::Never;
  // WordPiece: BertNormalizer + BertPreTokenizer.
  bool bert = false;
  BertNormalization bert_normalization;
};

HfTextPipeline read_hf_text_pipeline(const nlohmann::json& normalizer, const nlohmann::json& pre_tokenizer,
                                     const std::string& path);

}  // namespace jisu
