#pragma once
// Safetensors reader (the Hugging Face weight format). Layout:
//
//   u64 little-endian N | N bytes of JSON header | data
//
// where the header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the start of the data) plus an optional "__metadata__" object of strings.
// The file is memory-mapped and every tensor's bytes are used in place. Everything is
// validated before use (the file comes from a download): the header length against the file,
// JSON nesting before nlohmann sees it, each entry's fields, the dtype (F32, F16 or BF16 are
// loaded; other known dtypes are refused by name), shape x element size == byte span, spans
// inside the data, aligned to the element size and not overlapping. Any problem is one
// jisu::Error naming the file and the tensor.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace jisu::safetensors {

struct Tensor {
  std::string name;
  DType type = DType::F32;
  std::vector<uint64_t> shape;  // as written: row-major, shape[0] outermost (the reverse of GGUF)
  uint64_t element_count = 0;
  uint64_t byte_size = 0;
  const uint8_t* data = nullptr;  // inside the map
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);  // throws jisu::Error

  const std::string& path() const { return file_->path(); }
  uint64_t file_size() const { return file_->size(); }
  const std::vector<Tensor>& tensors() const { return tensors_; }  // in header order
  const Tensor* find(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  void parse();

  std::unique_ptr<MappedFile> file_;
  std::vector<Tensor> tensors_;
};

}  // namespace jisu::safetensors
