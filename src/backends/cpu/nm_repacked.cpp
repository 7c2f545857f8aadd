// The 2:4 repacked copy (nm_repacked.h): building it from jisu_nm_q8 rows, the scalar reference
// of its kernels, and the choice of kernel.
#include "backends/cpu/nm_repacked.h"


#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"
#include "core/error.h"

namespace jisu::cpu {

// The AVX-512 instantiations of int8_nm_repacked_matmul_isa.cpp (the AVX2 builds have none).
namespace avx512 {
void matmul_nm_repacked(const NmRepackedArgs& args);
}
namespace avx512_vnni {
void matmul_nm_repacked(const NmRepackedArgs& args);
}

namespace {

// True when each of the 16 nibbles of `mask` has exactly 2 bits set.
bool keeps_2_of_4(uint64_t mask) {
  constexpr uint64_t kLow = 0x5555555555555555ull, kPairs = 0x3333333333333333ull;
  const uint64_t pairs = (mask & kLow) + ((mask >> 1) & kLow);         // 2-bit counts
  const uint64_t nibbles = (pairs & kPairs) + ((pairs >> 2) & kPairs);  // 4-bit counts
  return nibbles == 0x2222222222222222ull;
}

// For byte B of weight vector i (entry 64 i + B): its row, kept weight and code bit (nm_repacked.h).
struct ByteSource {
  uint8_t row, kept, code_byte, code_shift;
};
constexpr std::array<ByteSource, 256> make_byte_sources() {
  std::array<ByteSource, 256> sources{};
  for (size_t i = 0; i < 4; ++i)
    for (size_t byte = 0; byte < 64; ++byte) {
      const size_t bit = 16 * 8 * i + nm_repacked_code_bit(byte);  // chunk i starts at byte 16 i
      sources[64 * i + byte] = {static_cast<uint8_t>(nm_repacked_row(byte)), static_cast<uint8_t>(nm_repacked_kept(i, byte)),
                                static_cast<uint8_t>(bit / 8), static_cast<uint8_t>(bit % 8)};
    }
  return sources;
}
constexpr std::array<ByteSource, 256> kByteSources = make_byte_sources();

// Group g's 8 rows (`row[r]`, jisu_nm_q8 rows of n weights, every block 2:4) into `out`.
void repack_group(const uint8_t* const row[kNmRepackedRows], size_t n, uint8_t* out) {
  const SparseRowLayout layout = sparse_row_layout(n);
  uint8_t* scales = out + layout.blocks * kNmRepackedBlockBytes;
  for (size_t b = 0; b < layout.blocks; ++b, out += kNmRepackedBlockBytes) {
    uint8_t code[kNmRepackedRows][kNmBlockKept];  // the position within its group of each kept weight
    for (size_t r = 0; r < kNmRepackedRows; ++r) {
      const uint64_t mask = load_u64(row[r] + 8 * b);
      for (size_t k = 0; k < kNmBlockKept; k += 2) {
        const auto nibble = static_cast<uint32_t>(mask >> (2 * k)) & 15;  // group k / 2
        code[r][k] = static_cast<uint8_t>(std::countr_zero(nibble));
        code[r][k + 1] = static_cast<uint8_t>(31 - std::countl_zero(nibble));
      }
      std::memcpy(scales + 16 * b + 2 * r, row[r] + layout.scales_offset() + 2 * b, 2);
    }
    for (size_t e = 0; e < kByteSources.size(); ++e) {
      const ByteSource& source = kByteSources[e];
      out[kNmRepackedCodeBytes + e] =
          static_cast<uint8_t>(row[source.row][layout.values_offset() + kNmBlockKept * b + source.kept] - kSparseValueBias);
      out[source.code_byte] |= static_cast<uint8_t>(code[source.row][source.kept] << source.code_shift);
    }
  }
}

}  // namespace

size_t nm_repacked_group_bytes(size_t n) {
  const size_t blocks = n / kSparseBlockElements;
  return (blocks * (kNmRepackedBlockBytes + 2 * kNmRepackedRows) + 63) / 64 * 64;
}

std::unique_ptr<NmRepackedWeights> NmRepackedWeights::from_rows(const void* w, size_t row_bytes, size_t rows, size_t n) {
  if (rows == 0 || rows % kNmRepackedRows != 0 || n == 0 || n % kSparseBlockElements != 0) return nullptr;
  const auto* src = static_cast<const uint8_t*>(w);
  const size_t blocks = n / kSparseBlockElements;
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b)
      if (!keeps_2_of_4(load_u64(src + r * row_bytes + 8 * b))) return nullptr;
  std::unique_ptr<NmRepackedWeights> copy(new NmRepackedWeights(nm_repacked_group_bytes(n), rows / kNmRepackedRows * nm_repacked_group_bytes(n)));
  // The memory is zero filled: the codes are or-ed in and the padding stays 0.
  write_groups_in_parallel(rows / kNmRepackedRows, copy->bytes(), [&](size_t g_begin, size_t g_end) {
    for (size_t g = g_begin; g < g_end; ++g) {
      const uint8_t* row[kNmRepackedRows];
      for (size_t r = 0; r < kNmRepackedRows; ++r) row[r] = src + (g * kNmRepackedRows + r) * row_bytes;
      repack_group(row, n, copy->memory_.data() + g * copy->group_bytes_);
    }
  });
  return copy;
}

bool nm_repacked_kernel_runs_on(Isa isa) {
  static const bool has_vbmi = __builtin_cpu_supports("avx512vbmi");
  return isa_supported(isa) && uses_avx512(isa) && has_vbmi;
}

void matmul_nm_repacked_on(Isa isa, const NmRepackedArgs& args) {
  if (!nm_repacked_kernel_runs_on(isa))
    throw Error("no repacked 2:4 kernel for the " + std::string(isa_name(isa)) + " path on this CPU");
  if (args.type != kJisuNmQ8) throw Error("the repacked 2:4 kernels take jisu_nm_q8 weights, not " + std::string(dtype_name(args.type)));
  if (args.n == 0 || args.n % kSparseBlockElements != 0 || args.group_bytes < nm_repacked_group_bytes(args.n))
    throw Error("repacked 2:4 groups of " + std::to_string(args.group_bytes) + " bytes cannot hold rows of " +
                std::to_string(args.n) + " elements");
  if (args.row_end < args.row_begin || args.row_begin % kNmRepackedRows != 0 || args.row_end % kNmRepackedRows != 0)
    throw Error("repacked 2:4 rows [" + std::to_string(args.row_begin) + ", " + std::to_string(args.row_end) +
                ") are not whole groups of 8");
  if (isa == Isa::Avx512)
    avx512::matmul_nm_repacked(args);
  else
    avx512_vnni::matmul_nm_repacked(args);  // Avx512Vnni, and Avx512Amx (its vector kernels)
}

void matmul_nm_repacked(const NmRepackedArgs& args) { matmul_nm_repacked_on(active_isa(), args); }

void matmul_nm_repacked_scalar(const NmRepackedArgs& a) {
  const size_t blocks = a.n / kSparseBlockElements;
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const uint8_t* group = a.w + r / kNmRepackedRows * a.group_bytes;
    const size_t row_in_group = r % kNmRepackedRows;
    for (size_t t = 0; t < a.n_tokens; ++t) {
      const auto* x = activation_row<ActivationBlock>(a, t);
      float acc = 0.0f;
      for (size_t b = 0; b < blocks; ++b) {
        const uint8_t* block = group + b * kNmRepackedBlockBytes;
        const float d = fp16_to_fp32(load_u16(group + blocks * kNmRepackedBlockBytes + 16 * b + 2 * row_in_group));
        int32_t isum[2] = {0, 0};  // activation blocks 2b and 2b + 1
        for (size_t i = 0; i < 4; ++i)
          for (size_t byte = 0; byte < 64; ++byte) {
            if (nm_repacked_row(byte) != row_in_group) continue;
            const size_t k = nm_repacked_kept(i, byte), bit = nm_repacked_code_bit(byte);
            const size_t position = 4 * (k / 2) + ((block[16 * i + bit / 8] >> (bit % 8)) & 3);  // in 0..63
            const auto w = static_cast<int8_t>(block[kNmRepackedCodeBytes + 64 * i + byte]);
            isum[position / 32] += w * x[2 * b + position / 32].qs[position % 32];
          }
        for (size_t h = 0; h < 2; ++h) acc = std::fma(static_cast<float>(isum[h]), d * x[2 * b + h].d, acc);
      }
      a.y[t * a.y_stride + r] = acc;
    }
  }
}

}  // namespace jisu::cpu
