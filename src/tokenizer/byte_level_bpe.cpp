#include "tokenizer/byte_level_bpe.h"

#include "tokenizer/bpe_merge.h"
#include "tokenizer/byte_level_alphabet.h"

namespace jisu {

ByteLevelBpe::ByteLevelBpe(const Vocabulary& vocabulary, PreTokenizer pre_tokenizer, MergeTable merges,
                           ByteLevelOptions options)
    : vocabulary_(vocabulary),
      pre_tokenizer_(std::move(pre_tokenizer)),
      merges_(std::move(merges)),
      options_(options) {
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    byte_tokens_[byte] = vocabulary.find(byte_level::encode(std::string_view(&c, 1)));
  }
}

void ByteLevelBpe::encode(std::string_view text, const FragmentContext&, std::vector<int32_t>& ids) const {
  if (options_.add_prefix_space && text.front() != ' ') {
    std::string spaced;
    spaced.reserve(text.size() + 1);
    spaced += ' ';
    spaced.append(text);
    for (std::string_view word : pre_tokenizer_.split(spaced)) encode_word(word, ids);
    return;
  }
  for (std::string_view word : pre_tokenizer_.split(text)) encode_word(word, ids);
}

void ByteLevelBpe::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  if (options_.ignore_merges) {
    const int32_t whole = vocabulary_.find(byte_level::encode(word));
    if (whole >= 0) {
      ids.push_back(whole);
      return;
    }
  }
  if (word.size() == 1) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(word[0])];
    if (id >= 0) ids.push_back(id);
    return;
  }
  // One symbol per byte: the byte alphabet spells each byte as one code point, so merges over
  // spelled characters are merges over bytes.
  std::vector<bpe::Symbol> symbols(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    symbols[i].begin = static_cast<uint32_t>(i);
    symbols[i].end = static_cast<uint32_t>(i + 1);
    symbols[i].id = byte_tokens_[static_cast<uint8_t>(word[i])];
  }
  bpe::link(symbols);
  auto find_merge = [&](const bpe::Symbol& l, const bpe::Symbol& r) -> std::optional<bpe::MergeCandidate> {
    if (l.id < 0 || r.id < 0) return std::nullopt;
    const auto it = merges_.find(merge_key(l.id, r.id));
    if (it == merges_.end()) return std::nullopt;
    return bpe::MergeCandidate{static_cast<double>(it->second.rank), it->second.result};
  };
  bpe::merge(symbols, find_merge, [](int32_t, int32_t, int32_t) {});
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    // A byte without a token is dropped, as llama.cpp does; byte-level vocabularies have all 256.
    if (symbols[static_cast<size_t>(i)].id >= 0) ids.push_back(symbols[static_cast<size_t>(i)].id);
  }
}

void ByteLevelBpe::append_normal_token(int32_t id, std::string& out) const {
  out += byte_level::decode(vocabulary_.text(id));
}

void add_merge(const Vocabulary& vocabulary, MergeTable& table, std::string_view left, std::string_view right,
               int32_t rank) {
  const int32_t l = vocabulary.find(left);
  const int32_t r = vocabulary.find(right);
  if (l < 0 || r < 0) return;
  std::string joined;
  joined.reserve(left.size() + right.size());
  joined.append(left).append(right);
  const int32_t result = vocabulary.find(joined);
  if (result < 0) return;
  table.emplace(merge_key(l, r), RankedMerge{rank, result});
}

MergeTable parse_merges(const Vocabulary& vocabulary, const std::vector<std::string>& merges) {
  MergeTable table;
  table.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& rule = merges[rank];
    // Split at the first space after the first byte: a part may itself be a lone space.
    const size_t space = rule.find(' ', 1);
    if (space == std::string::npos) continue;
    add_merge(vocabulary, table, std::string_view(rule).substr(0, space), std::string_view(rule).substr(space + 1),
              static_cast<int32_t>(rank));
  }
  return table;
}

}  // namespace jisu
