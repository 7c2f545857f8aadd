#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace jisu {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamingDetokenizer::push(int32_t id) {
  tokenizer_.append_piece(id, skip_special_, at_start_, pending_);
  // Everything but a trailing partial character is final: emit it, invalid bytes replaced.
  const size_t hold = utf8::incomplete_suffix_length(pending_);
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace jisu
