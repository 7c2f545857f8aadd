#include "core/dtype.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu {
namespace {

// Block layouts follow ggml (QK4_0 = 32, QK_K = 256); sizes are checked against the
// block structs in backends/cpu/quant_blocks.h by static_asserts there.
constexpr std::array kTraits = {
    DTypeTraits{DType::F32, "f32", 1, 4, false},
    DTypeTraits{DType::F16, "f16", 1, 2, false},
    DTypeTraits{DType::Q4_0, "q4_0", 32, 18, true},
    DTypeTraits{DType::Q4_1, "q4_1", 32, 20, true},
    DTypeTraits{DType::Q5_0, "q5_0", 32, 22, true},
    DTypeTraits{DType::Q5_1, "q5_1", 32, 24, true},
    DTypeTraits{DType::Q8_0, "q8_0", 32, 34, true},
    DTypeTraits{DType::Q8_1, "q8_1", 32, 36, true},
    DTypeTraits{DType::Q2_K, "q2_K", 256, 84, true},
    DTypeTraits{DType::Q3_K, "q3_K", 256, 110, true},
    DTypeTraits{DType::Q4_K, "q4_K", 256, 144, true},
    DTypeTraits{DType::Q5_K, "q5_K", 256, 176, true},
    DTypeTraits{DType::Q6_K, "q6_K", 256, 210, true},
    DTypeTraits{DType::Q8_K, "q8_K", 256, 292, true},
    DTypeTraits{DType::IQ4_NL, "iq4_nl", 32, 18, true},
    DTypeTraits{DType::IQ4_XS, "iq4_xs", 256, 136, true},
    DTypeTraits{DType::I8, "i8", 1, 1, false},
    DTypeTraits{DType::I16, "i16", 1, 2, false},
    DTypeTraits{DType::I32, "i32", 1, 4, false},
    DTypeTraits{DType::I64, "i64", 1, 8, false},
    DTypeTraits{DType::F64, "f64", 1, 8, false},
    DTypeTraits{DType::BF16, "bf16", 1, 2, false},
    // jisu-only (core/sparse_dtype.h): 64 weights as a u64 mask, an f16 scale, 32 int8 values.
    DTypeTraits{kJisuNmQ8, "jisu_nm_q8", 64, 42, true},
    // jisu-only dense types (core/sparse_dtype.h): int8 values (the row scales in a companion
    // tensor); and IQ4_NL's block layout into a per-tensor learned codebook.
    DTypeTraits{kJisuI8Row, "i8_row", 32, 32, true},
    DTypeTraits{kJisuCb4, "cb4", 32, 18, true},
};

// The unstructured sparse family (core/sparse_dtype.h): per 64 weights a u64 mask and an f16
// scale (10 bytes) plus the kept values, K of 64 on average over a row; so block_bytes = 10 + K
// is a row's mean per 64 weights, while the blocks of a row differ in size.
struct SparseFamily {
  std::array<std::array<char, 24>, kJisuSparseQ8MaxKept> names{};
  std::array<DTypeTraits, kJisuSparseQ8MaxKept> traits{};
  SparseFamily() {
    for (uint32_t kept = 1; kept <= kJisuSparseQ8MaxKept; ++kept) {
      std::array<char, 24>& name = names[kept - 1];
      std::snprintf(name.data(), name.size(), "jisu_sparse_q8_k%u", kept);
      traits[kept - 1] = DTypeTraits{sparse_q8_type(kept), std::string_view(name.data()), 64, 10 + kept, true};
    }
  }
};

const SparseFamily& sparse_family() {
  static const SparseFamily family;
  return family;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t type_id) {
  if (is_jisu_sparse_q8(static_cast<DType>(type_id)))
    return sparse_family().traits[sparse_q8_kept_per_64(static_cast<DType>(type_id)) - 1];
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == type_id) return t;
  return std::nullopt;
}

const DTypeTraits& traits(DType type) {
  if (is_jisu_sparse_q8(type)) return sparse_family().traits[sparse_q8_kept_per_64(type) - 1];
  for (const auto& t : kTraits)
    if (t.type == type) return t;
  JISU_ASSERT(false && "unknown dtype");
  return kTraits[0];
}

std::string_view dtype_name(DType type) { return traits(type).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  const std::string wanted = lower(name);
  for (const auto& t : kTraits)
    if (lower(t.name) == wanted) return t.type;
  for (const auto& t : sparse_family().traits)
    if (t.name == wanted) return t.type;
  return std::nullopt;
}

}  // namespace jisu
