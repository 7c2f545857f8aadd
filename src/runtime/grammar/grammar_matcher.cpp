#include "runtime/grammar/grammar_matcher.h"

#include <algorithm>
#include <deque>
#include <map>

#include "core/error.h"
#include "core/splitmix64.h"

namespace jisu {

GrammarVocabulary::GrammarVocabulary(std::vector<std::string> bytes, std::vector<std::string> start_bytes,
                                     std::vector<char> end_of_generation)
    : bytes_(std::move(bytes)), start_bytes_(std::move(start_bytes)), end_of_generation_(std::move(end_of_generation)) {
  JISU_ASSERT(start_bytes_.size() == bytes_.size() && end_of_generation_.size() == bytes_.size());
  // A map-children trie first, then laid out breadth-first so that children are contiguous.
  struct Building {
    std::map<uint8_t, int32_t> children;
    std::vector<int32_t> tokens;
  };
  std::vector<Building> building(1);
  for (size_t token = 0; token < bytes_.size(); ++token) {
    if (end_of_generation_[token]) eog_tokens_.push_back(int32_t(token));
    if (end_of_generation_[token] || bytes_[token].empty()) continue;
    int32_t node = 0;
    for (char c : bytes_[token]) {
      const auto [it, inserted] = building[size_t(node)].children.emplace(uint8_t(c), int32_t(building.size()));
      if (inserted) building.emplace_back();
      node = it->second;
    }
    building[size_t(node)].tokens.push_back(int32_t(token));
  }
  std::vector<int32_t> order{0};  // building index of each laid-out node
  std::vector<uint8_t> edge{0};
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& [byte, child] : building[size_t(order[i])].children) {
      order.push_back(child);
      edge.push_back(byte);
    }
  trie_.resize(order.size());
  int32_t next_child = 1;
  for (size_t i = 0; i < order.size(); ++i) {
    const Building& source = building[size_t(order[i])];
    TrieNode& node = trie_[i];
    node.byte = edge[i];
    node.children_begin = next_child;
    next_child += int32_t(source.children.size());
    node.children_end = next_child;
    node.tokens_begin = int32_t(trie_tokens_.size());
    trie_tokens_.insert(trie_tokens_.end(), source.tokens.begin(), source.tokens.end());
    node.tokens_end = int32_t(trie_tokens_.size());
  }
}

namespace {

struct VectorHash {
  size_t operator()(const std::vector<int32_t>& key) const {
    uint64_t hash = 0x9E3779B97F4A7C15ull;
    for (int32_t value : key) hash = (hash ^ uint32_t(value)) * 0x100000001B3ull;
    return size_t(hash ^ (hash >> 29));
  }
};

// Open-addressing map from a 64-bit key (never kEmptyKey) to an id, for the stack-node intern
// table: it is asked for every stack after every byte, and std::unordered_map allocated a node
// per entry. Linear probing, at most half full.
class NodeIdMap {
 public:
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};
  // The id stored under `key`, or `id` stored now (then inserted is true).
  int32_t emplace(uint64_t key, int32_t id, bool& inserted) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (uint64_t state = key, i = splitmix64(state) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.key == key) {
        inserted = false;
        return slot.id;
      }
      if (slot.key == kEmptyKey) {
        slot = {key, id};
        ++size_;
        inserted = true;
        return id;
      }
    }
  }
  // The id stored under `key`, or -1.
  int32_t find(uint64_t key) const {
    if (slots_.empty()) return -1;
    const size_t mask = slots_.size() - 1;
    for (uint64_t state = key, i = splitmix64(state) & mask;; i = (i + 1) & mask) {
      if (slots_[i].key == key) return slots_[i].id;
      if (slots_[i].key == kEmptyKey) return -1;
    }
  }

 private:
  struct Slot {
    uint64_t key = kEmptyKey;
    int32_t id = 0;
  };
  void grow() {
    std::vector<Slot> old(std::max<size_t>(64, slots_.size() * 2));
    old.swap(slots_);
    size_ = 0;
    bool inserted = false;
    for (const Slot& slot : old)
      if (slot.key != kEmptyKey) emplace(slot.key, slot.id, inserted);
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

constexpr int32_t kUnknown = -2;
constexpr int32_t kDead = -1;

}  // namespace

struct GrammarMatcher::Automaton {
  struct Node {
    int32_t pos;     // a Bytes element to match next
    int32_t parent;  // the frame to return to (-1: none)
  };
  struct State {
    std::vector<int32_t> stacks;  // sorted node ids
    bool accepting = false;
    std::vector<int32_t> next;    // per byte: state id, kDead, or kUnknown (allocated on first use)
    std::vector<uint64_t> mask;   // empty until computed
  };

  std::shared_ptr<const Grammar> grammar;
  const GrammarVocabulary& vocabulary;
  std::vector<Node> nodes;
  NodeIdMap node_ids;
  std::vector<State> states;
  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> state_ids;  // key: stacks + accepting flag
  std::vector<uint64_t> start_mask;
  // Scratch, reused.
  std::vector<int32_t> scratch;
  std::vector<std::pair<int32_t, int32_t>> work;
  std::vector<std::pair<int32_t, int32_t>> walk;

  Automaton(std::shared_ptr<const Grammar> g, const GrammarVocabulary& v) : grammar(std::move(g)), vocabulary(v) {}

  int32_t intern_node(int32_t pos, int32_t parent) {
    const uint64_t key = (uint64_t(uint32_t(pos)) << 32) | uint32_t(parent + 1);  // pos < 2^31: never kEmptyKey
    if (nodes.size() >= kMaxStackNodes) {
      if (const int32_t id = node_ids.find(key); id >= 0) return id;
      throw Error("grammar: the generation nests deeper than the matcher's bound (" +
                  std::to_string(kMaxStackNodes) + " stack nodes)");
    }
    bool inserted = false;
    const int32_t id = node_ids.emplace(key, int32_t(nodes.size()), inserted);
    if (inserted) nodes.push_back({pos, parent});
    return id;
  }

  // Adds to `scratch` every stack reachable from (pos, parent) without consuming a byte; sets
  // `accepting` when the whole grammar can end there.
  void expand(int32_t pos, int32_t parent, bool& accepting) {
    const std::vector<GrammarElement>& elements = grammar->elements;
    work.clear();
    work.emplace_back(pos, parent);
    size_t steps = 0;
    while (!work.empty()) {
      auto [p, frame] = work.back();
      work.pop_back();
      for (;;) {
        if (++steps > kMaxExpansionSteps)
          throw Error("grammar: the grammar is too ambiguous (one character opens more than " +
                      std::to_string(kMaxExpansionSteps) + " paths)");
        const GrammarElement& element = elements[size_t(p)];
        if (element.kind == GrammarElement::Kind::End) {
          if (frame < 0) {
            accepting = true;
            break;
          }
          p = nodes[size_t(frame)].pos;
          frame = nodes[size_t(frame)].parent;
          continue;
        }
        if (element.kind == GrammarElement::Kind::Bytes) {
          scratch.push_back(intern_node(p, frame));
          break;
        }
        // A rule: its alternatives, returning after it (no frame when nothing follows: a tail call).
        const int32_t after = p + 1;
        const int32_t return_frame =
            elements[size_t(after)].kind == GrammarElement::Kind::End ? frame : intern_node(after, frame);
        for (int32_t alternative : grammar->rule_alternatives[size_t(element.value)])
          work.emplace_back(alternative, return_frame);
        break;
      }
    }
  }

  // Interns the state made of `scratch` (then cleared) and `accepting`; kDead when empty.
  int32_t intern_state(bool accepting) {
    std::sort(scratch.begin(), scratch.end());
    scratch.erase(std::unique(scratch.begin(), scratch.end()), scratch.end());
    if (scratch.empty() && !accepting) return kDead;
    scratch.push_back(accepting ? -1 : -2);
    const auto found = state_ids.find(scratch);
    if (found != state_ids.end()) {
      scratch.clear();
      return found->second;
    }
    if (states.size() >= kMaxStates)
      throw Error("grammar: the generation met more than " + std::to_string(kMaxStates) + " grammar states");
    const auto id = int32_t(states.size());
    state_ids.emplace(scratch, id);
    scratch.pop_back();
    State state;
    state.stacks = scratch;
    state.accepting = accepting;
    states.push_back(std::move(state));
    scratch.clear();
    return id;
  }

  int32_t initial_state() {
    scratch.clear();
    bool accepting = false;
    for (int32_t alternative : grammar->rule_alternatives[size_t(grammar->root)]) {
      // Each alternative expands independently; expand() clears only its work list.
      expand(alternative, -1, accepting);
    }
    return intern_state(accepting);
  }

  int32_t transition(int32_t state, uint8_t byte) {
    if (states[size_t(state)].next.empty()) states[size_t(state)].next.assign(256, kUnknown);
    const int32_t cached = states[size_t(state)].next[byte];
    if (cached != kUnknown) return cached;
    scratch.clear();
    bool accepting = false;
    for (int32_t stack : states[size_t(state)].stacks) {
      const Node node = nodes[size_t(stack)];
      const GrammarElement& element = grammar->elements[size_t(node.pos)];
      if (grammar->byte_sets[size_t(element.value)][byte]) expand(node.pos + 1, node.parent, accepting);
    }
    const int32_t next = intern_state(accepting);
    states[size_t(state)].next[byte] = next;  // states may have grown: index again
    return next;
  }

  int32_t walk_bytes(int32_t state, std::string_view bytes) {
    for (char c : bytes) {
      state = transition(state, uint8_t(c));
      if (state < 0) return kDead;
    }
    return state;
  }

  static void set_bit(std::vector<uint64_t>& mask, int32_t token) {
    mask[size_t(token) >> 6] |= uint64_t{1} << (token & 63);
  }

  const std::vector<uint64_t>& mask_of(int32_t state) {
    if (!states[size_t(state)].mask.empty()) return states[size_t(state)].mask;
    std::vector<uint64_t> mask(vocabulary.mask_words(), 0);
    if (states[size_t(state)].accepting)
      for (int32_t token : vocabulary.end_of_generation_tokens()) set_bit(mask, token);
    const auto& trie = vocabulary.trie();
    const auto& trie_tokens = vocabulary.trie_tokens();
    walk.clear();
    walk.emplace_back(0, state);
    while (!walk.empty()) {
      const auto [node_index, at] = walk.back();
      walk.pop_back();
      const GrammarVocabulary::TrieNode& node = trie[size_t(node_index)];
      for (int32_t child = node.children_begin; child < node.children_end; ++child) {
        const int32_t next = transition(at, trie[size_t(child)].byte);
        if (next < 0) continue;
        const GrammarVocabulary::TrieNode& reached = trie[size_t(child)];
        for (int32_t t = reached.tokens_begin; t < reached.tokens_end; ++t) set_bit(mask, trie_tokens[size_t(t)]);
        if (reached.children_begin < reached.children_end) walk.emplace_back(child, next);
      }
    }
    states[size_t(state)].mask = std::move(mask);
    return states[size_t(state)].mask;
  }

  // The first token's mask: start forms of the tokens, walked one by one (once per matcher).
  const std::vector<uint64_t>& start_mask_of(int32_t state) {
    if (!start_mask.empty()) return start_mask;
    std::vector<uint64_t> mask(vocabulary.mask_words(), 0);
    for (int32_t token = 0; token < vocabulary.n_vocab(); ++token) {
      if (vocabulary.end_of_generation(token)) {
        if (states[size_t(state)].accepting) set_bit(mask, token);
        continue;
      }
      const std::string& bytes = vocabulary.start_bytes(token);
      if (!bytes.empty() && !vocabulary.bytes(token).empty() && walk_bytes(state, bytes) >= 0) set_bit(mask, token);
    }
    start_mask = std::move(mask);
    return start_mask;
  }
};

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar, const GrammarVocabulary& vocabulary)
    : automaton_(std::make_unique<Automaton>(std::move(grammar), vocabulary)) {
  state_ = automaton_->initial_state();
  if (state_ < 0) throw Error("grammar: the root rule matches nothing");
}

GrammarMatcher::~GrammarMatcher() = default;

const uint64_t* GrammarMatcher::allowed_tokens() {
  return at_start_ ? automaton_->start_mask_of(state_).data() : automaton_->mask_of(state_).data();
}

int32_t GrammarMatcher::state_after(int32_t token) {
  const GrammarVocabulary& vocabulary = automaton_->vocabulary;
  if (token < 0 || token >= vocabulary.n_vocab() || vocabulary.end_of_generation(token)) return -1;
  const std::string& bytes = at_start_ ? vocabulary.start_bytes(token) : vocabulary.bytes(token);
  if (bytes.empty() || vocabulary.bytes(token).empty()) return -1;
  return automaton_->walk_bytes(state_, bytes);
}

bool GrammarMatcher::allows(int32_t token) { return state_after(token) >= 0; }

bool GrammarMatcher::accept_token(int32_t token) {
  const int32_t next = state_after(token);
  if (next < 0) return false;
  state_ = next;
  at_start_ = false;
  return true;
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  const int32_t next = automaton_->walk_bytes(state_, bytes);
  if (next < 0) return false;
  state_ = next;
  if (!bytes.empty()) at_start_ = false;
  return true;
}

bool GrammarMatcher::can_end() const { return automaton_->states[size_t(state_)].accepting; }

bool GrammarMatcher::must_end() const {
  return automaton_->states[size_t(state_)].accepting && automaton_->states[size_t(state_)].stacks.empty();
}

size_t GrammarMatcher::state_count() const { return automaton_->states.size(); }

}  // namespace jisu
