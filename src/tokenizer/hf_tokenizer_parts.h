#pragma once
// What a Hugging Face tokenizer.json (with the tokenizer_config.json beside it) says, read and
// validated once: the vocabulary with its special tokens, the text pipeline and the ids put
// around a text. Tokenizer::from_hf_json builds a tokenizer from it; gguf_tokenizer_metadata
// (tokenizer/hf_tokenizer_gguf.h) writes it as the tokenizer.ggml.* keys of a GGUF.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/hf_text_pipeline.h"
#include "tokenizer/vocabulary.h"

namespace jisu {

struct HfTokenizerParts {
  std::string path;
  nlohmann::json root;    // tokenizer.json (nesting checked)
  nlohmann::json config;  // tokenizer_config.json, or null when there is none
  std::string model_type;  // "BPE" or "WordPiece"
  HfTextPipeline pipeline;
  std::unique_ptr<Vocabulary> vocabulary;  // finalized, special ids set
  std::vector<int32_t> prefix, suffix;     // ids around a text when special tokens are added
};

HfTokenizerParts read_hf_tokenizer(const std::string& path);  // throws jisu::Error

}  // namespace jisu
