#pragma once
// GPT-2's byte-level alphabet: every byte value has a printable stand-in code point, so byte
// sequences (including invalid UTF-8) can be spelled with vocabulary strings. Printable Latin-1
// bytes map to themselves; the 68 others map to U+0100.. in byte order (space -> 'Ġ', '\n' -> 'Ċ').
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jisu::byte_level {

uint32_t code_point_for_byte(uint8_t byte);
// The byte a stand-in code point represents; nullopt for code points outside the alphabet.
std::optional<uint8_t> byte_for_code_point(uint32_t code_point);

// The vocabulary spelling of raw bytes ("hi there" -> "hiĠthere").
std::string encode(std::string_view bytes);
// Raw bytes of a vocabulary string. Code points outside the alphabet are kept as UTF-8.
std::string decode(std::string_view text);

}  // namespace jisu::byte_level
