#pragma once
// Strict UTF-8 helpers shared by the tokenizers. "Valid" means RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF. Tokenizers never reject input: a byte that does not start
// a valid sequence is treated as a one-byte unit of its own (see decode()).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jisu::utf8 {

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

struct DecodedChar {
  uint32_t code_point;  // kReplacementCharacter when !valid
  uint32_t length;      // bytes consumed: 1..4, always >= 1 so loops make progress
  bool valid;
};

// Decodes the character at text[pos] (pos < text.size()). An invalid or truncated sequence
// yields {U+FFFD, 1, false}: exactly one byte is consumed, so the caller can keep that byte.
DecodedChar decode(std::string_view text, size_t pos);

// Number of bytes a lead byte announces (1 for ASCII and for bytes that cannot lead).
size_t lead_length(uint8_t lead);

void append(std::string& out, uint32_t code_point);
std::string encode(uint32_t code_point);

bool is_valid(std::string_view text);

// Length of the longest suffix of `text` that is a proper prefix of some valid multi-byte
// sequence (0..3): the bytes a streaming decoder must hold back until more arrive.
size_t incomplete_suffix_length(std::string_view text);

// Replaces every byte that is not part of a valid sequence with U+FFFD.
std::string sanitize(std::string_view text);

}  // namespace jisu::utf8
