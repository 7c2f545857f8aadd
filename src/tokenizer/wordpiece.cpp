#include "tokenizer/wordpiece.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace jisu {

WordPiece::WordPiece(const Vocabulary& vocabulary, WordPieceOptions options)
    : vocabulary_(vocabulary), options_(std::move(options)) {
  for (int32_t id = 0; id < vocabulary.size(); ++id) max_piece_bytes_ = std::max(max_piece_bytes_, vocabulary.text(id).size());
}

void WordPiece::encode(std::string_view text, const FragmentContext&, std::vector<int32_t>& ids) const {
  for (const std::string& word : bert_basic_tokenize(text, options_.normalization)) encode_word(word, ids);
}

void WordPiece::encode_word(const std::string& word, std::vector<int32_t>& ids) const {
  // Character boundaries of the word (it is valid UTF-8: the pre-tokenizer produced it).
  std::vector<size_t> bounds;
  for (size_t pos = 0; pos < word.size(); pos += utf8::decode(word, pos).length) bounds.push_back(pos);
  bounds.push_back(word.size());
  const size_t n_chars = bounds.size() - 1;
  const int32_t unknown = vocabulary_.special.unknown;
  if (n_chars > options_.max_word_chars) {
    if (unknown >= 0) ids.push_back(unknown);
    return;
  }
  const size_t first = ids.size();
  std::string piece;
  for (size_t start = 0; start < n_chars;) {
    const std::string& prefix = start == 0 ? options_.word_start_prefix : options_.continuation_prefix;
    int32_t found = -1;
    size_t stop = n_chars;
    for (; stop > start; --stop) {
      const size_t bytes = bounds[stop] - bounds[start];
      if (prefix.size() + bytes > max_piece_bytes_) continue;
      piece.assign(prefix).append(word, bounds[start], bytes);
      found = vocabulary_.find(piece);
      if (found >= 0) break;
    }
    if (found < 0) {  // the word cannot be covered: all of it is unknown
      ids.resize(first);
      if (unknown >= 0) ids.push_back(unknown);
      return;
    }
    ids.push_back(found);
    start = stop;
  }
}

void WordPiece::append_normal_token(int32_t id, std::string& out) const {
  const std::string& text = vocabulary_.text(id);
  const std::string& start = options_.word_start_prefix;
  const std::string& continuation = options_.continuation_prefix;
  if (!continuation.empty()) {
    // Hugging Face spelling: "##" joins, anything else starts a new word.
    if (text.compare(0, continuation.size(), continuation) == 0) {
      out.append(text, continuation.size());
    } else {
      out += ' ';
      out += text;
    }
    return;
  }
  if (!start.empty() && text.compare(0, start.size(), start) == 0) {
    out += ' ';
    out.append(text, start.size());
  } else {
    out += text;
  }
}

}  // namespace jisu
