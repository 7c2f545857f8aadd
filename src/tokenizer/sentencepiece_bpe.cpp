#include "tokenizer/sentencepiece_bpe.h"

#include <cstdio>

#include "tokenizer/bpe_merge.h"
#include "tokenizer/utf8.h"

namespace jisu {
namespace {

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 '▁'

// A merge tree over the initial characters, kept only when Unused pieces exist: such a piece
// may be formed by a merge but is never output, so it is split back into the two pieces it was
// made of (SentencePiece's "resegment").
struct MergeTree {
  struct Node {
    int32_t left, right;  // >= 0: node index; < 0: leaf -(symbol index + 1)
    int32_t id;
  };
  std::vector<Node> nodes;
  std::vector<int32_t> root;  // per symbol: its current node, or leaf code
};

}  // namespace

SentencePieceBpe::SentencePieceBpe(const Vocabulary& vocabulary, SentencePieceOptions options, MergeTable merges)
    : vocabulary_(vocabulary), options_(options), merges_(std::move(merges)) {
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    const int32_t id = vocabulary.find(name);
    byte_tokens_[byte] = (id >= 0 && vocabulary.type(id) == TokenType::Byte) ? id : -1;
    has_byte_tokens_ = has_byte_tokens_ || byte_tokens_[byte] >= 0;
  }
  for (int32_t id = 0; id < vocabulary.size(); ++id) has_unused_ = has_unused_ || vocabulary.type(id) == TokenType::Unused;
}

bool SentencePieceBpe::can_form(int32_t id) const {
  if (id < 0) return false;
  const TokenType type = vocabulary_.type(id);
  return type == TokenType::Normal || type == TokenType::UserDefined || type == TokenType::Unused;
}

std::string SentencePieceBpe::normalize(std::string_view text, const FragmentContext& context) const {
  std::string spaced;
  if (options_.remove_extra_whitespace) {
    // SentencePiece: drop leading and trailing spaces, squeeze inner runs to one.
    for (char c : text) {
      if (c == ' ' && (spaced.empty() || spaced.back() == ' ')) continue;
      spaced += c;
    }
    if (!spaced.empty() && spaced.back() == ' ') spaced.pop_back();
    if (spaced.empty()) return spaced;
  } else {
    spaced.assign(text);
  }
  using DummyPrefix = SentencePieceOptions::DummyPrefix;
  const bool prefix = options_.dummy_prefix == DummyPrefix::EveryFragment ||
                      (options_.dummy_prefix == DummyPrefix::InputStart && context.starts_input);
  if (prefix) spaced.insert(spaced.begin(), ' ');
  if (!options_.escape_whitespace) return spaced;
  std::string escaped;
  escaped.reserve(spaced.size() + spaced.size() / 2);
  for (char c : spaced) {
    if (c == ' ')
      escaped += kMetaspace;
    else
      escaped += c;
  }
  return escaped;
}

void SentencePieceBpe::append_unknown_bytes(std::string_view bytes, std::vector<int32_t>& ids) const {
  if (has_byte_tokens_) {
    for (char c : bytes) {
      const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
      ids.push_back(id >= 0 ? id : vocabulary_.special.unknown);
    }
    return;
  }
  const int32_t unknown = vocabulary_.special.unknown;
  if (unknown < 0) return;  // nothing can stand for it
  if (options_.fuse_unknown && !ids.empty() && ids.back() == unknown) return;
  ids.push_back(unknown);
}

void SentencePieceBpe::encode(std::string_view input, const FragmentContext& context,
                              std::vector<int32_t>& ids) const {
  const std::string text = normalize(input, context);
  if (text.empty()) return;
  const bool by_rank = options_.merge_order == SentencePieceOptions::MergeOrder::MergeRank;
  if (by_rank && options_.ignore_merges) {
    const int32_t whole = vocabulary_.find(text);
    if (whole >= 0) {
      ids.push_back(whole);
      return;
    }
  }

  // One symbol per character; an invalid UTF-8 byte is a character of its own.
  std::vector<bpe::Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::DecodedChar c = utf8::decode(text, pos);
    bpe::Symbol s;
    s.begin = static_cast<uint32_t>(pos);
    s.end = static_cast<uint32_t>(pos + c.length);
    const int32_t id = vocabulary_.find(std::string_view(text).substr(pos, c.length));
    s.id = by_rank ? id : (can_form(id) ? id : -1);
    symbols.push_back(s);
    pos += c.length;
  }
  bpe::link(symbols);

  const std::string_view view(text);
  auto find_merge = [&](const bpe::Symbol& l, const bpe::Symbol& r) -> std::optional<bpe::MergeCandidate> {
    if (by_rank) {
      if (l.id < 0 || r.id < 0) return std::nullopt;
      const auto it = merges_.find(merge_key(l.id, r.id));
      if (it == merges_.end()) return std::nullopt;
      return bpe::MergeCandidate{static_cast<double>(it->second.rank), it->second.result};
    }
    const int32_t id = vocabulary_.find(view.substr(l.begin, r.end - l.begin));
    if (!can_form(id)) return std::nullopt;
    return bpe::MergeCandidate{-static_cast<double>(vocabulary_.score(id)), id};
  };

  MergeTree tree;
  const bool track = has_unused_ && !by_rank;
  if (track) {
    tree.root.resize(symbols.size());
    for (size_t i = 0; i < symbols.size(); ++i) tree.root[i] = -static_cast<int32_t>(i) - 1;
  }
  const std::vector<bpe::Symbol> leaves = track ? symbols : std::vector<bpe::Symbol>{};
  auto on_merge = [&](int32_t left, int32_t right, int32_t id) {
    if (!track) return;
    tree.nodes.push_back({tree.root[static_cast<size_t>(left)], tree.root[static_cast<size_t>(right)], id});
    tree.root[static_cast<size_t>(left)] = static_cast<int32_t>(tree.nodes.size()) - 1;
  };
  bpe::merge(symbols, find_merge, on_merge);

  // Emit a piece, splitting Unused pieces back into their parts.
  auto emit_node = [&](auto&& self, int32_t node) -> void {
    if (node < 0) {
      const bpe::Symbol& leaf = leaves[static_cast<size_t>(-node - 1)];
      if (leaf.id >= 0 && vocabulary_.type(leaf.id) != TokenType::Unused)
        ids.push_back(leaf.id);
      else
        append_unknown_bytes(view.substr(leaf.begin, leaf.end - leaf.begin), ids);
      return;
    }
    const MergeTree::Node& n = tree.nodes[static_cast<size_t>(node)];
    if (vocabulary_.type(n.id) != TokenType::Unused) {
      ids.push_back(n.id);
      return;
    }
    self(self, n.left);
    self(self, n.right);
  };

  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const bpe::Symbol& s = symbols[static_cast<size_t>(i)];
    if (track) {
      emit_node(emit_node, tree.root[static_cast<size_t>(i)]);
    } else if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      append_unknown_bytes(view.substr(s.begin, s.end - s.begin), ids);
    }
  }
}

void SentencePieceBpe::append_normal_token(int32_t id, std::string& out) const {
  const std::string& text = vocabulary_.text(id);
  if (!options_.escape_whitespace) {
    out += text;
    return;
  }
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kMetaspace.size(), kMetaspace) == 0) {
      out += ' ';
      pos += kMetaspace.size();
    } else {
      out += text[pos++];
    }
  }
}

}  // namespace jisu
