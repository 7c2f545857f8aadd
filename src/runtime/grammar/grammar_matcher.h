#pragma once
// Grammar-constrained decoding: which tokens may come next, and the state after each one.
//
// The automaton is a pushdown automaton over bytes (llama.cpp's model): a state is a set of
// stacks, each stack a chain of grammar positions (the element to match next on top, return
// positions below). Stacks are hash-consed nodes {position, parent}, so a state is a sorted
// list of node ids, itself interned: equal states get equal ids, and everything computed for a
// state is cached on it: its transition per byte (filled lazily) and its token mask.
//
// A state's token mask is computed once, by walking the vocabulary's byte trie from the state:
// a trie edge is followed only while the state after its byte is alive, so a token costs
// nothing once a prefix of it is refused, and tokens sharing a prefix share its walk. After
// that, asking for the mask is a lookup and accepting a token walks its bytes through cached
// transitions: in steady state no allocation per token; new states (a bounded cache, see
// kMaxStates) allocate when first met.
//
// Text accounting follows the detokenizer: a token's bytes are what it appends mid-text, and
// the first token of a generation uses its start form (a SentencePiece word loses its leading
// space there). Control tokens (no bytes) are never allowed; end-of-generation tokens exactly
// when the grammar accepts what was generated.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/grammar/gbnf_grammar.h"

namespace jisu {

// The vocabulary as bytes, built once per model: shared (read-only) by every matcher.
class GrammarVocabulary {
 public:
  // bytes[i]: what token i appends mid-text ("" for tokens that print nothing); start_bytes[i]:
  // the same as the first token of a text; end_of_generation[i]: token ends a generation.
  GrammarVocabulary(std::vector<std::string> bytes, std::vector<std::string> start_bytes,
                    std::vector<char> end_of_generation);

  int32_t n_vocab() const { return int32_t(bytes_.size()); }
  size_t mask_words() const { return (bytes_.size() + 63) / 64; }
  const std::string& bytes(int32_t token) const { return bytes_[size_t(token)]; }
  const std::string& start_bytes(int32_t token) const { return start_bytes_[size_t(token)]; }
  bool end_of_generation(int32_t token) const { return end_of_generation_[size_t(token)] != 0; }

  // Trie of every token's bytes: node 0 is the root (the empty prefix).
  struct TrieNode {
    int32_t children_begin = 0, children_end = 0;  // indices into nodes (children are contiguous)
    int32_t tokens_begin = 0, tokens_end = 0;      // tokens whose bytes end here (into trie_tokens)
    uint8_t byte = 0;                              // the edge from the parent
  };
  const std::vector<TrieNode>& trie() const { return trie_; }
  const std::vector<int32_t>& trie_tokens() const { return trie_tokens_; }
  const std::vector<int32_t>& end_of_generation_tokens() const { return eog_tokens_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<std::string> start_bytes_;
  std::vector<char> end_of_generation_;
  std::vector<TrieNode> trie_;
  std::vector<int32_t> trie_tokens_;
  std::vector<int32_t> eog_tokens_;
};

class GrammarMatcher {
 public:
  static constexpr size_t kMaxStates = 200000;        // distinct automaton states per matcher
  static constexpr size_t kMaxStackNodes = 1 << 22;   // distinct stack nodes per matcher
  static constexpr size_t kMaxExpansionSteps = 1 << 20;  // work of one transition (ambiguity bound)

  // Both must outlive the matcher. Throws jisu::Error when even the start is past the bounds.
  GrammarMatcher(std::shared_ptr<const Grammar> grammar, const GrammarVocabulary& vocabulary);
  ~GrammarMatcher();

  // Bit t (word t / 64, bit t % 64) set: token t may come next. Valid until the next call to a
  // non-const method. Throws jisu::Error when a bound above is exceeded.
  const uint64_t* allowed_tokens();
  // Advances by a token that allowed_tokens() allows (false, unchanged, otherwise). End-of-
  // generation tokens are not accepted here: they end the text.
  bool accept_token(int32_t token);
  // Whether accept_token(token) would succeed, without advancing and without computing the
  // mask: one token's bytes walked through the (cached) transitions.
  bool allows(int32_t token);
  // Advances by raw bytes (tests, prefilled text); false (unchanged) when refused.
  bool accept_bytes(std::string_view bytes);

  bool can_end() const;   // what was accepted is a complete sentence of the grammar
  bool must_end() const;  // ... and nothing may follow it
  size_t state_count() const;

 private:
  struct Automaton;
  int32_t state_after(int32_t token);  // the state accept_token(token) would reach; < 0: refused

  std::unique_ptr<Automaton> automaton_;
  int32_t state_ = 0;
  bool at_start_ = true;
};

}  // namespace jisu
