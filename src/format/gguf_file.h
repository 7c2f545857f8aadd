#pragma once
// GGUF (versions 2 and 3) reader. Everything is validated before use: magic, version, counts,
// string and array lengths, tensor dims (no overflow), types, offsets and sizes inside the
// file. Any problem is a jisu::Error naming the file, the offset or key, and the problem.
// Tensor data stays in the memory map; TensorInfo::data points into it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace jisu::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType type);

// One metadata value. Scalars: integer types and bool in `integer` (UINT64 values above
// INT64_MAX keep their bit pattern), floats in `number`, strings in `text`. Arrays: by element
// type, exactly one of `integers`, `numbers`, `strings` or `arrays` (nested) is filled.
struct MetadataValue {
  ValueType type = ValueType::UINT8;
  ValueType element_type = ValueType::UINT8;  // arrays only
  int64_t integer = 0;
  double number = 0;
  std::string text;
  std::vector<int64_t> integers;
  std::vector<double> numbers;
  std::vector<std::string> strings;
  std::vector<MetadataValue> arrays;

  bool is_array() const { return type == ValueType::ARRAY; }
  bool is_integer() const;  // integer types and bool
  bool is_float() const { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
  size_t array_size() const;
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<uint64_t> shape;  // ggml order: shape[0] is the innermost (contiguous) dimension
  uint64_t element_count = 0;
  uint64_t offset = 0;          // from the start of the data section
  uint64_t byte_size = 0;
  const uint8_t* data = nullptr;
  // `data` points into a read-only file mapping (not a heap copy): its pages may be dropped from
  // memory and fault back in from the file, so a backend that repacked them may release them.
  bool in_file_mapping = false;

  uint64_t rows() const { return element_count / shape[0]; }
  uint64_t row_bytes() const { return byte_size / rows(); }
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // A model description assembled in memory rather than read from one file (a Hugging Face
  // folder, models/hf_folder.h): the same metadata and tensor views a GGUF gives, so everything
  // downstream reads it the same way. Each tensor's `data` must stay valid as long as `owners`
  // (the mapped files and converted buffers it points into) live; `path` names the source.
  static std::unique_ptr<GgufFile> from_parts(std::string path, std::vector<std::pair<std::string, MetadataValue>> metadata,
                                              std::vector<TensorInfo> tensors,
                                              std::vector<std::shared_ptr<const void>> owners);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return file_size_; }  // from_parts: the bytes of all its tensors
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<std::pair<std::string, MetadataValue>>& metadata() const { return metadata_; }
  const MetadataValue* find(std::string_view key) const;
  // Typed getters: nullopt when the key is absent; jisu::Error when present with a wrong type.
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;   // integer types only
  std::optional<double> get_float(std::string_view key) const;  // float or integer types
  std::optional<bool> get_bool(std::string_view key) const;
  // Array getters: nullptr when absent; jisu::Error when not an array of that kind.
  const std::vector<std::string>* get_string_array(std::string_view key) const;
  const std::vector<int64_t>* get_int_array(std::string_view key) const;
  const std::vector<double>* get_float_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  void parse();

  std::unique_ptr<MappedFile> file_;
  std::vector<std::shared_ptr<const void>> owners_;  // from_parts only
  std::string path_;
  uint64_t file_size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, MetadataValue>> metadata_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace jisu::gguf
