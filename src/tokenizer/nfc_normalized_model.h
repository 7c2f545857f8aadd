#pragma once
// Wraps a model so text runs are NFC-normalized before encoding (Hugging Face `NFC`
// normalizer, used by Qwen2). Runs that are not valid UTF-8 are passed through unchanged, so
// their bytes still round-trip.
#include <memory>

#include "tokenizer/tokenizer_model.h"

namespace jisu {

class NfcNormalizedModel : public TokenizerModel {
 public:
  explicit NfcNormalizedModel(std::unique_ptr<TokenizerModel> inner) : inner_(std::move(inner)) {}

  void encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const override;
  void append_normal_token(int32_t id, std::string& out) const override { inner_->append_normal_token(id, out); }
  bool strips_leading_space() const override { return inner_->strips_leading_space(); }

 private:
  std::unique_ptr<TokenizerModel> inner_;
};

}  // namespace jisu
