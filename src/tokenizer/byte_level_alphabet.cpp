#include "tokenizer/byte_level_alphabet.h"

#include "tokenizer/utf8.h"

namespace jisu::byte_level {
namespace {

bool maps_to_itself(uint32_t byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

// 188 bytes map to themselves, so the stand-ins end at U+0100 + 68.
constexpr uint32_t kAlphabetEnd = 256 + 68;

struct Alphabet {
  std::array<uint32_t, 256> code_points{};
  std::array<std::string, 256> spellings;
  std::array<int16_t, kAlphabetEnd> bytes{};  // -1: not a stand-in
  Alphabet() {
    bytes.fill(-1);
    uint32_t next = 256;
    for (uint32_t byte = 0; byte < 256; ++byte) {
      code_points[byte] = maps_to_itself(byte) ? byte : next++;
      spellings[byte] = utf8::encode(code_points[byte]);
      bytes[code_points[byte]] = static_cast<int16_t>(byte);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet instance;
  return instance;
}

}  // namespace

uint32_t code_point_for_byte(uint8_t byte) { return alphabet().code_points[byte]; }

std::optional<uint8_t> byte_for_code_point(uint32_t code_point) {
  if (code_point >= kAlphabetEnd) return std::nullopt;
  const int16_t byte = alphabet().bytes[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

std::string encode(std::string_view bytes) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += a.spellings[static_cast<uint8_t>(c)];
  return out;
}

std::string decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::DecodedChar c = utf8::decode(text, pos);
    const std::optional<uint8_t> byte = c.valid ? byte_for_code_point(c.code_point) : std::nullopt;
    if (byte)
      out += static_cast<char>(*byte);
    else
      out.append(text.substr(pos, c.length));
    pos += c.length;
  }
  return out;
}

}  // namespace jisu::byte_level
