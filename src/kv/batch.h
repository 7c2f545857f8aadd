#pragma once
// A batch of tokens from any number of sequences: the only input of the forward pass.
// Prompt processing is many tokens of one sequence; decoding is one token per active
// sequence; a server step mixes both. Per sequence, the tokens of a batch must continue the
// sequence: consecutive positions starting at its current KV length.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace jisu {

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> sequences;    // KV cache sequence slot of each token
  std::vector<uint8_t> wants_logits; // 1: the forward writes this token's logits

  explicit Batch(size_t capacity = 0) { reserve(capacity); }

  void reserve(size_t capacity) {
    tokens.reserve(capacity);
    positions.reserve(capacity);
    sequences.reserve(capacity);
    wants_logits.reserve(capacity);
  }
  void clear() {
    tokens.clear();
    positions.clear();
    sequences.clear();
    wants_logits.clear();
  }
  void add(int32_t token, int32_t position, int32_t sequence, bool logits) {
    tokens.push_back(token);
    positions.push_back(position);
    sequences.push_back(sequence);
    wants_logits.push_back(logits ? 1 : 0);
  }
  size_t size() const { return tokens.size(); }
  size_t n_outputs() const {
    size_t count = 0;
    for (uint8_t wanted : wants_logits) count += wanted;
    return count;
  }
};

}  // namespace jisu
