#include "format/safetensors_file.h"

#include <algorithm>
#include <cstring>

#include <jisu/json_nesting.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace jisu::safetensors {
namespace {

using json = nlohmann::json;

// Real headers are a few hundred bytes per tensor; 100 MB (the limit of Hugging Face's own
// reader) bounds what a hostile length field makes us parse.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
constexpr size_t kMaxDims = 8;
constexpr size_t kMaxNesting = 8;  // {"t": {"shape": [..]}} is 3 deep

struct DtypeName {
  std::string_view name;
  uint64_t element_bytes;
  bool loadable;
  DType type;
};

// Every dtype the format defines, so that a file of another precision is named as such.
constexpr DtypeName kDtypes[] = {
    {"F32", 4, true, DType::F32},   {"F16", 2, true, DType::F16},   {"BF16", 2, true, DType::BF16},
    {"F64", 8, false, DType::F32},  {"I64", 8, false, DType::F32},  {"I32", 4, false, DType::F32},
    {"I16", 2, false, DType::F32},  {"I8", 1, false, DType::F32},   {"U64", 8, false, DType::F32},
    {"U32", 4, false, DType::F32},  {"U16", 2, false, DType::F32},  {"U8", 1, false, DType::F32},
    {"BOOL", 1, false, DType::F32}, {"F8_E4M3", 1, false, DType::F32}, {"F8_E5M2", 1, false, DType::F32},
};

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return text.size() > 80 ? out + "..." : out;
}

uint64_t unsigned_value(const json& value, const std::string& what, const std::string& where) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0))
    throw Error(where + ": " + what + " " + printable(value.dump()) + " is not a non-negative integer",
                "the file is not a valid safetensors file");
  return value.get<uint64_t>();
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->file_ = std::make_unique<MappedFile>(path);
  file->parse();
  return file;
}

void SafetensorsFile::parse() {
  const std::string where = "safetensors file '" + path() + "'";
  const uint64_t size = file_->size();
  if (size < 8) throw Error(where + " is " + std::to_string(size) + " bytes, too short for a header", "the file is truncated");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file_->data(), sizeof header_bytes);  // little-endian hosts only (x86-64)
  if (header_bytes > size - 8)
    throw Error(where + ": header length " + std::to_string(header_bytes) + " reaches past the end of the file (" +
                    std::to_string(size) + " bytes)",
                "the file is truncated or not a safetensors file");
  if (header_bytes > kMaxHeaderBytes)
    throw Error(where + ": header length " + std::to_string(header_bytes) + " is over the limit of " +
                std::to_string(kMaxHeaderBytes) + " bytes");
  const std::string_view header(reinterpret_cast<const char*>(file_->data()) + 8, header_bytes);
  if (json_nesting_depth(header, kMaxNesting) > kMaxNesting)
    throw Error(where + ": header JSON nested deeper than " + std::to_string(kMaxNesting) + " levels",
                "the file is not a safetensors file");
  json root;
  try {
    root = json::parse(header);
  } catch (const json::exception& e) {
    throw Error(where + ": header is not valid JSON: " + e.what(), "the file is truncated or not a safetensors file");
  }
  if (!root.is_object()) throw Error(where + ": header is not a JSON object", "the file is not a safetensors file");

  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_size = size - data_start;
  const uint8_t* data = file_->data() + data_start;
  tensors_.reserve(root.size());
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") continue;
    const std::string tensor_where = where + ": tensor '" + printable(name) + "'";
    if (!entry.is_object()) throw Error(tensor_where + " is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) throw Error(tensor_where + " has no dtype string");
    if (!entry.contains("shape") || !entry["shape"].is_array()) throw Error(tensor_where + " has no shape array");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
      throw Error(tensor_where + " has no data_offsets [begin, end]");
    const std::string dtype = entry["dtype"].get<std::string>();
    const auto* known = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeName& d) { return d.name == dtype; });
    if (known == std::end(kDtypes)) throw Error(tensor_where + " has unknown dtype '" + printable(dtype) + "'");
    if (!known->loadable)
      throw Error(tensor_where + " has dtype " + dtype + ", which jisu does not load", "weights must be F32, F16 or BF16");

    Tensor tensor;
    tensor.name = name;
    tensor.type = known->type;
    const json& shape = entry["shape"];
    if (shape.size() > kMaxDims) throw Error(tensor_where + " has " + std::to_string(shape.size()) + " dimensions");
    uint64_t elements = 1;
    for (const json& dim : shape) {
      const uint64_t value = unsigned_value(dim, "dimension", tensor_where);
      if (value != 0 && elements > UINT64_MAX / value) throw Error(tensor_where + " has a shape whose size overflows");
      elements *= value;
      tensor.shape.push_back(value);
    }
    tensor.element_count = elements;
    const uint64_t begin = unsigned_value(entry["data_offsets"][0], "data offset", tensor_where);
    const uint64_t end = unsigned_value(entry["data_offsets"][1], "data offset", tensor_where);
    if (begin > end || end > data_size)
      throw Error(tensor_where + " spans bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") outside the data section of " + std::to_string(data_size) + " bytes",
                  "the file is truncated or corrupted");
    if (elements > UINT64_MAX / known->element_bytes || elements * known->element_bytes != end - begin)
      throw Error(tensor_where + " of " + std::to_string(elements) + " " + dtype + " values needs " +
                  std::to_string(elements * known->element_bytes) + " bytes but spans " + std::to_string(end - begin));
    // Weights are read as their element type in place, so each must start on a multiple of it
    // (the mapping itself is page-aligned).
    if ((data_start + begin) % known->element_bytes != 0)
      throw Error(tensor_where + " starts at file offset " + std::to_string(data_start + begin) +
                  ", not aligned to its " + std::to_string(known->element_bytes) + "-byte elements");
    tensor.byte_size = end - begin;
    tensor.data = data + begin;
    tensors_.push_back(std::move(tensor));
  }

  // No two tensors may share bytes (one would alias the other's weights).
  std::vector<const Tensor*> by_start;
  for (const Tensor& tensor : tensors_)
    if (tensor.byte_size > 0) by_start.push_back(&tensor);
  std::sort(by_start.begin(), by_start.end(), [](const Tensor* a, const Tensor* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_start.size(); ++i)
    if (by_start[i - 1]->data + by_start[i - 1]->byte_size > by_start[i]->data)
      throw Error(where + ": tensors '" + printable(by_start[i - 1]->name) + "' and '" + printable(by_start[i]->name) +
                  "' overlap", "the file is corrupted");
}

const Tensor* SafetensorsFile::find(std::string_view name) const {
  for (const Tensor& tensor : tensors_)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

}  // namespace jisu::safetensors
