#pragma once
// The BPE merge loop shared by SentencePiece BPE and byte-level BPE: repeatedly merge the
// adjacent pair with the best (lowest) priority, leftmost first on ties, until no pair merges.
// A priority queue with lazy invalidation keeps it O(n log n) in the number of symbols.
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace jisu::bpe {

// A span of the word being tokenized, linked to its neighbours.
struct Symbol {
  uint32_t begin = 0;  // byte offsets in the word; begin == end marks a symbol merged away
  uint32_t end = 0;
  int32_t id = -1;  // the token spelling [begin, end), -1 when there is none
  int32_t prev = -1;
  int32_t next = -1;
};

struct MergeCandidate {
  double priority;  // lower merges first (SentencePiece: -score; ranked merges: rank)
  int32_t id;       // the token the merged span becomes
};

// Builds the initial linked list over `symbols` (which must tile the word in order).
inline void link(std::vector<Symbol>& symbols) {
  for (size_t i = 0; i < symbols.size(); ++i) {
    symbols[i].prev = static_cast<int32_t>(i) - 1;
    symbols[i].next = i + 1 < symbols.size() ? static_cast<int32_t>(i) + 1 : -1;
  }
}

// find_merge(const Symbol& left, const Symbol& right) -> std::optional<MergeCandidate>.
// on_merge(int32_t left, int32_t right, int32_t id) is called just before right is merged into left.
template <class FindMerge, class OnMerge>
void merge(std::vector<Symbol>& symbols, const FindMerge& find_merge, const OnMerge& on_merge) {
  struct Entry {
    double priority;
    int32_t left;
    int32_t right;
    uint32_t length;  // bytes of left + right when queued
    int32_t id;
  };
  auto worse = [](const Entry& a, const Entry& b) {
    return a.priority > b.priority || (a.priority == b.priority && a.left > b.left);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> queue(worse);
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (const std::optional<MergeCandidate> m = find_merge(l, r))
      queue.push({m->priority, left, right, r.end - l.begin, m->id});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i) - 1, static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Entry e = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(e.left)];
    Symbol& r = symbols[static_cast<size_t>(e.right)];
    // Stale entries: a side was merged away, or grew. A left symbol never moves its begin and
    // spans only grow, so an unchanged total length means neither side changed.
    if (l.begin == l.end || r.begin == r.end || l.next != e.right || r.end - l.begin != e.length) continue;
    on_merge(e.left, e.right, e.id);
    l.end = r.end;
    l.id = e.id;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = e.left;
    r.begin = r.end;
    consider(l.prev, e.left);
    consider(e.left, l.next);
  }
}

}  // namespace jisu::bpe
