#include "format/gguf_writer.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"

namespace jisu::gguf {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayNesting = 8;       // the reader rejects deeper nesting
constexpr size_t kMaxKeyLength = 65535;
constexpr size_t kMaxTensorName = 63;     // GGML_MAX_NAME (64) including the terminating NUL
constexpr uint64_t kDefaultAlignment = 32;

bool known_type(ValueType type) { return static_cast<uint32_t>(type) <= static_cast<uint32_t>(ValueType::FLOAT64); }

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
    case ValueType::BOOL:
      return true;
    default:
      return false;
  }
}

bool is_float_type(ValueType type) { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }

std::string type_name(ValueType type) {
  return known_type(type) ? std::string(value_type_name(type)) : "type " + std::to_string(static_cast<uint32_t>(type));
}

// Range of the integer types as MetadataValue stores them (UINT64 keeps its bit pattern, so
// every int64 is a valid UINT64).
template <typename T>  // T: an integer type of at most 32 bits
bool in_range(int64_t value) {
  static_assert(sizeof(T) <= 4);
  return value >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
         value <= static_cast<int64_t>(std::numeric_limits<T>::max());
}

bool integer_fits(ValueType type, int64_t value) {
  switch (type) {
    case ValueType::UINT8: return in_range<uint8_t>(value);
    case ValueType::INT8: return in_range<int8_t>(value);
    case ValueType::UINT16: return in_range<uint16_t>(value);
    case ValueType::INT16: return in_range<int16_t>(value);
    case ValueType::UINT32: return in_range<uint32_t>(value);
    case ValueType::INT32: return in_range<int32_t>(value);
    case ValueType::BOOL: return value == 0 || value == 1;
    case ValueType::UINT64: case ValueType::INT64: return true;
    default: return false;
  }
}

bool float_fits(ValueType type, double value) {
  // Converting a finite double beyond float's range to float is undefined behaviour.
  return type == ValueType::FLOAT64 || !std::isfinite(value) ||
         std::fabs(value) <= static_cast<double>(std::numeric_limits<float>::max());
}

void validate_value(const std::string& key, const MetadataValue& value, int depth) {
  auto fail = [&](const std::string& what) -> void { throw Error("GGUF metadata '" + key + "': " + what); };
  if (!known_type(value.type)) fail("unknown value type " + type_name(value.type));
  if (value.type == ValueType::STRING) return;
  if (is_integer_type(value.type)) {
    if (!integer_fits(value.type, value.integer))
      fail("value " + std::to_string(value.integer) + " does not fit in " + type_name(value.type));
    return;
  }
  if (is_float_type(value.type)) {
    if (!float_fits(value.type, value.number))
      fail("value " + std::to_string(value.number) + " does not fit in float32");
    return;
  }
  // An array.
  if (depth >= kMaxArrayNesting) fail("arrays nested deeper than " + std::to_string(kMaxArrayNesting));
  const ValueType element = value.element_type;
  if (!known_type(element)) fail("unknown array element type " + type_name(element));
  const bool strings = element == ValueType::STRING, arrays = element == ValueType::ARRAY;
  const bool floats = is_float_type(element), integers = is_integer_type(element);
  if ((!strings && !value.strings.empty()) || (!arrays && !value.arrays.empty()) ||
      (!floats && !value.numbers.empty()) || (!integers && !value.integers.empty()))
    fail("array of " + type_name(element) + " holds elements of another type");
  for (int64_t integer : value.integers)
    if (!integer_fits(element, integer))
      fail("array element " + std::to_string(integer) + " does not fit in " + type_name(element));
  for (double number : value.numbers)
    if (!float_fits(element, number)) fail("array element " + std::to_string(number) + " does not fit in float32");
  for (const MetadataValue& child : value.arrays) {
    if (!child.is_array()) fail("an array of arrays holds a " + type_name(child.type));
    validate_value(key, child, depth + 1);
  }
}

// Little-endian serialisation into a byte vector (the header, metadata and tensor infos).
class Bytes {
 public:
  template <typename T>
  void put(T value) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
  }
  void put_string(std::string_view text) {
    put<uint64_t>(text.size());
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

void put_scalar(Bytes& out, ValueType type, int64_t integer, double number) {
  switch (type) {
    case ValueType::UINT8: out.put(static_cast<uint8_t>(integer)); break;
    case ValueType::INT8: out.put(static_cast<int8_t>(integer)); break;
    case ValueType::UINT16: out.put(static_cast<uint16_t>(integer)); break;
    case ValueType::INT16: out.put(static_cast<int16_t>(integer)); break;
    case ValueType::UINT32: out.put(static_cast<uint32_t>(integer)); break;
    case ValueType::INT32: out.put(static_cast<int32_t>(integer)); break;
    case ValueType::UINT64: out.put(static_cast<uint64_t>(integer)); break;
    case ValueType::INT64: out.put(integer); break;
    case ValueType::BOOL: out.put(static_cast<uint8_t>(integer != 0)); break;
    case ValueType::FLOAT32: out.put(static_cast<float>(number)); break;
    case ValueType::FLOAT64: out.put(number); break;
    default: JISU_ASSERT(false && "not a scalar type");
  }
}

void put_array(Bytes& out, const MetadataValue& value);

void put_value(Bytes& out, const MetadataValue& value) {
  if (value.type == ValueType::STRING) out.put_string(value.text);
  else if (value.type == ValueType::ARRAY) put_array(out, value);
  else put_scalar(out, value.type, value.integer, value.number);
}

void put_array(Bytes& out, const MetadataValue& value) {
  out.put(static_cast<uint32_t>(value.element_type));
  out.put<uint64_t>(value.array_size());
  switch (value.element_type) {
    case ValueType::STRING:
      for (const std::string& text : value.strings) out.put_string(text);
      break;
    case ValueType::ARRAY:
      for (const MetadataValue& child : value.arrays) put_array(out, child);
      break;
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      for (double number : value.numbers) put_scalar(out, value.element_type, 0, number);
      break;
    default:
      for (int64_t integer : value.integers) put_scalar(out, value.element_type, integer, 0);
  }
}

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

std::string describe_shape(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

MetadataValue make_integer(ValueType type, int64_t value) {
  if (!is_integer_type(type)) throw Error("make_integer: " + type_name(type) + " is not an integer type");
  MetadataValue result;
  result.type = type;
  result.integer = value;
  return result;
}

MetadataValue make_float(ValueType type, double value) {
  if (!is_float_type(type)) throw Error("make_float: " + type_name(type) + " is not a float type");
  MetadataValue result;
  result.type = type;
  // What a reader will see: the value rounded to the stored precision.
  result.number = type == ValueType::FLOAT32 && float_fits(type, value) ? static_cast<double>(static_cast<float>(value))
                                                                        : value;
  return result;
}

MetadataValue make_string(std::string value) {
  MetadataValue result;
  result.type = ValueType::STRING;
  result.text = std::move(value);
  return result;
}

MetadataValue make_string_array(std::vector<std::string> values) {
  MetadataValue result;
  result.type = ValueType::ARRAY;
  result.element_type = ValueType::STRING;
  result.strings = std::move(values);
  return result;
}

MetadataValue make_int_array(ValueType element_type, std::vector<int64_t> values) {
  if (!is_integer_type(element_type))
    throw Error("make_int_array: " + type_name(element_type) + " is not an integer type");
  MetadataValue result;
  result.type = ValueType::ARRAY;
  result.element_type = element_type;
  result.integers = std::move(values);
  return result;
}

MetadataValue make_float_array(ValueType element_type, std::vector<double> values) {
  if (!is_float_type(element_type))
    throw Error("make_float_array: " + type_name(element_type) + " is not a float type");
  MetadataValue result;
  result.type = ValueType::ARRAY;
  result.element_type = element_type;
  if (element_type == ValueType::FLOAT32)
    for (double& value : values)
      if (float_fits(element_type, value)) value = static_cast<float>(value);
  result.numbers = std::move(values);
  return result;
}

MetadataValue make_array_of_arrays(std::vector<MetadataValue> arrays) {
  MetadataValue result;
  result.type = ValueType::ARRAY;
  result.element_type = ValueType::ARRAY;
  result.arrays = std::move(arrays);
  return result;
}

uint64_t tensor_byte_size(DType type, const std::vector<uint64_t>& shape) {
  const auto type_traits = dtype_traits(static_cast<uint32_t>(type));
  if (!type_traits) throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
  if (shape.empty() || shape.size() > kMaxDims)
    throw Error("a tensor of shape " + describe_shape(shape) + " has " + std::to_string(shape.size()) +
                " dimensions (1 to 4 allowed)");
  uint64_t elements = 1;
  for (uint64_t dim : shape) {
    if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / elements)
      throw Error("tensor shape " + describe_shape(shape) + " has an impossible dimension " + std::to_string(dim));
    elements *= dim;
  }
  if (shape[0] % type_traits->block_elements != 0)
    throw Error("tensor shape " + describe_shape(shape) + ": a " + std::string(type_traits->name) +
                " row needs a multiple of " + std::to_string(type_traits->block_elements) + " elements");
  const uint64_t blocks = elements / type_traits->block_elements;
  if (blocks > std::numeric_limits<uint64_t>::max() / 2 / type_traits->block_bytes)
    throw Error("tensor shape " + describe_shape(shape) + " is too large");
  return blocks * type_traits->block_bytes;
}

GgufWriter::GgufWriter(uint32_t version) { set_version(version); }

void GgufWriter::set_version(uint32_t version) {
  if (version != 2 && version != 3)
    throw Error("cannot write GGUF version " + std::to_string(version) + " (2 and 3 are supported)");
  version_ = version;
}

void GgufWriter::set(std::string key, MetadataValue value) {
  if (key.empty()) throw Error("GGUF metadata key is empty");
  if (key.size() > kMaxKeyLength) throw Error("GGUF metadata key longer than 65535 bytes");
  validate_value(key, value, 0);
  if (key == "general.alignment") {
    if (value.type != ValueType::UINT32) throw Error("GGUF metadata 'general.alignment' must be uint32");
    const auto alignment = static_cast<uint64_t>(value.integer);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
      throw Error("GGUF metadata 'general.alignment' " + std::to_string(alignment) + " is not a power of two");
  }
  for (auto& [name, existing] : metadata_) {
    if (name == key) {
      existing = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

bool GgufWriter::remove(std::string_view key) {
  for (auto it = metadata_.begin(); it != metadata_.end(); ++it) {
    if (it->first == key) {
      metadata_.erase(it);
      return true;
    }
  }
  return false;
}

const MetadataValue* GgufWriter::find(std::string_view key) const {
  for (const auto& [name, value] : metadata_)
    if (name == key) return &value;
  return nullptr;
}

void GgufWriter::copy_metadata(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) set(key, value);
}

uint64_t GgufWriter::alignment() const {
  const MetadataValue* value = find("general.alignment");
  return value ? static_cast<uint64_t>(value->integer) : kDefaultAlignment;
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<uint64_t> shape, const void* data) {
  if (data == nullptr) throw Error("GGUF tensor '" + name + "': no data");
  add_tensor_impl(std::move(name), type, std::move(shape), data, nullptr);
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<uint64_t> shape, TensorFiller fill) {
  if (!fill) throw Error("GGUF tensor '" + name + "': no fill function");
  add_tensor_impl(std::move(name), type, std::move(shape), nullptr, std::move(fill));
}

void GgufWriter::add_tensor_impl(std::string name, DType type, std::vector<uint64_t> shape, const void* data,
                                 TensorFiller fill) {
  if (name.empty()) throw Error("GGUF tensor name is empty");
  if (name.size() > kMaxTensorName)
    throw Error("GGUF tensor name '" + name + "' is longer than " + std::to_string(kMaxTensorName) + " bytes");
  if (tensor_names_.count(name)) throw Error("duplicate GGUF tensor '" + name + "'");
  uint64_t byte_size = 0;
  try {
    byte_size = tensor_byte_size(type, shape);
  } catch (const Error& error) {
    throw Error("GGUF tensor '" + name + "': " + error.what());
  }
  tensor_names_.insert(name);
  tensors_.push_back({std::move(name), type, std::move(shape), byte_size, data, std::move(fill)});
}

void GgufWriter::write(const std::string& path) const {
  const uint64_t alignment = this->alignment();

  Bytes head;
  head.put<uint32_t>(0x46554747);  // "GGUF"
  head.put<uint32_t>(version_);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    head.put_string(key);
    head.put(static_cast<uint32_t>(value.type));
    put_value(head, value);
  }
  uint64_t offset = 0;
  uint64_t largest_filled = 0;
  for (const PendingTensor& tensor : tensors_) {
    head.put_string(tensor.name);
    head.put(static_cast<uint32_t>(tensor.shape.size()));
    for (uint64_t dim : tensor.shape) head.put(dim);
    head.put(static_cast<uint32_t>(tensor.type));
    head.put(offset);
    constexpr uint64_t kMaxData = uint64_t{1} << 62;  // keeps the offset arithmetic far from overflow
    if (offset > kMaxData || tensor.byte_size > kMaxData - offset)
      throw Error("cannot write '" + path + "': the tensors are too large for one file");
    offset = align_up(offset + tensor.byte_size, alignment);
    if (tensor.fill && tensor.byte_size > largest_filled) largest_filled = tensor.byte_size;
  }

  AtomicFile out(path);
  out.write(head.bytes().data(), head.bytes().size());
  out.write_zeros(align_up(head.bytes().size(), alignment) - head.bytes().size());
  std::vector<uint8_t> buffer;
  if (largest_filled > 0) buffer.reserve(largest_filled);
  for (const PendingTensor& tensor : tensors_) {
    if (tensor.fill) {
      buffer.assign(tensor.byte_size, 0);
      tensor.fill(buffer.data(), buffer.size());
      out.write(buffer.data(), buffer.size());
    } else {
      out.write(tensor.data, tensor.byte_size);
    }
    out.write_zeros(align_up(tensor.byte_size, alignment) - tensor.byte_size);
  }
  out.commit();
}

}  // namespace jisu::gguf
