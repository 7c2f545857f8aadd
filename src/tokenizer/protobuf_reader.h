#pragma once
// A minimal protocol-buffers wire-format reader: enough to walk the fields of a message without
// generated code. Malformed input (truncated varints or lengths, unknown wire types) throws
// jisu::Error naming `source`.
#include <cstdint>
#include <string>
#include <string_view>

namespace jisu {

struct ProtobufField {
  uint32_t number = 0;
  uint32_t wire_type = 0;  // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;     // wire type 0
  uint64_t fixed = 0;      // wire types 1 and 5 (little-endian value)
  std::string_view bytes;  // wire type 2: the payload (a string or an embedded message)

  float as_float() const;  // fixed32 reinterpreted as IEEE float
  int64_t as_int() const { return static_cast<int64_t>(varint); }  // int32/int64 fields (negative sign-extended)
};

class ProtobufReader {
 public:
  ProtobufReader(std::string_view data, const std::string& source) : data_(data), source_(source) {}
  // Reads the next field into `field`; false at the end of the message.
  bool next(ProtobufField& field);

 private:
  uint64_t read_varint();
  [[noreturn]] void fail(const std::string& problem) const;

  std::string_view data_;
  size_t pos_ = 0;
  const std::string& source_;
};

}  // namespace jisu
