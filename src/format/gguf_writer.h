#pragma once
// GGUF writer (versions 3 and 2; both little-endian, same layout). Collect metadata and
// tensors, then write() lays out the file the way ggml does:
//
//   header | metadata | tensor infos | pad to alignment | tensor 0 | pad | tensor 1 | pad | ...
//
// with every tensor offset a multiple of the alignment (`general.alignment` when set, else 32).
// The file is written atomically (core/atomic_file.h): a failure at any point, including an
// exception thrown by a tensor's fill callback, leaves no output and no temporary behind, and an
// existing file at the path keeps its old contents.
//
// Everything is validated when added, with a jisu::Error naming the key or tensor: value
// ranges for the integer type, array element kinds, duplicate tensor names, 1 to 4 non-zero
// dims, row length a multiple of the type's block size, general.alignment a uint32 power of two.
//
//   GgufWriter writer;
//   writer.set_string("general.architecture", "llama");
//   writer.set_uint32("llama.embedding_length", 256);
//   writer.set_string_array("tokenizer.ggml.tokens", tokens);
//   writer.add_tensor("token_embd.weight", DType::F32, {256, 512}, embeddings.data());
//   writer.add_tensor("output.weight", DType::Q8_0, {256, 512},
//                     [&](uint8_t* out, size_t bytes) { quantize_q8_0(source, out, bytes); });
//   writer.write("model.gguf");
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "format/gguf_file.h"

namespace jisu::gguf {

// Builders for metadata values (for set() and for nested arrays).
MetadataValue make_integer(ValueType type, int64_t value);   // integer types and BOOL
MetadataValue make_float(ValueType type, double value);      // FLOAT32 or FLOAT64
MetadataValue make_string(std::string value);
MetadataValue make_string_array(std::vector<std::string> values);
MetadataValue make_int_array(ValueType element_type, std::vector<int64_t> values);  // integer types or BOOL
MetadataValue make_float_array(ValueType element_type, std::vector<double> values);  // FLOAT32 or FLOAT64
MetadataValue make_array_of_arrays(std::vector<MetadataValue> arrays);               // each one an ARRAY

// Bytes of a tensor of `type` and `shape` (ggml order); jisu::Error if the shape is invalid
// for the type (0 or more than 4 dims, a zero dim, overflow, row not a multiple of the block).
uint64_t tensor_byte_size(DType type, const std::vector<uint64_t>& shape);

class GgufWriter {
 public:
  // Fills exactly `size` bytes of tensor data at `out` (the buffer starts zeroed). Called once
  // per write(), in the order the tensors were added; it may throw to abort the write.
  using TensorFiller = std::function<void(uint8_t* out, size_t size)>;

  explicit GgufWriter(uint32_t version = 3);  // 2 or 3

  uint32_t version() const { return version_; }
  void set_version(uint32_t version);

  // Metadata. Keys keep the order of their first set(); setting a key again replaces its value
  // in place.
  void set(std::string key, MetadataValue value);  // validated: type, ranges, array consistency
  void set_uint8(std::string key, uint8_t value) { set(std::move(key), make_integer(ValueType::UINT8, value)); }
  void set_int8(std::string key, int8_t value) { set(std::move(key), make_integer(ValueType::INT8, value)); }
  void set_uint16(std::string key, uint16_t value) { set(std::move(key), make_integer(ValueType::UINT16, value)); }
  void set_int16(std::string key, int16_t value) { set(std::move(key), make_integer(ValueType::INT16, value)); }
  void set_uint32(std::string key, uint32_t value) { set(std::move(key), make_integer(ValueType::UINT32, value)); }
  void set_int32(std::string key, int32_t value) { set(std::move(key), make_integer(ValueType::INT32, value)); }
  void set_uint64(std::string key, uint64_t value) {
    set(std::move(key), make_integer(ValueType::UINT64, static_cast<int64_t>(value)));
  }
  void set_int64(std::string key, int64_t value) { set(std::move(key), make_integer(ValueType::INT64, value)); }
  void set_float32(std::string key, float value) { set(std::move(key), make_float(ValueType::FLOAT32, value)); }
  void set_float64(std::string key, double value) { set(std::move(key), make_float(ValueType::FLOAT64, value)); }
  void set_bool(std::string key, bool value) { set(std::move(key), make_integer(ValueType::BOOL, value ? 1 : 0)); }
  void set_string(std::string key, std::string value) { set(std::move(key), make_string(std::move(value))); }
  void set_string_array(std::string key, std::vector<std::string> values) {
    set(std::move(key), make_string_array(std::move(values)));
  }
  void set_int_array(std::string key, ValueType element_type, std::vector<int64_t> values) {
    set(std::move(key), make_int_array(element_type, std::move(values)));
  }
  void set_float_array(std::string key, std::vector<double> values, ValueType element_type = ValueType::FLOAT32) {
    set(std::move(key), make_float_array(element_type, std::move(values)));
  }
  bool remove(std::string_view key);
  const MetadataValue* find(std::string_view key) const;
  const std::vector<std::pair<std::string, MetadataValue>>& metadata() const { return metadata_; }
  // Copies every metadata entry of `file` (in its order), replacing keys already set.
  void copy_metadata(const GgufFile& file);

  // Tensors, written in the order added. `data` must hold tensor_byte_size(type, shape) bytes
  // and stay valid until write() returns.
  void add_tensor(std::string name, DType type, std::vector<uint64_t> shape, const void* data);
  void add_tensor(std::string name, DType type, std::vector<uint64_t> shape, TensorFiller fill);
  size_t tensor_count() const { return tensors_.size(); }

  // The alignment write() will use: general.alignment if set, else 32.
  uint64_t alignment() const;

  // Writes the file atomically; jisu::Error on any failure (the filler's own exceptions pass
  // through unchanged). Can be called more than once.
  void write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<uint64_t> shape;
    uint64_t byte_size;
    const void* data;
    TensorFiller fill;
  };
  void add_tensor_impl(std::string name, DType type, std::vector<uint64_t> shape, const void* data,
                       TensorFiller fill);

  uint32_t version_ = 3;
  std::vector<std::pair<std::string, MetadataValue>> metadata_;
  std::vector<PendingTensor> tensors_;
  std::unordered_set<std::string> tensor_names_;
};

}  // namespace jisu::gguf
