#include "tokenizer/protobuf_reader.h"

#include <cstring>

#include "core/error.h"

namespace jisu {

float ProtobufField::as_float() const {
  const auto bits = static_cast<uint32_t>(fixed);
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

void ProtobufReader::fail(const std::string& problem) const {
  throw Error(source_ + ": malformed protobuf at byte " + std::to_string(pos_) + ": " + problem,
              "the file is truncated or is not a SentencePiece model");
}

uint64_t ProtobufReader::read_varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) fail("truncated varint");
    const auto byte = static_cast<uint8_t>(data_[pos_++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  fail("varint longer than 10 bytes");
}

bool ProtobufReader::next(ProtobufField& field) {
  if (pos_ >= data_.size()) return false;
  const uint64_t tag = read_varint();
  field = ProtobufField{};
  field.number = static_cast<uint32_t>(tag >> 3);
  field.wire_type = static_cast<uint32_t>(tag & 7);
  auto read_fixed = [&](size_t size) {
    if (data_.size() - pos_ < size) fail("truncated fixed-size field");
    uint64_t value = 0;
    for (size_t i = 0; i < size; ++i) value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += size;
    return value;
  };
  switch (field.wire_type) {
    case 0:
      field.varint = read_varint();
      break;
    case 1:
      field.fixed = read_fixed(8);
      break;
    case 5:
      field.fixed = read_fixed(4);
      break;
    case 2: {
      const uint64_t length = read_varint();
      if (length > data_.size() - pos_) fail("length-delimited field runs past the end");
      field.bytes = data_.substr(pos_, static_cast<size_t>(length));
      pos_ += static_cast<size_t>(length);
      break;
    }
    default:
      fail("unsupported wire type " + std::to_string(field.wire_type));
  }
  if (field.number == 0) fail("field number 0");
  return true;
}

}  // namespace jisu
