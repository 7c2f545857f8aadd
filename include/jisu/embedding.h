#pragma once
// Embeddings from an encoder model (BERT-class, GGUF architecture `bert`): one vector per input,
// pooled from the model's last hidden states and L2-normalised. Part of the serving API
// (ServingEngine::embed); the types live here so that a caller needs no more than this header.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jisu {

enum class EmbeddingPooling {
  ModelDefault,  // the file's <arch>.pooling_type (mean for a BERT file without one)
  None,          // every token's hidden state
  Mean,          // average over the input's tokens ([CLS] and [SEP] included, as llama.cpp does)
  Cls,           // the first token's ([CLS])
  Last,          // the last token's
};

// "mean" / "cls" / "last" / "none"; false for anything else.
bool parse_embedding_pooling(std::string_view text, EmbeddingPooling& pooling);
std::string_view embedding_pooling_name(EmbeddingPooling pooling);

struct EmbeddingOptions {
  EmbeddingPooling pooling = EmbeddingPooling::ModelDefault;
  bool normalize = true;  // scale each vector (each token's with pooling None) to L2 norm 1
};

struct EmbeddingResult {
  bool ok = false;
  std::string error;       // why not, when !ok: an empty or too long input, a model that is not an encoder
  int32_t dimensions = 0;  // floats per vector (the model's n_embd)
  EmbeddingPooling pooling = EmbeddingPooling::Mean;  // what was applied (never ModelDefault)
  // Per input, in input order: `dimensions` floats, or (its tokens x dimensions) with pooling None.
  std::vector<std::vector<float>> embeddings;
  int32_t prompt_tokens = 0;  // tokens of all inputs together
  int32_t forward_passes = 0; // batches the inputs took (many inputs share one forward)
};

}  // namespace jisu
