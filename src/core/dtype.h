#pragma once
// Tensor element types, numbered as GGUF/ggml numbers them so a file's type id maps directly.
// Quantized types store blocks: `block_elements` weights in `block_bytes` bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jisu {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct DTypeTraits {
  DType type;
  std::string_view name;   // as llama.cpp prints it: "q4_K", "f16", ...
  size_t block_elements;   // 1 for plain types
  size_t block_bytes;      // bytes of one block (or one element)
  bool is_quantized;
};

// Traits of a type; nullopt for an id this build does not know (a file may carry one).
std::optional<DTypeTraits> dtype_traits(uint32_t type_id);
const DTypeTraits& traits(DType type);  // for known types only
std::string_view dtype_name(DType type);
// Parses "f32", "q4_0", "Q4_K", ... (case-insensitive); nullopt if unknown.
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes taken by a row of `elements` values; elements must be a multiple of block_elements.
inline size_t row_bytes(DType type, size_t elements) {
  const DTypeTraits& t = traits(type);
  return elements / t.block_elements * t.block_bytes;
}

}  // namespace jisu
