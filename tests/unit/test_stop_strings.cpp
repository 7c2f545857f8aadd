#include "runtime/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/random.h"

namespace jisu::test {
// Defined in test_sampler.cpp (which replaces the global operator new).
void begin_counting_allocations();
long end_counting_allocations();
}  // namespace jisu::test

namespace jisu {
namespace {

// Feeds the pieces, returns everything emitted (feed outputs, then flush unless stopped).
std::string stream(StopStringMatcher& matcher, const std::vector<std::string>& pieces) {
  std::string emitted;
  for (const std::string& piece : pieces) {
    emitted += matcher.feed(piece);
    if (matcher.stopped()) return emitted;
  }
  emitted += matcher.flush();
  return emitted;
}

// The reference on the whole text: the first stop string to end wins, the longest among those
// ending at the same byte.
std::string reference(const std::string& text, const std::vector<std::string>& stops, int* which) {
  *which = -1;
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best_length = 0;
    for (size_t i = 0; i < stops.size(); ++i) {
      const std::string& stop = stops[i];
      if (stop.size() <= end && stop.size() > best_length && text.compare(end - stop.size(), stop.size(), stop) == 0) {
        *which = int(i);
        best_length = stop.size();
      }
    }
    if (*which >= 0) return text.substr(0, end - best_length);
  }
  return text;
}

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += length;
  }
  return true;
}

std::vector<std::string> bytes_of(const std::string& text) {
  std::vector<std::string> pieces;
  for (char c : text) pieces.emplace_back(1, c);
  return pieces;
}

TEST(StopStrings, StopSplitAcrossPieces) {
  StopStringMatcher matcher(std::vector<std::string>{"Hello"});
  EXPECT_EQ(matcher.feed("Hel"), "");
  EXPECT_EQ(matcher.held_bytes(), 3u);
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.feed("lo"), "");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.stop_index(), 0);
  EXPECT_EQ(matcher.stop_string(), "Hello");
  EXPECT_EQ(matcher.flush(), "");

  matcher.reset();
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.stop_string(), "");
  EXPECT_EQ(matcher.feed("Say Hel"), "Say ");
  EXPECT_EQ(matcher.feed("lo world"), "");  // neither the stop string nor what follows
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.feed("more"), "");  // ignored after the stop
  EXPECT_EQ(matcher.flush(), "");

  matcher.reset();
  EXPECT_EQ(stream(matcher, {"H", "e", "l", "l", "o"}), "");
  matcher.reset();
  EXPECT_EQ(stream(matcher, {"abc", "H", "ell", "o!", "xyz"}), "abc");
}

TEST(StopStrings, FalseStartsAreReleased) {
  StopStringMatcher matcher(std::vector<std::string>{"Hello"});
  EXPECT_EQ(matcher.feed("Hx"), "Hx");
  EXPECT_EQ(matcher.feed("He"), "");
  EXPECT_EQ(matcher.feed("y"), "Hey");
  EXPECT_EQ(matcher.feed("HHel"), "H");  // the second H may start the stop string
  EXPECT_EQ(matcher.feed("p"), "Help");
  EXPECT_EQ(matcher.feed("Hell"), "");
  EXPECT_EQ(matcher.flush(), "Hell");  // the end of generation releases the held text
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopStrings, MultipleStops) {
  const std::vector<std::string> stops = {"END", "STOP", "\n\n"};
  StopStringMatcher matcher(stops);
  EXPECT_EQ(matcher.feed("abc ST"), "abc ");
  EXPECT_EQ(matcher.feed("OP and END"), "");
  EXPECT_EQ(matcher.stop_index(), 1);
  EXPECT_EQ(matcher.stop_string(), "STOP");

  matcher.reset();
  EXPECT_EQ(matcher.feed("line\n"), "line");
  EXPECT_EQ(matcher.feed("\nnext"), "");
  EXPECT_EQ(matcher.stop_string(), "\n\n");

  matcher.reset();
  EXPECT_EQ(matcher.feed("ENSTEND"), "ENST");
  EXPECT_EQ(matcher.stop_index(), 0);
}

TEST(StopStrings, OverlappingPrefixes) {
  {
    // The first stop string to complete wins, whatever the piece boundaries.
    StopStringMatcher matcher(std::vector<std::string>{"abcde", "bcd"});
    EXPECT_EQ(matcher.feed("abcdef"), "a");
    EXPECT_EQ(matcher.stop_string(), "bcd");
    matcher.reset();
    EXPECT_EQ(stream(matcher, bytes_of("abcdef")), "a");
  }
  {
    // A shorter stop completes first.
    StopStringMatcher matcher(std::vector<std::string>{"abc", "ab"});
    EXPECT_EQ(matcher.feed("xabc"), "x");
    EXPECT_EQ(matcher.stop_string(), "ab");
  }
  {
    // Stops ending at the same byte: the longest (less text is emitted).
    StopStringMatcher matcher(std::vector<std::string>{"cd", "bcd"});
    EXPECT_EQ(matcher.feed("abcd"), "a");
    EXPECT_EQ(matcher.stop_index(), 1);
  }
  {
    // Self-overlapping stop strings: the held tail must be the longest possible start.
    StopStringMatcher matcher(std::vector<std::string>{"aab"});
    EXPECT_EQ(matcher.feed("a"), "");
    EXPECT_EQ(matcher.feed("a"), "");
    EXPECT_EQ(matcher.feed("a"), "a");
    EXPECT_EQ(matcher.feed("b"), "");
    EXPECT_TRUE(matcher.stopped());
  }
  {
    StopStringMatcher matcher(std::vector<std::string>{"abab"});
    EXPECT_EQ(matcher.feed("aba"), "");
    EXPECT_EQ(matcher.feed("bab"), "");
    EXPECT_TRUE(matcher.stopped());
    matcher.reset();
    EXPECT_EQ(matcher.feed("ababa"), "");
    EXPECT_TRUE(matcher.stopped());
    matcher.reset();
    EXPECT_EQ(matcher.feed("abac"), "abac");
  }
  {
    StopStringMatcher matcher(std::vector<std::string>{"abc"});
    EXPECT_EQ(matcher.feed("ab"), "");
    EXPECT_EQ(matcher.feed("abc"), "ab");
    EXPECT_TRUE(matcher.stopped());
  }
}

TEST(StopStrings, Unicode) {
  {
    // A multi-byte stop string fed one byte at a time: nothing is emitted mid-character.
    StopStringMatcher matcher(std::vector<std::string>{"。"});
    std::string emitted;
    for (const std::string& byte : bytes_of("你好。再见")) {
      const std::string_view out = matcher.feed(byte);
      EXPECT_TRUE(valid_utf8(out));
      emitted += out;
      if (matcher.stopped()) break;
    }
    EXPECT_TRUE(matcher.stopped());
    EXPECT_EQ(emitted, "你好");
  }
  {
    StopStringMatcher matcher(std::vector<std::string>{"🛑", "終わり"});
    EXPECT_EQ(matcher.feed("Ça va \xF0\x9F"), "Ça va ");
    EXPECT_EQ(matcher.feed("\x98\x80 ok 終"), "😀 ok ");  // a different emoji with the same first bytes
    EXPECT_EQ(matcher.feed("わ"), "");
    EXPECT_EQ(matcher.feed("り"), "");
    EXPECT_EQ(matcher.stop_string(), "終わり");
  }
  {
    // Same lead byte, different character.
    StopStringMatcher matcher(std::vector<std::string>{"é"});
    EXPECT_EQ(matcher.feed("\xC3"), "");
    EXPECT_EQ(matcher.feed("\xA8!"), "è!");
    EXPECT_EQ(matcher.feed("caf\xC3"), "caf");
    EXPECT_EQ(matcher.feed("\xA9"), "");
    EXPECT_TRUE(matcher.stopped());
  }
  {
    // Without stop strings, text passes through, but a split character is held until complete.
    StopStringMatcher matcher(std::vector<std::string>{});
    EXPECT_EQ(matcher.feed("caf\xC3"), "caf");
    EXPECT_EQ(matcher.feed("\xA9 \xE2\x82"), "é ");
    EXPECT_EQ(matcher.feed("\xAC"), "€");
    EXPECT_EQ(matcher.feed("\xF0\x9F\x98"), "");
    EXPECT_EQ(matcher.flush(), "\xF0\x9F\x98");  // the end releases even an incomplete character
    EXPECT_EQ(matcher.feed("plain"), "plain");
    EXPECT_EQ(matcher.feed("\x80x"), "\x80x");  // invalid bytes are not held forever
  }
}

TEST(StopStrings, AnySplitGivesTheWholeTextResult) {
  const std::vector<std::string> stops = {"ab", "bca", "cc", "abcab", "é"};
  Rng rng(11);
  const std::string alphabet[] = {"a", "b", "c", "d", "é"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const size_t length = size_t(rng.next() % 12);
    for (size_t i = 0; i < length; ++i) text += alphabet[rng.next() % 5];
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t size = std::min<size_t>(text.size() - i, rng.next() % 4);
      pieces.push_back(text.substr(i, size));  // empty pieces included
      i += size;
    }
    int which = -1;
    const std::string expected = reference(text, stops, &which);
    StopStringMatcher matcher(stops);
    ASSERT_EQ(stream(matcher, pieces), expected) << "text '" << text << "'";
    ASSERT_EQ(matcher.stop_index(), which) << "text '" << text << "'";
  }
}

TEST(StopStrings, EmptyStopStringThrows) {
  EXPECT_THROW(StopStringMatcher(std::vector<std::string>{"ok", ""}), Error);
}

TEST(StopStrings, SteadyStateFeedDoesNotAllocate) {
  StopStringMatcher matcher(std::vector<std::string>{"</s>", "<|im_end|>", "\n\nUser:"});
  const std::vector<std::string> pieces = {"Hello", " world", ",", " <", "|", "im", "_st", "art", "|>", "\n", "\nU",
                                           "ser", " é", "\xC3", "\xA9", " the", " end", "</", "p>"};
  std::string sink;
  sink.reserve(4096);
  for (const std::string& piece : pieces) sink += matcher.feed(piece);  // warm-up
  test::begin_counting_allocations();
  for (int round = 0; round < 100; ++round) {
    for (const std::string& piece : pieces) {
      const std::string_view out = matcher.feed(piece);
      if (sink.size() + out.size() < sink.capacity()) sink += out;
    }
  }
  sink += matcher.flush();
  const long allocations = test::end_counting_allocations();
  EXPECT_EQ(allocations, 0);
  EXPECT_FALSE(matcher.stopped());
}

}  // namespace
}  // namespace jisu
