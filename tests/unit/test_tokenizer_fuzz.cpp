// Random-input tests of every fixture vocabulary (fixed seeds, bounded iterations):
//   * random bytes (invalid UTF-8 included) and random Unicode text through encode(): never a
//     crash, every id inside the vocabulary;
//   * decode(encode(text)) == text for valid UTF-8 on the vocabularies that are lossless by
//     construction (byte-level BPE, SentencePiece with byte fallback);
//   * StreamingDetokenizer over random id streams: every piece is valid UTF-8, and the
//     concatenation equals decode() whenever decode() is valid UTF-8.
// Each test prints how many cases it ran.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>

#include "data/tokenizer/tokenizer_fixtures.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace jisu::test {
namespace {

struct FuzzVocabulary {
  std::string name;  // file name under fixtures/tokenizers
  bool lossless;     // decode(encode(s)) == s for every valid UTF-8 s
};

// Lossless: byte-level BPE maps every byte to a symbol; SentencePiece with byte fallback spells
// unknown characters as <0xNN>. Not lossless: WordPiece (lower-cases, strips accents, drops
// whitespace), SentencePiece vocabularies without byte tokens (baichuan maps unknown
// characters to <unk>), and falcon, whose byte-level vocabulary has no symbol for the control
// bytes 0x03-0x05, 0x0B, 0x11, 0x13-0x17, 0x19, 0x1C-0x1E (they cannot be encoded at all). The
// other byte-level vocabularies lack only bytes that never occur in UTF-8 text below U+40000.
const std::vector<FuzzVocabulary>& fuzz_vocabularies() {
  static const std::vector<FuzzVocabulary> list = {
      {"ggml-vocab-gpt-2.gguf", true},          {"ggml-vocab-falcon.gguf", false},
      {"ggml-vocab-mpt.gguf", true},            {"ggml-vocab-starcoder.gguf", true},
      {"ggml-vocab-refact.gguf", true},         {"ggml-vocab-deepseek-llm.gguf", true},
      {"ggml-vocab-deepseek-coder.gguf", true}, {"ggml-vocab-gpt-neox.gguf", true},
      {"ggml-vocab-llama-spm.gguf", true},      {"ggml-vocab-phi-3.gguf", true},
      {"ggml-vocab-baichuan.gguf", false},      {"ggml-vocab-bert-bge.gguf", false},
      {"llama2-tokenizer.model", true},
  };
  return list;
}

std::unique_ptr<Tokenizer> load(const std::string& file) { return Tokenizer::from_file(tokenizer_fixture(file)); }

std::string random_bytes(std::mt19937& rng, size_t max_length) {
  std::uniform_int_distribution<size_t> length(0, max_length);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(length(rng), '\0');
  for (char& c : out) c = static_cast<char>(byte(rng));
  return out;
}

// Valid UTF-8 drawn from the ranges tokenizers treat differently: ASCII letters, digits,
// punctuation and whitespace runs, Latin-1 and combining marks, CJK, Hangul, emoji (with ZWJ and
// skin tones), astral letters, and (when `special_texts`) text that spells special tokens.
std::string random_unicode(std::mt19937& rng, size_t max_units, bool special_texts = true) {
  static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E},     {0x30, 0x39},     {0x09, 0x0D},     {0xA0, 0xFF},       {0x300, 0x36F},
      {0x391, 0x3C9},   {0x410, 0x44F},   {0x5D0, 0x5EA},   {0x627, 0x64A},     {0x4E00, 0x9FFF},
      {0x3040, 0x30FF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1F6FF}, {0x1F3FB, 0x1F3FF}, {0x200B, 0x200D},
      {0x2000, 0x206F}, {0x1D400, 0x1D7FF}, {0x20000, 0x2A6DF}, {0xFFF0, 0xFFFD},
  };
  // The first kSpecialPieces pieces spell special tokens.
  static const char* const pieces[] = {"<s>", "</s>", "<|endoftext|>", "<unk>", "[CLS]", " ",    "  ",    "\n",
                                       "\n\n", "\t",  "'s",            "'ll",   " the",  "123456", "...", "\r\n"};
  constexpr size_t kSpecialPieces = 5;
  std::uniform_int_distribution<size_t> units(0, max_units);
  std::uniform_int_distribution<size_t> pick_range(0, ranges.size() - 1);
  std::uniform_int_distribution<size_t> pick_piece(special_texts ? 0 : kSpecialPieces, std::size(pieces) - 1);
  std::uniform_int_distribution<int> coin(0, 4);
  std::string out;
  for (size_t i = 0, n = units(rng); i < n; ++i) {
    if (coin(rng) == 0) {
      out += pieces[pick_piece(rng)];
      continue;
    }
    const auto [low, high] = ranges[pick_range(rng)];
    utf8::append(out, std::uniform_int_distribution<uint32_t>(low, high)(rng));
  }
  return out;
}

// encode() with and without special-token handling: every id inside the vocabulary, and
// decode() accepts the ids.
void check_encode(const Tokenizer& tokenizer, const std::string& input) {
  for (const bool special : {false, true}) {
    const std::vector<int32_t> ids = tokenizer.encode(input, special, special);
    for (int32_t id : ids)
      ASSERT_TRUE(id >= 0 && id < tokenizer.n_vocab())
          << "input '" << escaped(input) << "': id " << id << " outside [0, " << tokenizer.n_vocab() << ")";
    (void)tokenizer.decode(ids, special);
  }
}

// Runs `body(vocabulary, tokenizer, rng)` for every fixture vocabulary, each with a fresh
// generator seeded with `seed`.
template <typename Body>
void for_each_vocabulary(uint32_t seed, Body body) {
  for (const FuzzVocabulary& vocabulary : fuzz_vocabularies()) {
    SCOPED_TRACE(vocabulary.name);
    const std::unique_ptr<Tokenizer> tokenizer = load(vocabulary.name);
    std::mt19937 rng(seed);
    body(vocabulary, *tokenizer, rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(TokenizerFuzz, RandomBytesEncodeWithinVocabulary) {
  size_t cases = 0;
  for_each_vocabulary(1234, [&](const FuzzVocabulary&, const Tokenizer& tokenizer, std::mt19937& rng) {
    for (int i = 0; i < 150 && !HasFatalFailure(); ++i, ++cases) check_encode(tokenizer, random_bytes(rng, 64));
  });
  std::printf("tokenizer random-bytes cases: %zu (each encoded with and without special tokens)\n", cases);
}

TEST(TokenizerFuzz, RandomUnicodeRoundTripsOnLosslessVocabularies) {
  size_t cases = 0, round_trips = 0;
  for_each_vocabulary(5678, [&](const FuzzVocabulary& vocabulary, const Tokenizer& tokenizer, std::mt19937& rng) {
    for (int i = 0; i < 150 && !HasFatalFailure(); ++i, ++cases) {
      check_encode(tokenizer, random_unicode(rng, 24));
      if (!vocabulary.lossless) continue;
      // Round trips hold for plain text only: text spelling a user-defined token (phi-3's
      // "</s>") becomes that token even without parse_special, and the whitespace it strips
      // and the space prefix after it are lost -- as in llama.cpp.
      const std::string plain = random_unicode(rng, 24, /*special_texts=*/false);
      const std::vector<int32_t> ids = tokenizer.encode(plain, false, false);
      ++round_trips;
      ASSERT_EQ(tokenizer.decode(ids), plain) << "round trip of '" << escaped(plain) << "' via" << ids_to_string(ids);
    }
  });
  std::printf("tokenizer random-unicode cases: %zu (round trips checked: %zu)\n", cases, round_trips);
}

// Every vocabulary in the fixtures directory is fuzzed (a new one cannot be forgotten).
TEST(TokenizerFuzz, EveryFixtureVocabularyIsListed) {
  std::set<std::string> on_disk, listed;
  for (const auto& entry : std::filesystem::directory_iterator(tokenizer_fixture(""))) {
    const std::string file = entry.path().filename().string();
    if (file.ends_with(".gguf") || file.ends_with(".model")) on_disk.insert(file);
  }
  for (const FuzzVocabulary& vocabulary : fuzz_vocabularies()) listed.insert(vocabulary.name);
  EXPECT_EQ(on_disk, listed);
}

TEST(StreamingDetokenizerFuzz, RandomIdStreamsGiveValidUtf8MatchingDecode) {
  size_t streams = 0, compared = 0;
  for_each_vocabulary(91011, [&](const FuzzVocabulary&, const Tokenizer& tokenizer, std::mt19937& rng) {
    std::uniform_int_distribution<int32_t> any_id(0, tokenizer.n_vocab() - 1);
    std::uniform_int_distribution<int> length(0, 40);
    for (int i = 0; i < 120; ++i, ++streams) {
      // Half the streams mix in ids of the encoded random text, so whole words and multi-token
      // characters occur, not only unrelated ids.
      std::vector<int32_t> ids;
      if (i % 2 == 1) ids = tokenizer.encode(random_unicode(rng, 12), false, false);
      for (int n = length(rng); n > 0; --n)
        ids.insert(ids.begin() + std::uniform_int_distribution<size_t>(0, ids.size())(rng), any_id(rng));
      for (const bool skip_special : {true, false}) {
        StreamingDetokenizer stream(tokenizer, skip_special);
        std::string joined;
        for (int32_t id : ids) {
          const std::string piece = stream.push(id);
          ASSERT_TRUE(utf8::is_valid(piece)) << "piece of id " << id << ": '" << escaped(piece) << "'";
          joined += piece;
        }
        const std::string tail = stream.flush();
        ASSERT_TRUE(utf8::is_valid(tail)) << "flush: '" << escaped(tail) << "'";
        joined += tail;
        const std::string decoded = tokenizer.decode(ids, skip_special);
        if (utf8::is_valid(decoded)) {
          ++compared;
          ASSERT_EQ(joined, decoded) << "ids" << ids_to_string(ids);
        }
      }
    }
  });
  std::printf("streaming detokenizer streams: %zu (x2 skip_special; equal to decode checked: %zu)\n", streams, compared);
}

}  // namespace
}  // namespace jisu::test
