#include "runtime/stop_strings.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {

namespace {

// Bytes a UTF-8 sequence starting with `lead` occupies; 1 for ASCII and for bytes that cannot
// start a sequence (those are passed through as they are).
size_t utf8_sequence_length(unsigned char lead) {
  if (lead >= 0xC0 && lead < 0xE0) return 2;
  if (lead >= 0xE0 && lead < 0xF0) return 3;
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  return 1;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::span<const std::string> stops) : stops_(stops.begin(), stops.end()) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty())
      throw Error("stop strings must not be empty (stop[" + std::to_string(i) + "] is)", "remove the empty entry");
    max_stop_length_ = std::max(max_stop_length_, stops_[i].size());
  }
  held_.reserve(std::max<size_t>(256, 2 * max_stop_length_));
  out_.reserve(256);
}

void StopStringMatcher::reset() {
  held_.clear();
  out_.clear();
  stop_index_ = -1;
}

std::string_view StopStringMatcher::stop_string() const {
  return stop_index_ >= 0 ? std::string_view(stops_[size_t(stop_index_)]) : std::string_view();
}

std::string_view StopStringMatcher::feed(std::string_view piece) {
  out_.clear();
  if (stopped()) return {};
  const size_t old_size = held_.size();
  held_.append(piece);
  const std::string_view text(held_);

  // The held text holds no complete stop string, so a match must end in the new piece. Scan its
  // end offsets in order: the first offset where a stop string ends wins (the longest one there).
  if (!stops_.empty()) {
    for (size_t end = old_size + 1; end <= text.size(); ++end) {
      const char last = text[end - 1];
      int best = -1;
      size_t best_length = 0;
      for (size_t i = 0; i < stops_.size(); ++i) {
        const std::string& stop = stops_[i];
        if (stop.size() > end || stop.size() <= best_length || stop.back() != last) continue;
        if (text.compare(end - stop.size(), stop.size(), stop) == 0) {
          best = int(i);
          best_length = stop.size();
        }
      }
      if (best >= 0) {
        out_.assign(text.data(), end - best_length);
        held_.clear();
        stop_index_ = best;
        return out_;
      }
    }
  }

  const size_t emit = safe_prefix_length();
  out_.assign(held_.data(), emit);
  held_.erase(0, emit);
  return out_;
}

// Length of the prefix of held_ that no future text can turn into (part of) a stop string, cut so
// that it does not end inside a UTF-8 sequence.
size_t StopStringMatcher::safe_prefix_length() const {
  const std::string_view text(held_);
  size_t emit = text.size();

  // Hold the longest suffix that is a proper prefix of some stop string.
  if (max_stop_length_ > 1) {
    for (size_t k = std::min(text.size(), max_stop_length_ - 1); k > 0; --k) {
      const std::string_view suffix = text.substr(text.size() - k);
      const bool is_prefix = std::any_of(stops_.begin(), stops_.end(), [&](const std::string& stop) {
        return stop.size() > k && std::string_view(stop).substr(0, k) == suffix;
      });
      if (is_prefix) {
        emit = text.size() - k;
        break;
      }
    }
  }

  // Do not end inside a UTF-8 sequence: find the lead byte of the last sequence.
  size_t continuation = 0;
  while (continuation < 3 && continuation < emit &&
         (static_cast<unsigned char>(text[emit - 1 - continuation]) & 0xC0) == 0x80)
    ++continuation;
  if (continuation < emit) {
    const size_t needed = utf8_sequence_length(static_cast<unsigned char>(text[emit - 1 - continuation]));
    if (needed > continuation + 1) emit -= continuation + 1;
  }
  return emit;
}

std::string_view StopStringMatcher::flush() {
  out_.clear();
  if (stopped()) return {};
  out_.swap(held_);
  held_.clear();
  return out_;
}

}  // namespace jisu
