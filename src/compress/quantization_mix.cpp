#include "compress/quantization_mix.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::compress {
namespace {

constexpr std::array kFileTypes = {
    FileType{"F32", 0, DType::F32},      FileType{"F16", 1, DType::F16},       FileType{"BF16", 32, DType::BF16},
    FileType{"Q8_0", 7, DType::Q8_0},    FileType{"Q4_0", 2, DType::Q4_0},     FileType{"Q4_1", 3, DType::Q4_1},
    FileType{"Q5_0", 8, DType::Q5_0},    FileType{"Q5_1", 9, DType::Q5_1},     FileType{"Q2_K", 10, DType::Q2_K},
    FileType{"Q3_K_S", 11, DType::Q3_K}, FileType{"Q3_K_M", 12, DType::Q3_K},  FileType{"Q3_K_L", 13, DType::Q3_K},
    FileType{"Q4_K_S", 14, DType::Q4_K}, FileType{"Q4_K_M", 15, DType::Q4_K},  FileType{"Q5_K_S", 16, DType::Q5_K},
    FileType{"Q5_K_M", 17, DType::Q5_K}, FileType{"Q6_K", 18, DType::Q6_K},    FileType{"IQ4_NL", 25, DType::IQ4_NL},
    FileType{"IQ4_XS", 30, DType::IQ4_XS},
    // jisu-only (core/sparse_dtype.h): numbers no llama.cpp file type uses.
    FileType{"I8_ROW", kJisuI8RowFileType, kJisuI8Row}, FileType{"CB4", kJisuCb4FileType, kJisuCb4},
};
// Single-type aliases: Q3_K, Q4_K and Q5_K mean their _M mix, as llama-quantize reads them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kAliases = {
    {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}}};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

bool contains(const std::string& name, std::string_view part) { return name.find(part) != std::string::npos; }

// The layer index of "blk.N.*", or -1.
int32_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return static_cast<int32_t>(std::strtol(name.c_str() + 4, nullptr, 10));
}

// The layers that get more bits in the _M mixes: the first and last eighth, and every third in
// between.
bool gets_more_bits(int32_t layer, int32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

}  // namespace

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const auto& [alias, target] : kAliases)
    if (equal_ignoring_case(name, alias)) name = target;
  for (const FileType& type : kFileTypes)
    if (equal_ignoring_case(name, type.name)) return type;
  return std::nullopt;
}

std::string file_type_names() {
  std::string names;
  for (const FileType& type : kFileTypes) names += (names.empty() ? "" : ", ") + std::string(type.name);
  return names;
}

std::optional<DType> row_fallback(DType type, uint64_t cols) {
  const DTypeTraits& t = traits(type);
  if (cols % t.block_elements == 0) return type;
  DType fallback = type;
  switch (type) {
    case DType::Q2_K: case DType::Q3_K: fallback = DType::IQ4_NL; break;
    case DType::Q4_K: fallback = DType::Q5_0; break;
    case DType::Q5_K: fallback = DType::Q5_1; break;
    case DType::Q6_K: fallback = DType::Q8_0; break;
    case DType::IQ4_XS: fallback = DType::IQ4_NL; break;
    default: return std::nullopt;
  }
  if (cols % traits(fallback).block_elements == 0) return fallback;
  return std::nullopt;
}

QuantizationMix::QuantizationMix(const FileType& file_type, const MixOptions& options, int32_t n_layer)
    : file_type_(file_type), options_(options), n_layer_(n_layer) {}

DType QuantizationMix::mixed_type(const std::string& name) const {
  const DType base = file_type_.base;
  const std::string_view ft = file_type_.name;
  const bool float_type = !traits(base).is_quantized;
  // An embedding table is read row by row without its tensor's codebook or row scales: cb4
  // files keep it in IQ4_NL (the same bits and block layout with the fixed levels), i8_row files
  // in Q8_0, --pure included.
  if (name == "token_embd.weight" && base == kJisuCb4) return DType::IQ4_NL;
  if (name == "token_embd.weight" && base == kJisuI8Row) return DType::Q8_0;
  if (float_type || options_.pure) return base;
  const int32_t layer = layer_of(name), n = n_layer_;
  if (name == "output.weight") return base == DType::Q8_0 || base == kJisuI8Row ? base : DType::Q6_K;

  if (contains(name, "attn_v.weight")) {
    if (ft == "Q2_K") return DType::Q3_K;
    if (ft == "Q3_K_M") return layer < 2 ? DType::Q5_K : DType::Q4_K;
    if (ft == "Q3_K_L") return DType::Q5_K;
    if ((ft == "Q4_K_M" || ft == "Q5_K_M") && gets_more_bits(layer, n)) return DType::Q6_K;
    if (ft == "Q4_K_S" && layer < 4) return DType::Q5_K;
    // CB4 spends Q4_K_S's extra bits but one attn_v fewer: that saving (a bit per weight of one
    // attn_v) pays for the codebooks (16 bytes and a tensor header per matrix), so a CB4 file is
    // no larger than Q4_K_S's (measured on the demo model: docs/quantization.md).
    if (ft == "CB4" && layer < 3) return DType::Q5_K;
    return base;
  }
  if (contains(name, "ffn_down")) {
    if (ft == "Q2_K") return DType::Q3_K;
    if (ft == "Q3_K_M") return layer < n / 16 ? DType::Q5_K : DType::Q4_K;
    if (ft == "Q3_K_L") return DType::Q5_K;
    if ((ft == "Q4_K_M" || ft == "Q5_K_M") && gets_more_bits(layer, n)) return DType::Q6_K;
    if (ft == "Q4_K_S" && layer < n / 8) return DType::Q5_K;
    if ((ft == "IQ4_NL" || ft == "CB4") && layer < n / 8) return DType::Q5_K;
    return base;
  }
  if (contains(name, "attn_output.weight")) {
    if (ft == "Q2_K") return DType::Q3_K;
    if (ft == "Q3_K_M") return DType::Q4_K;
    if (ft == "Q3_K_L") return DType::Q5_K;
    return base;
  }
  if (contains(name, "attn_qkv.weight")) {
    if (ft == "Q3_K_M" || ft == "Q3_K_L") return DType::Q4_K;
    if (ft == "Q4_K_M") return DType::Q5_K;
    if (ft == "Q5_K_M") return DType::Q6_K;
  }
  return base;
}

DType QuantizationMix::type_for(const std::string& name, uint64_t cols) const {
  DType type = mixed_type(name);
  if (name == "output.weight" && options_.output_type) type = *options_.output_type;
  if (name == "token_embd.weight" && options_.embedding_type) type = *options_.embedding_type;
  for (const TensorTypeOverride& override_rule : options_.overrides)
    if (std::regex_search(name, override_rule.pattern)) {
      type = override_rule.type;
      break;
    }
  if ((type == kJisuCb4 || type == kJisuI8Row) && name == "token_embd.weight")
    throw Error("token_embd.weight cannot be " + std::string(dtype_name(type)) +
                    ": an embedding table is read by row, without its codebook or row scales",
                "choose another type for it with --token-embedding-type");
  const std::optional<DType> fitted = row_fallback(type, cols);
  if (!fitted)
    throw Error("tensor " + name + " has rows of " + std::to_string(cols) + " values, which " +
                std::string(dtype_name(type)) + " cannot hold",
                "its rows must be a multiple of " + std::to_string(traits(type).block_elements) +
                    "; choose another type for it with --tensor-type");
  return *fitted;
}

}  // namespace jisu::compress
