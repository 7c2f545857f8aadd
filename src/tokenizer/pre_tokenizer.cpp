#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/utf8.h"

namespace jisu {

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  // Decode once: code points for the rules, byte offsets to cut the original text.
  std::vector<uint32_t> code_points;
  std::vector<size_t> offsets;
  code_points.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    const utf8::DecodedChar c = utf8::decode(text, pos);
    code_points.push_back(c.code_point);
    offsets.push_back(pos);
    pos += c.length;
  }
  offsets.push_back(text.size());

  // Segment boundaries as code point indices: segment i is [ends[i-1], ends[i]).
  std::vector<size_t> ends;
  if (!code_points.empty()) ends.push_back(code_points.size());
  std::vector<size_t> next_ends;
  for (const patterns::MatchFunction rule : rules_) {
    next_ends.clear();
    size_t begin = 0;
    for (const size_t end : ends) {
      size_t gap_start = begin;
      for (size_t pos = begin; pos < end;) {
        const size_t length = rule(code_points.data(), begin, pos, end);
        if (length == 0) {
          ++pos;
          continue;
        }
        if (pos > gap_start) next_ends.push_back(pos);
        pos += length;
        next_ends.push_back(pos);
        gap_start = pos;
      }
      if (gap_start < end) next_ends.push_back(end);
      begin = end;
    }
    ends.swap(next_ends);
  }

  std::vector<std::string_view> words;
  words.reserve(ends.size());
  size_t begin = 0;
  for (const size_t end : ends) {
    words.push_back(text.substr(offsets[begin], offsets[end] - offsets[begin]));
    begin = end;
  }
  return words;
}

}  // namespace jisu
