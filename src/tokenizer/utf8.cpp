#include "tokenizer/utf8.h"

namespace jisu::utf8 {
namespace {

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The valid range of the second byte depends on the lead byte (RFC 3629 table): this is what
// excludes overlong forms, surrogates and code points above U+10FFFF.
bool second_byte_ok(uint8_t lead, uint8_t second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return is_continuation(second);
  }
}

}  // namespace

size_t lead_length(uint8_t lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

DecodedChar decode(std::string_view text, size_t pos) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t lead = bytes[pos];
  if (lead < 0x80) return {lead, 1, true};
  const size_t length = lead_length(lead);
  if (length == 1 || pos + length > text.size() || !second_byte_ok(lead, bytes[pos + 1]))
    return {kReplacementCharacter, 1, false};
  uint32_t code_point = lead & (0xFF >> (length + 1));
  for (size_t i = 1; i < length; ++i) {
    if (!is_continuation(bytes[pos + i])) return {kReplacementCharacter, 1, false};
    code_point = (code_point << 6) | (bytes[pos + i] & 0x3F);
  }
  return {code_point, static_cast<uint32_t>(length), true};
}

void append(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::string encode(uint32_t code_point) {
  std::string out;
  append(out, code_point);
  return out;
}

bool is_valid(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const DecodedChar c = decode(text, pos);
    if (!c.valid) return false;
    pos += c.length;
  }
  return true;
}

size_t incomplete_suffix_length(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  // A held-back prefix is at most 3 bytes: find its lead byte among the last three.
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const size_t start = text.size() - back;
    const uint8_t lead = bytes[start];
    if (is_continuation(lead)) continue;
    const size_t length = lead_length(lead);
    if (length <= back) return 0;  // complete (or not a lead byte at all)
    if (back >= 2 && !second_byte_ok(lead, bytes[start + 1])) return 0;
    for (size_t i = 2; i < back; ++i)
      if (!is_continuation(bytes[start + i])) return 0;
    return back;
  }
  return 0;
}

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const DecodedChar c = decode(text, pos);
    if (c.valid)
      out.append(text.substr(pos, c.length));
    else
      append(out, kReplacementCharacter);
    pos += c.length;
  }
  return out;
}

}  // namespace jisu::utf8
