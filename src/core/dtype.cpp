#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "core/error.h"

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
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t type_id) {
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == type_id) return t;
  return std::nullopt;
}

const DTypeTraits& traits(DType type) {
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
  return std::nullopt;
}

}  // namespace jisu
