#pragma once
// The interface between Tokenizer (added tokens, BOS/EOS, decoding) and the algorithm that turns
// plain text into ids: SentencePiece BPE, byte-level BPE or WordPiece.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jisu {

struct FragmentContext {
  bool starts_input = false;  // the fragment begins at the first byte of the input
};

class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;
  // Appends the ids for `text`: a non-empty run of input containing no added token.
  virtual void encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const = 0;
  // Appends the text a Normal-type token stands for.
  virtual void append_normal_token(int32_t id, std::string& out) const = 0;
  // True when decode() must drop one leading space of the first decoded piece: the space the
  // model itself prepends when encoding (SentencePiece's dummy prefix, WordPiece's word start).
  virtual bool strips_leading_space() const = 0;
};

}  // namespace jisu
