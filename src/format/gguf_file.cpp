#include "format/gguf_file.h"

#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;           // ggml tensors have at most 4 dimensions
constexpr int kMaxArrayNesting = 8;        // deeper nesting is hostile, not a real model
constexpr uint64_t kMaxNameLength = 65535;  // ggml limits tensor names far below this
// Counts are only bounded by the bytes left in the file, which for a multi-GB model includes all
// the tensor data, and one parsed element takes far more memory than its encoding (an int64
// for a uint8, a MetadataValue for a 12-byte nested array). So nothing is allocated up front
// for more than this many elements; beyond it, containers grow only as elements are read.
constexpr uint64_t kMaxReserve = 1 << 16;

uint64_t capped(uint64_t count) { return count < kMaxReserve ? count : kMaxReserve; }

// Bounds-checked little-endian reads from the mapped file. Every read checks the remaining
// size first, so a truncated or lying file becomes an Error naming what was being read.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return size_ - offset_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("invalid GGUF file '" + path_ + "': " + what + " (at byte " + std::to_string(offset_) + ")");
  }

  void need(uint64_t bytes, const char* what) const {
    if (bytes > remaining())
      throw Error("invalid GGUF file '" + path_ + "': truncated while reading " + what + " (needs " +
                      std::to_string(bytes) + " bytes at byte " + std::to_string(offset_) + ", file has " +
                      std::to_string(size_) + ")",
                  "the file is incomplete; download or convert it again");
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::string read_string(const char* what) {
    const uint64_t length = read<uint64_t>(what);
    need(length, what);
    std::string value(reinterpret_cast<const char*>(data_ + offset_), length);
    offset_ += length;
    return value;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t offset_ = 0;
  const std::string& path_;
};

uint64_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;  // at least the length prefix
    case ValueType::ARRAY: return 12;  // at least element type + count
  }
  return 0;
}

bool known_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::FLOAT64); }

MetadataValue read_value(Cursor& cursor, ValueType type, int depth);

void read_scalar_into(Cursor& cursor, ValueType type, int64_t& integer, double& number) {
  switch (type) {
    case ValueType::UINT8: integer = cursor.read<uint8_t>("uint8 value"); break;
    case ValueType::INT8: integer = cursor.read<int8_t>("int8 value"); break;
    case ValueType::UINT16: integer = cursor.read<uint16_t>("uint16 value"); break;
    case ValueType::INT16: integer = cursor.read<int16_t>("int16 value"); break;
    case ValueType::UINT32: integer = cursor.read<uint32_t>("uint32 value"); break;
    case ValueType::INT32: integer = cursor.read<int32_t>("int32 value"); break;
    case ValueType::UINT64: integer = static_cast<int64_t>(cursor.read<uint64_t>("uint64 value")); break;
    case ValueType::INT64: integer = cursor.read<int64_t>("int64 value"); break;
    case ValueType::FLOAT32: number = cursor.read<float>("float32 value"); break;
    case ValueType::FLOAT64: number = cursor.read<double>("float64 value"); break;
    case ValueType::BOOL: {
      const uint8_t raw = cursor.read<uint8_t>("bool value");
      if (raw > 1) cursor.fail("bool value " + std::to_string(raw) + " is neither 0 nor 1");
      integer = raw;
      break;
    }
    default: cursor.fail("internal: not a scalar type");
  }
}

MetadataValue read_array(Cursor& cursor, int depth) {
  if (depth >= kMaxArrayNesting) cursor.fail("arrays nested deeper than " + std::to_string(kMaxArrayNesting));
  MetadataValue value;
  value.type = ValueType::ARRAY;
  const uint32_t raw_type = cursor.read<uint32_t>("array element type");
  if (!known_value_type(raw_type)) cursor.fail("unknown array element type " + std::to_string(raw_type));
  value.element_type = static_cast<ValueType>(raw_type);
  const uint64_t count = cursor.read<uint64_t>("array length");
  // Every element needs at least scalar_size bytes: a count the file cannot hold is rejected
  // before anything is allocated for it.
  if (count > cursor.remaining() / scalar_size(value.element_type))
    cursor.fail("array of " + std::to_string(count) + " elements does not fit in the file");
  switch (value.element_type) {
    case ValueType::STRING:
      value.strings.reserve(capped(count));
      for (uint64_t i = 0; i < count; ++i) value.strings.push_back(cursor.read_string("array string"));
      break;
    case ValueType::ARRAY:
      value.arrays.reserve(capped(count));
      for (uint64_t i = 0; i < count; ++i) value.arrays.push_back(read_array(cursor, depth + 1));
      break;
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      value.numbers.reserve(capped(count));
      for (uint64_t i = 0; i < count; ++i) {
        int64_t unused = 0;
        double number = 0;
        read_scalar_into(cursor, value.element_type, unused, number);
        value.numbers.push_back(number);
      }
      break;
    default:
      value.integers.reserve(capped(count));
      for (uint64_t i = 0; i < count; ++i) {
        int64_t integer = 0;
        double unused = 0;
        read_scalar_into(cursor, value.element_type, integer, unused);
        value.integers.push_back(integer);
      }
  }
  return value;
}

MetadataValue read_value(Cursor& cursor, ValueType type, int depth) {
  if (type == ValueType::ARRAY) return read_array(cursor, depth);
  MetadataValue value;
  value.type = type;
  if (type == ValueType::STRING) value.text = cursor.read_string("string value");
  else read_scalar_into(cursor, type, value.integer, value.number);
  return value;
}

// A key or tensor name from the file as it appears in an error message: errors are one line
// (core/error.h), but a corrupted name can hold newlines, control bytes or 64 KiB of text.
std::string printable(std::string_view name) {
  static constexpr size_t kLimit = 120;
  std::string out;
  for (const char c : name.substr(0, kLimit)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 15];
    } else {
      out += c;
    }
  }
  if (name.size() > kLimit) out += "...";
  return out;
}

std::string describe_shape(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  static constexpr std::string_view names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                               "bool", "string", "array", "uint64", "int64", "float64"};
  const auto index = static_cast<uint32_t>(type);
  return index < std::size(names) ? names[index] : "unknown";
}

bool MetadataValue::is_integer() const {
  return !is_array() && type != ValueType::STRING && !is_float();
}

size_t MetadataValue::array_size() const {
  return integers.size() + numbers.size() + strings.size() + arrays.size();
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->file_ = std::make_unique<MappedFile>(path);
  file->path_ = path;
  file->file_size_ = file->file_->size();
  file->parse();
  return file;
}

std::unique_ptr<GgufFile> GgufFile::from_parts(std::string path, std::vector<std::pair<std::string, MetadataValue>> metadata,
                                               std::vector<TensorInfo> tensors,
                                               std::vector<std::shared_ptr<const void>> owners) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(path);
  file->version_ = 3;
  file->metadata_ = std::move(metadata);
  file->tensors_ = std::move(tensors);
  file->owners_ = std::move(owners);
  for (const TensorInfo& tensor : file->tensors_) file->file_size_ += tensor.byte_size;
  return file;
}

void GgufFile::parse() {
  const std::string& file_path = file_->path();
  Cursor cursor(file_->data(), file_->size(), file_path);

  const uint32_t magic = cursor.read<uint32_t>("magic");
  if (std::memcmp(&magic, "GGUF", 4) != 0)
    throw Error("'" + file_path + "' is not a GGUF file (bad magic)", "jisu reads GGUF model files");
  version_ = cursor.read<uint32_t>("version");
  if (version_ == 0x02000000 || version_ == 0x03000000)
    throw Error("'" + file_path + "' is a big-endian GGUF file (version " + std::to_string(version_ >> 24) +
                    "), only little-endian files are supported",
                "convert it again without --bigendian");
  if (version_ != 2 && version_ != 3)
    throw Error("'" + file_path + "' is GGUF version " + std::to_string(version_) + ", only versions 2 and 3 are supported",
                version_ == 1 ? "convert it again with a current llama.cpp" : "");
  const uint64_t tensor_count = cursor.read<uint64_t>("tensor count");
  const uint64_t metadata_count = cursor.read<uint64_t>("metadata count");
  // Minimum encoded sizes: a metadata entry is key length (8) + type (4) + 1 byte of value;
  // a tensor entry is name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
  if (metadata_count > cursor.remaining() / 13)
    cursor.fail("metadata count " + std::to_string(metadata_count) + " does not fit in the file");
  if (tensor_count > cursor.remaining() / 32)
    cursor.fail("tensor count " + std::to_string(tensor_count) + " does not fit in the file");

  std::unordered_set<std::string> seen_keys;
  metadata_.reserve(capped(metadata_count));
  for (uint64_t i = 0; i < metadata_count; ++i) {
    std::string key = cursor.read_string("metadata key");
    if (!seen_keys.insert(key).second) cursor.fail("duplicate metadata key '" + printable(key) + "'");
    const uint32_t raw_type = cursor.read<uint32_t>("metadata value type");
    if (!known_value_type(raw_type))
      cursor.fail("metadata key '" + printable(key) + "' has unknown value type " + std::to_string(raw_type));
    MetadataValue value = read_value(cursor, static_cast<ValueType>(raw_type), 0);
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const MetadataValue* alignment = find("general.alignment")) {
    if (alignment->type != ValueType::UINT32)
      throw Error("invalid GGUF file '" + file_path + "': general.alignment must be uint32");
    const auto value = static_cast<uint64_t>(alignment->integer);
    if (value == 0 || (value & (value - 1)) != 0)
      throw Error("invalid GGUF file '" + file_path + "': general.alignment " + std::to_string(value) +
                  " is not a power of two");
    alignment_ = value;
  }

  std::unordered_set<std::string> seen_names;
  tensors_.reserve(capped(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo tensor;
    tensor.name = cursor.read_string("tensor name");
    if (tensor.name.size() > kMaxNameLength) cursor.fail("tensor name longer than 65535 bytes");
    if (!seen_names.insert(tensor.name).second) cursor.fail("duplicate tensor '" + printable(tensor.name) + "'");
    const uint32_t n_dims = cursor.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      cursor.fail("tensor '" + printable(tensor.name) + "' has " + std::to_string(n_dims) +
                  " dimensions (1 to 4 allowed)");
    tensor.element_count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = cursor.read<uint64_t>("tensor dimension");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / tensor.element_count)
        cursor.fail("tensor '" + printable(tensor.name) + "' has an impossible dimension " + std::to_string(dim));
      tensor.shape.push_back(dim);
      tensor.element_count *= dim;
    }
    const uint32_t raw_type = cursor.read<uint32_t>("tensor type");
    const auto traits = dtype_traits(raw_type);
    if (const int version = retired_jisu_sparse_version(raw_type); !traits && version != 0)
      cursor.fail("tensor '" + printable(tensor.name) + "' " + retired_sparse_type_message(version) +
                  ": prune the original model again with this jisu");
    if (!traits)
      cursor.fail("tensor '" + printable(tensor.name) + "' has unknown type id " + std::to_string(raw_type));
    tensor.type = traits->type;
    if (tensor.shape[0] % traits->block_elements != 0)
      cursor.fail("tensor '" + printable(tensor.name) + "' of type " + std::string(traits->name) + " has row length " +
                  std::to_string(tensor.shape[0]) + ", not a multiple of its block size " +
                  std::to_string(traits->block_elements));
    // element_count < 2^63 and block_bytes <= 292, so this cannot overflow 64 bits... unless
    // element_count is huge; divide first, then check the multiplication.
    const uint64_t blocks = tensor.element_count / traits->block_elements;
    if (blocks > std::numeric_limits<uint64_t>::max() / traits->block_bytes)
      cursor.fail("tensor '" + printable(tensor.name) + "' is too large");
    tensor.byte_size = blocks * traits->block_bytes;
    tensor.offset = cursor.read<uint64_t>("tensor offset");
    if (tensor.offset % alignment_ != 0)
      cursor.fail("tensor '" + printable(tensor.name) + "' offset " + std::to_string(tensor.offset) +
                  " is not aligned to " + std::to_string(alignment_));
    tensors_.push_back(std::move(tensor));
  }

  data_offset_ = (cursor.offset() + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t size = file_->size();
  for (TensorInfo& tensor : tensors_) {
    const bool inside = data_offset_ <= size && tensor.offset <= size - data_offset_ &&
                        tensor.byte_size <= size - data_offset_ - tensor.offset;
    if (!inside)
      throw Error("invalid GGUF file '" + file_path + "': tensor '" + printable(tensor.name) + "' " +
                      describe_shape(tensor.shape) + " (" + std::to_string(tensor.byte_size) +
                      " bytes at data offset " + std::to_string(tensor.offset) +
                      ") extends past the end of the file (" + std::to_string(size) + " bytes)",
                  "the file is truncated or corrupted");
    tensor.data = file_->data() + data_offset_ + tensor.offset;
    tensor.in_file_mapping = true;
  }
}

const MetadataValue* GgufFile::find(std::string_view key) const {
  for (const auto& [name, value] : metadata_)
    if (name == key) return &value;
  return nullptr;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const MetadataValue& value, const char* wanted) {
  throw Error("invalid GGUF file '" + path + "': metadata '" + printable(key) + "' is " +
              std::string(value_type_name(value.type)) + ", expected " + wanted);
}
}  // namespace

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return std::nullopt;
  if (value->type != ValueType::STRING) wrong_type(path(), key, *value, "string");
  return value->text;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_integer()) wrong_type(path(), key, *value, "an integer");
  return value->integer;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return std::nullopt;
  if (value->is_float()) return value->number;
  if (value->is_integer()) return static_cast<double>(value->integer);
  wrong_type(path(), key, *value, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_integer()) wrong_type(path(), key, *value, "bool");
  return value->integer != 0;
}

const std::vector<std::string>* GgufFile::get_string_array(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return nullptr;
  if (!value->is_array() || value->element_type != ValueType::STRING) wrong_type(path(), key, *value, "array of strings");
  return &value->strings;
}

const std::vector<int64_t>* GgufFile::get_int_array(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return nullptr;
  const bool integers = value->is_array() && value->element_type != ValueType::STRING &&
                        value->element_type != ValueType::ARRAY && value->element_type != ValueType::FLOAT32 &&
                        value->element_type != ValueType::FLOAT64;
  if (!integers) wrong_type(path(), key, *value, "array of integers");
  return &value->integers;
}

const std::vector<double>* GgufFile::get_float_array(std::string_view key) const {
  const MetadataValue* value = find(key);
  if (!value) return nullptr;
  const bool floats = value->is_array() &&
                      (value->element_type == ValueType::FLOAT32 || value->element_type == ValueType::FLOAT64);
  if (!floats) wrong_type(path(), key, *value, "array of floats");
  return &value->numbers;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const TensorInfo& tensor : tensors_)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

}  // namespace jisu::gguf
