#pragma once
// Stop strings for streaming generation. Decoded text arrives piece by piece; feed() returns the
// part that is safe to show the client now and holds back the tail that could still grow into a
// stop string (or that ends in an incomplete UTF-8 sequence). Once a stop string is complete,
// generation should end: the stop string and everything after it are never returned.
//
//   StopStringMatcher matcher(params.stop);
//   for each decoded piece:  send(matcher.feed(piece));  if (matcher.stopped()) break;
//   at the end:              send(matcher.flush());
//
// Which stop wins: the first one to complete in the text (smallest end offset); among stops
// completing at the same byte, the longest. That makes the result independent of how the text is
// split into pieces. Matching is on bytes, so any UTF-8 stop string works.
//
// Invariants: the views returned point into an internal buffer and stay valid until the next
// call; after construction, calls allocate only when the internal buffers must grow beyond what
// they have held before (no per-call allocation in steady state).
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jisu {

class StopStringMatcher {
 public:
  // Throws jisu::Error for an empty stop string. No stop strings: everything passes through.
  explicit StopStringMatcher(std::span<const std::string> stops);
  explicit StopStringMatcher(const std::vector<std::string>& stops)
      : StopStringMatcher(std::span<const std::string>(stops)) {}

  // Adds a decoded piece; returns the text that can be emitted now. After a stop: returns "".
  std::string_view feed(std::string_view piece);

  // End of generation: returns the held-back text (nothing if a stop string was found).
  std::string_view flush();

  bool stopped() const { return stop_index_ >= 0; }
  // Index into the stop list of the string that matched, or -1.
  int stop_index() const { return stop_index_; }
  // The stop string that matched ("" if none): for OpenAI's / vLLM's `stop_reason`.
  std::string_view stop_string() const;

  // Ready for a new generation with the same stop strings.
  void reset();

  // How many bytes are currently held back.
  size_t held_bytes() const { return held_.size(); }

 private:
  size_t safe_prefix_length() const;

  std::vector<std::string> stops_;
  size_t max_stop_length_ = 0;
  std::string held_;  // not yet emitted
  std::string out_;   // what the last call returned
  int stop_index_ = -1;
};

}  // namespace jisu
