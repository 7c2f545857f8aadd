#pragma once
// The jisu-only sparse weight types (backends/cpu/sparse_blocks.h documents the layouts). GGUF
// stores a tensor's type as a number; these numbers lie far above ggml's (which end below 64),
// so no ggml file carries them by accident and `jisu info` marks them jisu-only:
//  - kJisuSparseQ8First .. + 63, "jisu_sparse_q8_kK": unstructured sparse rows of int8 values;
//    K = 1 .. 64 is how many of every 64 weights each row keeps (on average over the row).
//  - kJisuNmQ8, "jisu_nm_q8": N:M sparse (2:4, 4:8): 32 int8 values of every 64 weights plus a
//    64-bit mask of their positions.
//    Layout version 3 (the ids below): each row is its masks, then its scales, then its values
//    stored biased by +128 (sparse_blocks.h). Version 1 (ids 0x4A530001.. and 0x4A534D10)
//    interleaved them per block; version 2 (ids 0x4A530101.. and 0x4A534D20) stored the values
//    unbiased and N:M blocks of 32 weights. Files of either are refused with
//    retired_sparse_type_message, never misread.
// Two dense jisu-only types (docs/quantization.md, "jisu-only weight types"):
//  - kJisuI8Row, "i8_row": per-channel int8. Rows of int8 values (symmetric, [-127, 127], in
//    "blocks" of 32 bytes) and one float32 scale per row, x = scale * q, stored as the F32
//    tensor "<name>.row_scale" of shape [rows] ([rows, n_mat] for a stacked tensor).
//  - kJisuCb4, "cb4": a learned 4-bit codebook. Blocks of 32 as IQ4_NL (an fp16 scale and 16
//    bytes of 4-bit indices) into 16 int8 levels learned per tensor, stored as the I8 tensor
//    "<name>.codebook" of shape [16] (shape [16, n_mat] for a stacked tensor: one per matrix).
// They are DType values without enumerators so that core/dtype.h, which every source includes,
// keeps only ggml's numbers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"

namespace jisu {

inline constexpr DType kJisuSparseQ8First = static_cast<DType>(0x4A530201u);
inline constexpr DType kJisuNmQ8 = static_cast<DType>(0x4A534D30u);
inline constexpr uint32_t kJisuSparseQ8MaxKept = 64;
inline constexpr DType kJisuI8Row = static_cast<DType>(0x4A535201u);
inline constexpr DType kJisuCb4 = static_cast<DType>(0x4A534304u);
inline constexpr size_t kCodebookLevels = 16;
inline constexpr std::string_view kCodebookSuffix = ".codebook";
inline constexpr std::string_view kRowScaleSuffix = ".row_scale";
// Their general.file_type numbers (far above llama.cpp's LLAMA_FTYPE_*, which end below 1025).
inline constexpr uint32_t kJisuI8RowFileType = 0x4A530101u;
inline constexpr uint32_t kJisuCb4FileType = 0x4A530102u;

// The layout version (1 or 2) of a type id of an older jisu's sparse types, no longer read;
// 0 for any other id.
inline int retired_jisu_sparse_version(uint32_t id) {
  if ((id >= 0x4A530001u && id < 0x4A530001u + kJisuSparseQ8MaxKept) || id == 0x4A534D10u) return 1;
  if ((id >= 0x4A530101u && id < 0x4A530101u + kJisuSparseQ8MaxKept) || id == 0x4A534D20u) return 2;
  return 0;
}
inline std::string retired_sparse_type_message(int version) {
  return "is in the sparse layout of an older jisu (version " + std::to_string(version) +
         "), which this jisu no longer reads";
}

inline bool is_jisu_sparse_q8(DType type) {
  const auto id = static_cast<uint32_t>(type), first = static_cast<uint32_t>(kJisuSparseQ8First);
  return id >= first && id < first + kJisuSparseQ8MaxKept;
}
inline bool is_jisu_only(DType type) {
  return is_jisu_sparse_q8(type) || type == kJisuNmQ8 || type == kJisuI8Row || type == kJisuCb4;
}
// Weights kept per 64 of an unstructured sparse type (1 .. 64).
inline uint32_t sparse_q8_kept_per_64(DType type) {
  return static_cast<uint32_t>(type) - static_cast<uint32_t>(kJisuSparseQ8First) + 1;
}
inline DType sparse_q8_type(uint32_t kept_per_64) {
  return static_cast<DType>(static_cast<uint32_t>(kJisuSparseQ8First) + kept_per_64 - 1);
}

}  // namespace jisu
