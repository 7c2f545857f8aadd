#pragma once
// A Hugging Face tokenizer.json (+ tokenizer_config.json) as the GGUF tokenizer metadata
// llama.cpp's convert_hf_to_gguf.py writes: tokenizer.ggml.model/pre/tokens/scores/token_type/
// merges, the special-token ids and add_bos/add_eos flags, and tokenizer.chat_template.
//   - byte-level BPE -> model "gpt2", `pre` the llama.cpp name whose split rules are exactly
//     the file's (an unknown rule set is an error rather than a different tokenization);
//   - SentencePiece-style BPE (Metaspace, byte fallback) -> model "llama"; GGUF ranks merges
//     by piece score, so each token's score is minus the rank of the first merge producing it
//     (the order Hugging Face's SentencePiece converter derived the merges from);
//   - WordPiece -> model "bert".
#include <string>
#include <utility>
#include <vector>

#include "format/gguf_file.h"

namespace jisu {

// `tokenizer_json` is the path of tokenizer.json; tokenizer_config.json and chat_template.jinja
// are read from the same folder when present. Throws jisu::Error.
std::vector<std::pair<std::string, gguf::MetadataValue>> gguf_tokenizer_metadata(const std::string& tokenizer_json);

}  // namespace jisu
