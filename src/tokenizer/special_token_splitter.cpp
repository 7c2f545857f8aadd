#include "tokenizer/special_token_splitter.h"

#include <algorithm>

namespace jisu {
namespace {

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool takes_part(TokenType type) {
  return type == TokenType::Control || type == TokenType::Unknown || type == TokenType::UserDefined;
}

// Whether [begin, end) shares a byte with one of the sorted, disjoint `ranges`.
bool overlaps(std::span<const TextRange> ranges, size_t begin, size_t end) {
  const auto after = std::upper_bound(ranges.begin(), ranges.end(), begin,
                                      [](size_t position, const TextRange& range) { return position < range.end; });
  return after != ranges.end() && after->begin < end;
}

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const Vocabulary& vocabulary) : vocabulary_(vocabulary) {
  nodes_.emplace_back();
  for (int32_t id = 0; id < vocabulary.size(); ++id) {
    const TokenEntry& entry = vocabulary.entry(id);
    if (!takes_part(entry.type) || entry.text.empty()) continue;
    int32_t node = 0;
    for (char c : entry.text) {
      const auto byte = static_cast<uint8_t>(c);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& children = nodes_[static_cast<size_t>(node)].children;
        children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1})),
                        {byte, next});
      }
      node = next;
    }
    nodes_[static_cast<size_t>(node)].token = id;
  }
}

int32_t SpecialTokenSplitter::child(int32_t node, uint8_t byte) const {
  const auto& children = nodes_[static_cast<size_t>(node)].children;
  const auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
  return (it != children.end() && it->first == byte) ? it->second : -1;
}

std::pair<int32_t, size_t> SpecialTokenSplitter::longest_match(std::string_view text, size_t pos,
                                                                bool parse_special,
                                                                std::span<const TextRange> plain) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    const int32_t token = nodes_[static_cast<size_t>(node)].token;
    if (token < 0) continue;
    if (vocabulary_.is_special(token) && (!parse_special || overlaps(plain, pos, i + 1))) continue;
    best = {token, i + 1 - pos};
  }
  return best;
}

std::vector<TextFragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special,
                                                      std::span<const TextRange> plain) const {
  std::vector<TextFragment> fragments;
  size_t text_start = 0;  // start of the pending plain-text run
  size_t pos = 0;
  auto flush_text = [&](size_t end) {
    if (end > text_start) fragments.push_back({-1, text.substr(text_start, end - text_start)});
  };
  while (pos < text.size()) {
    if (nodes_.size() == 1) break;  // nothing to match: one plain fragment
    const auto [token, length] = longest_match(text, pos, parse_special, plain);
    if (token < 0) {
      ++pos;
      continue;
    }
    const TokenEntry& entry = vocabulary_.entry(token);
    size_t text_end = pos;
    if (entry.lstrip)
      while (text_end > text_start && is_ascii_space(text[text_end - 1])) --text_end;
    flush_text(text_end);
    fragments.push_back({token, {}});
    pos += length;
    if (entry.rstrip)
      while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
    text_start = pos;
  }
  flush_text(text.size());
  return fragments;
}

}  // namespace jisu
