#include "tokenizer/nfc_normalized_model.h"

#include "tokenizer/unicode_properties.h"
#include "tokenizer/utf8.h"

namespace jisu {

void NfcNormalizedModel::encode(std::string_view text, const FragmentContext& context, std::vector<int32_t>& ids) const {
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii || !utf8::is_valid(text)) {
    inner_->encode(text, context, ids);  // ASCII is already NFC
    return;
  }
  std::vector<uint32_t> code_points;
  code_points.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::DecodedChar c = utf8::decode(text, pos);
    code_points.push_back(c.code_point);
    pos += c.length;
  }
  std::string normalized;
  normalized.reserve(text.size());
  for (uint32_t cp : unicode::nfc(code_points)) utf8::append(normalized, cp);
  inner_->encode(normalized, context, ids);
}

}  // namespace jisu
