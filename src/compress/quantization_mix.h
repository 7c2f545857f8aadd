#pragma once
// Which type each tensor gets for a file type ("Q4_K_M", "Q5_0", ...): the base type for most
// weights, more bits where quality is known to be most sensitive (the output layer, attn_v and
// ffn_down of some layers, as the GGUF ecosystem's mixes do, so file sizes and bits per weight
// match the files people know), and the fallback for a row a K-quant cannot hold.
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace jisu::compress {

// A file type: its name, general.file_type number (llama.cpp's LLAMA_FTYPE_*) and base type.
struct FileType {
  std::string_view name;
  uint32_t number;
  DType base;
};
std::optional<FileType> file_type_from_name(std::string_view name);  // case-insensitive
std::string file_type_names();                                        // for messages

struct TensorTypeOverride {
  std::regex pattern;  // searched in the tensor name
  std::string text;
  DType type;
};

struct MixOptions {
  bool pure = false;                    // every weight the base type (still the row fallback)
  std::optional<DType> output_type;     // output.weight
  std::optional<DType> embedding_type;  // token_embd.weight
  std::vector<TensorTypeOverride> overrides;  // first match wins, after the above
};

// Counts the model's layers' attn_v / ffn_down tensors once, then answers per tensor.
class QuantizationMix {
 public:
  QuantizationMix(const FileType& file_type, const MixOptions& options, int32_t n_layer);
  // Type of a 2-D weight `name` with `cols` per row. Throws jisu::Error when no type of the mix
  // can hold the row (cols not a multiple of 32 for a quantized type).
  DType type_for(const std::string& name, uint64_t cols) const;

 private:
  DType mixed_type(const std::string& name) const;
  FileType file_type_;
  MixOptions options_;
  int32_t n_layer_;
};

// The type used for a row of `cols` when `type` cannot hold it (K-quants need multiples of
// 256), or `type` itself; nullopt when none can.
std::optional<DType> row_fallback(DType type, uint64_t cols);

}  // namespace jisu::compress
