#pragma once
// One error type for everything that can go wrong with user input (files, flags, requests).
// The message is one line naming the problem; the hint, when present, says what to do about it.
// Invariant: internal bugs use JISU_ASSERT (abort), never this type.
#include <stdexcept>
#include <string>

namespace jisu {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }
  // "message (hint: ...)" on one line, for CLI output and HTTP error bodies.
  std::string one_line() const {
    return hint_.empty() ? std::string(what()) : std::string(what()) + " (hint: " + hint_ + ")";
  }

 private:
  std::string hint_;
};

}  // namespace jisu

#define JISU_ASSERT(condition)                                                          \
  do {                                                                                  \
    if (!(condition)) ::jisu::detail::assertion_failed(#condition, __FILE__, __LINE__); \
  } while (0)

namespace jisu::detail {
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);
}
