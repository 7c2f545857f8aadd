// The repacked integer path on AMX tiles for the K-quants Q4_K, Q5_K and Q6_K (Isa::Avx512Amx,
// prompt batches; int8_repacked_matmul_amx.cpp dispatches here and runs the tokens past the last
// whole tile of 16 on the AVX-512 VNNI kernels).
//
// Arithmetic: exactly the repacked contract (int8_repacked_matmul.h), so results agree bit for
// bit with the scalar reference and the VNNI kernels. The integer sub-block scales differ per
// weight row and sub-block, so they cannot be applied after a tile product without one int32
// multiply per (token, row, sub-block). Instead each scale is split into small digits and the
// digit is multiplied into the weights, which keeps every weight byte in range:
//   Q4_K, Q5_K: sc = lo + 8 hi (lo, hi in 0..7); u * digit <= 31 * 7 = 217 fits an unsigned
//     byte, so per super-block two chains of TDPBSUD (signed activations x unsigned weights)
//     over K = 256 give C_lo = sum_c lo_c * S_c and C_hi = sum_c hi_c * S_c (S_c the sub-block
//     sums of the contract), and isum = C_lo + 8 C_hi exactly (|isum| < 256 * 63 * 31 * 127).
//   Q6_K: w = u - 32 in -32..31 and the int8 scale s = d0 + 7 d1 + 49 d2 with balanced digits
//     d in -3..3 (|s| <= 128 needs three: 3 + 21 + 147 >= 128); |w * d| <= 96 fits a signed byte,
//     three chains of TDPBSSD give isum = C0 + 7 (C1 + 7 C2) = sum_q s_q * sum w * x, which is the
//     contract's sum_q s_q * (sum u * x - 32 * sums[q]) (|isum| < 256 * 32 * 128 * 127 < 2^31).
// The minimum term of Q4_K / Q5_K (msum = sum_c m_c * (sums[2c] + sums[2c + 1])) runs on the
// vector units: four vpdpwssd per token and super-block against the rows' minimums in int16
// pairs. Then per token, as the scalar reference: acc = fma(-float(msum), dmin * x.d, acc);
// acc = fma(float(isum), d * x.d, acc), super-block by super-block.
//
// Work shape: a group pair (16 weight rows, one zmm of a token's accumulators) per pass, tokens in
// tiles of 16. Per group pair the weights are expanded once into a per-thread buffer of B tiles
// (per super-block and chain, four tiles of K = 64: B row i holds elements 4i..4i+3 of the 16
// rows, times the digit of their sub-block) with the rows' d, dmin and minimums beside them, and
// every token tile passes over them from cache (Q4_K / Q5_K two token tiles per pass). The
// activations are copied once per call into aligned A tiles. Within a pass the tile unit runs
// ahead of the vector units: a super-block's sums are stored and scaled kPostLag super-blocks
// later. Measurements: docs/performance.md, "K-quants on tiles".
#include "backends/cpu/int8_repacked_matmul.h"

#if JISU_HAVE_AMX_KERNELS

// GCC 12 warns (-Wmaybe-uninitialized) about its own _mm512_undefined_* inside the unmasked
// AVX-512 intrinsics, a false positive (int8_repacked_matmul_amx.cpp uses the zero-masking forms
// instead; here they are too many).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/amx_tiles.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu::amx {

// The layout of the K-quants' activation tiles (prepare_repacked_activation_tiles): for
// `tiles` tiles of 16 tokens, first the A tiles (tile i at i * 16 * n bytes, see
// place_activations), then per token and super-block the sums of its sub-block pairs
// (MinimumSums, token t, super-block s at index t * n / 256 + s).
size_t super_block_activation_tiles_bytes(size_t tiles, size_t n);
void prepare_super_block_activation_tiles(const void* xq, size_t stride_bytes, size_t n, size_t tiles, size_t tile_begin,
                                          size_t tile_end, uint8_t* out);

namespace {

constexpr size_t kTileTokens = 16;
static_assert(kTileTokens == kActivationTileTokens);  // one token tile per activation tile
constexpr size_t kTileBytes = 1024;     // every tile: 16 rows of 64 bytes
constexpr size_t kTileRowBytes = 64;    // A: 64 activation bytes; B: 16 weight rows x 4; C: 16 int32
constexpr size_t kQuadsPerTile = 16;    // K = 64 elements per tile product
constexpr size_t kTilesPerSuperBlock = kActivationSuperBlockElements / 64;
constexpr __mmask16 kAllLanes = 0xffff;  // see int8_repacked_matmul_amx.cpp

// Tile numbers (macros: GCC's tile intrinsics paste them into the instruction text). Q4_K / Q5_K
// run two super-blocks at a time (two chains each: four C tiles); Q6_K one (three chains).
#define JISU_SB_A0 0
#define JISU_SB_A1 1
#define JISU_SB_B0 2
#define JISU_SB_B1 3
#define JISU_SB_C0 4
#define JISU_SB_C1 5
#define JISU_SB_C2 6
#define JISU_SB_C3 7
#define JISU_SB_B2 7  // Q6_K's third weight tile (it needs only three C tiles)

// A super-block's sums are read back this many super-blocks after their tile store (as
// kPostLag in int8_repacked_matmul_amx.cpp: the vector loads then do not wait on the store).
constexpr size_t kPostLag = 2;
constexpr size_t kSumSlots = 4;  // a slot is rewritten only after its super-block was scaled
static_assert(kSumSlots >= kPostLag + 2);

void configure_tiles() {
  TileConfig config;
  for (int tile = 0; tile < 8; ++tile) {
    config.rows[tile] = 16;
    config.colsb[tile] = kTileRowBytes;
  }
  compiler_memory_barrier();  // GCC's ldtilecfg names only the first 8 bytes as its input
  _tile_loadconfig(&config);
}

// The float and minimum terms of one super-block of a group pair, lane n = weight row n.
struct alignas(64) RowTerms {
  float d[16];
  float dmin[16];              // Q4_K / Q5_K
  int32_t min_pairs[4][16];    // Q4_K / Q5_K: int16 pair (m_2p, m_2p+1) of each row
};

// Byte j of the 16 rows of the pair, from 8 bytes at p0 (rows 0..7) and p1 (rows 8..15; null:
// the pair's missing group, zero), zero-extended to int32 lanes.
__m512i rows_bytes(const uint8_t* p0, const uint8_t* p1) {
  uint64_t lo, hi = 0;
  std::memcpy(&lo, p0, 8);
  if (p1) std::memcpy(&hi, p1, 8);
  return _mm512_cvtepu8_epi32(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
}

// 16 fp16 values (8 at p0, 8 at p1 or zeros) as floats.
__m512 rows_halves(const uint8_t* p0, const uint8_t* p1) {
  __m256i v = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0)));
  if (p1) v = _mm256_inserti128_si256(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1);
  else v = _mm256_inserti128_si256(v, _mm_setzero_si128(), 1);
  return _mm512_maskz_cvtph_ps(kAllLanes, v);
}

// 32 bytes at p0 (rows 0..7's lanes) and at p1 (rows 8..15's; null: zeros): one B tile row.
__m512i rows_vector(const uint8_t* p0, const uint8_t* p1) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0));
  const __m256i hi = p1 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)) : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Bytes w times the digit of their int32 lane (each lane's 16-bit halves both hold it), modulo
// 256: the low byte of each 16-bit product is the low byte's, the high byte's comes from a
// second product without the low byte's carry.
__m512i times_digit(__m512i w, __m512i digit) {
  const __m512i low = _mm512_mullo_epi16(w, digit);
  const __m512i high = _mm512_mullo_epi16(_mm512_and_si512(w, _mm512_set1_epi16(static_cast<short>(0xff00))), digit);
  return _mm512_mask_blend_epi8(0xaaaaaaaaaaaaaaaaull, low, high);
}

// As times_digit, for unsigned bytes whose products with the digit are at most 255 (Q4_K, Q5_K):
// the low byte's product then never carries into the high byte, and one multiply does.
__m512i times_small_digit(__m512i u, __m512i digit) { return _mm512_mullo_epi16(u, digit); }

// An int32 value v per lane (|v| < 2^15) as the 16-bit pair (v, v).
__m512i both_halves(__m512i v) {
  return _mm512_or_si512(_mm512_and_si512(v, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(v, 16));
}

// B tile `tile` (elements 64 tile .. + 63) of chain `chain` of super-block s in the pair buffer.
template <class Byte>
Byte* weight_tile(Byte* buffer, size_t chains, size_t s, size_t chain, size_t tile) {
  return buffer + ((s * chains + chain) * kTilesPerSuperBlock + tile) * kTileBytes;
}

// The weights stream from DRAM once per call, and the expansion waited on each super-block's
// first lines (perf: a third of place_q45_k's samples). Like the VNNI kernels
// (int8_repacked_matmul_isa.cpp), each super-block asks for the lines kPrefetchBytes ahead of
// both groups' streams into L2 (past a group's end: the next pair's groups, read next).
constexpr size_t kPrefetchBytes = 4096;
void prefetch_ahead(const uint8_t* p0, const uint8_t* p1, size_t bytes) {
  for (size_t offset = 0; offset < bytes; offset += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p0 + kPrefetchBytes + offset), _MM_HINT_T1);
    if (p1) _mm_prefetch(reinterpret_cast<const char*>(p1 + kPrefetchBytes + offset), _MM_HINT_T1);
  }
}

// Q4_K / Q5_K: expands super-blocks of groups g0 and g1 (null: the pair's missing group) into
// two chains of B tiles (digits lo, hi of the sub-block scales) and the row terms.
template <bool kFifthBit>
void place_q45_k(const uint8_t* g0, const uint8_t* g1, size_t super_blocks, int8_t* buffer, RowTerms* terms) {
  const RepackedK45Layout& layout = repacked_k45_layout(kFifthBit);
  for (size_t s = 0; s < super_blocks; ++s) {
    const uint8_t* b0 = g0 + s * layout.bytes;
    const uint8_t* b1 = g1 ? g1 + s * layout.bytes : nullptr;
    prefetch_ahead(b0, b1, layout.bytes);
    const auto at = [&](size_t offset) { return b1 ? b1 + offset : nullptr; };
    __m512i digits[8][2];
    for (size_t c = 0; c < 8; ++c) {
      const __m512i scale = rows_bytes(b0 + layout.scales + 8 * c, at(layout.scales + 8 * c));
      digits[c][0] = both_halves(_mm512_and_si512(scale, _mm512_set1_epi32(7)));
      digits[c][1] = both_halves(_mm512_srli_epi32(scale, 3));
    }
    for (size_t h = 0; h < 4; ++h) {
      for (size_t k = 0; k < 8; ++k) {
        // Low nibbles: elements 64h + 4k .. + 3 (sub-block 2h, B row k of tile h); high nibbles:
        // 64h + 32 + 4k .. (sub-block 2h + 1, B row 8 + k).
        const __m512i v = rows_vector(b0 + 32 * (8 * h + k), at(32 * (8 * h + k)));
        __m512i u[2] = {_mm512_and_si512(v, _mm512_set1_epi8(15)), _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15))};
        if constexpr (kFifthBit) {
          const __m512i qh = rows_vector(b0 + layout.high + 32 * k, at(layout.high + 32 * k));
          for (size_t half = 0; half < 2; ++half) {
            const unsigned c = static_cast<unsigned>(2 * h + half);  // bit c of qh: bit 4 of the element
            const __m512i moved = c <= 4 ? _mm512_sll_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(4 - c)))
                                         : _mm512_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(c - 4)));
            u[half] = _mm512_or_si512(u[half], _mm512_and_si512(moved, _mm512_set1_epi8(0x10)));
          }
        }
        for (size_t half = 0; half < 2; ++half)
          for (size_t chain = 0; chain < 2; ++chain)
            _mm512_store_si512(weight_tile(buffer, 2, s, chain, h) + (8 * half + k) * kTileRowBytes,
                               times_small_digit(u[half], digits[2 * h + half][chain]));
      }
    }
    RowTerms& t = terms[s];
    _mm512_store_ps(t.d, rows_halves(b0 + layout.d, at(layout.d)));
    _mm512_store_ps(t.dmin, rows_halves(b0 + layout.dmin, at(layout.dmin)));
    for (size_t p = 0; p < 4; ++p) {
      const __m512i even = rows_bytes(b0 + layout.mins + 16 * p, at(layout.mins + 16 * p));
      const __m512i odd = rows_bytes(b0 + layout.mins + 16 * p + 8, at(layout.mins + 16 * p + 8));
      _mm512_store_si512(t.min_pairs[p], _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
    }
  }
}

// round(v / 7) for |v| <= 128 (v / 7 is never halfway between integers).
__m512i round_div7(__m512i v) {
  const __m512 q = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(1.0f / 7.0f));
  return _mm512_cvtps_epi32(_mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Q6_K: expands super-blocks of groups g0 and g1 (null: missing) into three chains of B tiles
// (the balanced base-7 digits of the 16-element sub-block scales) and the rows' d. Element
// 128h + 32c + l takes nibble c / 2 of ql byte 64h + 32 (c % 2) + l and bits 2c, 2c + 1 of qh
// byte 32h + l (int8_repacked_weights.h).
void place_q6_k(const uint8_t* g0, const uint8_t* g1, size_t super_blocks, int8_t* buffer, RowTerms* terms) {
  for (size_t s = 0; s < super_blocks; ++s) {
    const uint8_t* b0 = g0 + s * kRepackedQ6KBytes;
    const uint8_t* b1 = g1 ? g1 + s * kRepackedQ6KBytes : nullptr;
    prefetch_ahead(b0, b1, kRepackedQ6KBytes);
    const auto at = [&](size_t offset) { return b1 ? b1 + offset : nullptr; };
    __m512i digits[16][3];
    for (size_t q = 0; q < 16; ++q) {
      const __m512i scale = _mm512_cvtepi8_epi32(_mm512_cvtepi32_epi8(
          rows_bytes(b0 + kRepackedQ6KScales + 8 * q, at(kRepackedQ6KScales + 8 * q))));  // sign-extended
      const __m512i s1 = round_div7(scale);
      const __m512i d2 = round_div7(s1);
      digits[q][0] = both_halves(_mm512_sub_epi32(scale, _mm512_mullo_epi32(s1, _mm512_set1_epi32(7))));
      digits[q][1] = both_halves(_mm512_sub_epi32(s1, _mm512_mullo_epi32(d2, _mm512_set1_epi32(7))));
      digits[q][2] = both_halves(d2);
    }
    for (size_t quad = 0; quad < 64; ++quad) {  // elements 4 quad .. + 3
      const size_t h = quad / 32, c = quad % 32 / 8, l4 = quad % 8;
      const size_t low_vector = 16 * h + 8 * (c % 2) + l4, high_vector = 8 * h + l4;
      const __m512i ql = rows_vector(b0 + 32 * low_vector, at(32 * low_vector));
      const __m512i qh = rows_vector(b0 + kRepackedQ6KHigh + 32 * high_vector, at(kRepackedQ6KHigh + 32 * high_vector));
      const __m512i low = _mm512_and_si512(c < 2 ? ql : _mm512_srli_epi16(ql, 4), _mm512_set1_epi8(15));
      const __m512i high = 2 * c <= 4 ? _mm512_sll_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(4 - 2 * c)))
                                      : _mm512_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * c - 4)));
      const __m512i u = _mm512_or_si512(low, _mm512_and_si512(high, _mm512_set1_epi8(0x30)));
      const __m512i w = _mm512_sub_epi8(u, _mm512_set1_epi8(32));
      const size_t sub_block = 8 * h + 2 * c + l4 / 4;
      for (size_t chain = 0; chain < 3; ++chain)
        _mm512_store_si512(weight_tile(buffer, 3, s, chain, quad / kQuadsPerTile) + quad % kQuadsPerTile * kTileRowBytes,
                           times_digit(w, digits[sub_block][chain]));
    }
  }
  const size_t d_offset = super_blocks * kRepackedQ6KBytes;
  for (size_t s = 0; s < super_blocks; ++s)
    _mm512_store_ps(terms[s].d, rows_halves(g0 + d_offset + s * 16, g1 ? g1 + d_offset + s * 16 : nullptr));
}

// Per token and super-block, the int16 pairs (T_2p, T_2p+1) of the activation sums of the
// 32-element sub-blocks, T_c = sums[2c] + sums[2c + 1] (|T_c| <= 32 * 127).
struct MinimumSums {
  int32_t pairs[4];
};

// Tokens [t_begin, t_end): out[t * super_blocks + s].
void minimum_sums(const void* xq, size_t stride_bytes, size_t t_begin, size_t t_end, size_t super_blocks, MinimumSums* out) {
  for (size_t t = t_begin; t < t_end; ++t) {
    const auto* x = reinterpret_cast<const ActivationSuperBlock*>(static_cast<const uint8_t*>(xq) + t * stride_bytes);
    for (size_t s = 0; s < super_blocks; ++s) {
      // T_0..T_7 as int32 (madd of the 16 sums with ones), packed to int16 without saturating
      // (|T_c| <= 4064): each 128-bit half holds its four twice; its low 64 bits, both halves
      // together, are T_0..T_7 in order.
      const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[s].sums));
      const __m256i t32 = _mm256_madd_epi16(sums, _mm256_set1_epi16(1));
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(t32, t32), 0b1000);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out[t * super_blocks + s].pairs), _mm256_castsi256_si128(packed));
    }
  }
}

enum class Kind { Q45, Q6 };

// Tokens [t0, t0 + 16) of the group pair at column 8g (columns: 16 with pair, else 8).
// The activation bytes of token tiles [tile_begin, tile_end) as A tiles: per token tile of 16,
// super-block and 64 elements, 1 KiB (row t: token t's 64 bytes), 64-byte aligned, so that a
// tile load reads 16 whole cache lines in sequence (from the ActivationSuperBlock rows it would
// read 32, the qs being 36 bytes into each 292-byte block). out: the first tile's start.
void place_activations(const void* xq, size_t stride_bytes, size_t tile_begin, size_t tile_end, size_t super_blocks,
                       int8_t* out) {
  // In the order of the output (stores in sequence; the loads take 16 rows at a time).
  out += tile_begin * super_blocks * kTilesPerSuperBlock * kTileBytes;
  for (size_t t0 = tile_begin * kTileTokens; t0 < tile_end * kTileTokens; t0 += kTileTokens)
    for (size_t s = 0; s < super_blocks; ++s)
      for (size_t tile = 0; tile < kTilesPerSuperBlock; ++tile, out += kTileBytes)
        for (size_t t = 0; t < kTileTokens; ++t) {
          const auto* x = reinterpret_cast<const ActivationSuperBlock*>(static_cast<const uint8_t*>(xq) + (t0 + t) * stride_bytes);
          _mm512_store_si512(out + t * kTileRowBytes, _mm512_loadu_si512(x[s].qs + 64 * tile));
        }
}

// Tokens [t0, t0 + 16 kTokenTiles) of the group pair at column 8g (columns: 16 with pair, else 8).
// Q4_K / Q5_K take two token tiles at a time, so that each weight tile loaded serves both (four
// C tiles: two tokens tiles x two chains); Q6_K's three chains leave tiles for one.
template <Kind kKind, size_t kTokenTiles>
void group_pair_tile(const RepackedMatmulArgs& a, size_t g, bool pair, const int8_t* weights, const RowTerms* terms,
                     const MinimumSums* minimum_sums, const int8_t* activation_tiles, size_t t0) {
  constexpr size_t kChains = kKind == Kind::Q45 ? 2 : 3;
  constexpr size_t kTokens = kTokenTiles * kTileTokens;
  const size_t super_blocks = a.n / kActivationSuperBlockElements;
  const auto* x0 = static_cast<const uint8_t*>(a.xq) + t0 * a.xq_stride_bytes;
  const size_t token_tile_bytes = super_blocks * kTilesPerSuperBlock * kTileBytes;
  const int8_t* token_tiles = activation_tiles + t0 / kTileTokens * token_tile_bytes;
  const auto activations = [&](size_t token_tile, size_t s, size_t tile) {
    return token_tiles + token_tile * token_tile_bytes + (s * kTilesPerSuperBlock + tile) * kTileBytes;
  };
  const auto weight = [&](size_t s, size_t chain, size_t tile) {
    return weight_tile(weights, kChains, s, chain, tile);
  };
  // slot: super-block % kSumSlots; then token tile, chain, token, row.
  alignas(64) int32_t sums[kSumSlots][kTokenTiles][kChains][kTileTokens][16];
  __m512 acc[kTokens];
  for (auto& v : acc) v = _mm512_setzero_ps();
  const auto scale_super_block = [&](size_t s) {
    const RowTerms& rt = terms[s];
    const __m512 d = _mm512_load_ps(rt.d);
    for (size_t t = 0; t < kTokens; ++t) {
      const auto& c = sums[s % kSumSlots][t / kTileTokens];
      const size_t row = t % kTileTokens;
      const float dx = reinterpret_cast<const ActivationSuperBlock*>(x0 + t * a.xq_stride_bytes)[s].d;
      const __m512i c0 = _mm512_load_si512(c[0][row]), c1 = _mm512_load_si512(c[1][row]);
      __m512i isum;
      if constexpr (kKind == Kind::Q45) {
        isum = _mm512_add_epi32(c0, _mm512_slli_epi32(c1, 3));
        const MinimumSums& m = minimum_sums[(t0 + t) * super_blocks + s];
        __m512i msum = _mm512_setzero_si512();
        for (size_t p = 0; p < 4; ++p)
          msum = _mm512_dpwssd_epi32(msum, _mm512_load_si512(rt.min_pairs[p]), _mm512_set1_epi32(m.pairs[p]));
        acc[t] = _mm512_fnmadd_ps(_mm512_maskz_cvtepi32_ps(kAllLanes, msum), _mm512_mul_ps(_mm512_load_ps(rt.dmin), _mm512_set1_ps(dx)), acc[t]);
      } else {
        const __m512i c2 = _mm512_load_si512(c[kChains - 1][row]);
        const __m512i inner = _mm512_add_epi32(c1, _mm512_sub_epi32(_mm512_slli_epi32(c2, 3), c2));  // C1 + 7 C2
        isum = _mm512_add_epi32(c0, _mm512_sub_epi32(_mm512_slli_epi32(inner, 3), inner));
      }
      acc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(kAllLanes, isum), _mm512_mul_ps(d, _mm512_set1_ps(dx)), acc[t]);
    }
  };
  const auto stride = static_cast<long>(kTileRowBytes);
  size_t scaled = 0;  // super-blocks whose sums are in acc
  size_t s = 0;
  if constexpr (kKind == Kind::Q45 && kTokenTiles == 2) {
    // C0 / C1: token tile 0's chains lo / hi; C2 / C3: token tile 1's.
    for (; s < super_blocks; ++s) {
      _tile_zero(JISU_SB_C0);
      _tile_zero(JISU_SB_C1);
      _tile_zero(JISU_SB_C2);
      _tile_zero(JISU_SB_C3);
      for (size_t tile = 0; tile < kTilesPerSuperBlock; ++tile) {
        _tile_loadd(JISU_SB_A0, activations(0, s, tile), stride);
        _tile_loadd(JISU_SB_A1, activations(1, s, tile), stride);
        _tile_loadd(JISU_SB_B0, weight(s, 0, tile), kTileRowBytes);
        _tile_dpbsud(JISU_SB_C0, JISU_SB_A0, JISU_SB_B0);
        _tile_dpbsud(JISU_SB_C2, JISU_SB_A1, JISU_SB_B0);
        _tile_loadd(JISU_SB_B1, weight(s, 1, tile), kTileRowBytes);
        _tile_dpbsud(JISU_SB_C1, JISU_SB_A0, JISU_SB_B1);
        _tile_dpbsud(JISU_SB_C3, JISU_SB_A1, JISU_SB_B1);
      }
      _tile_stored(JISU_SB_C0, &sums[s % kSumSlots][0][0][0][0], kTileRowBytes);
      _tile_stored(JISU_SB_C1, &sums[s % kSumSlots][0][1][0][0], kTileRowBytes);
      _tile_stored(JISU_SB_C2, &sums[s % kSumSlots][kTokenTiles - 1][0][0][0], kTileRowBytes);
      _tile_stored(JISU_SB_C3, &sums[s % kSumSlots][kTokenTiles - 1][1][0][0], kTileRowBytes);
      for (; scaled + kPostLag <= s; ++scaled) scale_super_block(scaled);
    }
  } else if constexpr (kKind == Kind::Q45) {
// Super-block `sb`'s two chains into CL (digit lo) and CH (digit hi), A and B tiles alternating.
#define JISU_Q45_PRODUCT(sb, CL, CH)                                           \
  _tile_zero(CL);                                                              \
  _tile_zero(CH);                                                              \
  for (size_t tile = 0; tile < kTilesPerSuperBlock; tile += 2) {               \
    _tile_loadd(JISU_SB_A0, activations(0, sb, tile), stride);                 \
    _tile_loadd(JISU_SB_B0, weight(sb, 0, tile), kTileRowBytes);               \
    _tile_dpbsud(CL, JISU_SB_A0, JISU_SB_B0);                                  \
    _tile_loadd(JISU_SB_B1, weight(sb, 1, tile), kTileRowBytes);               \
    _tile_dpbsud(CH, JISU_SB_A0, JISU_SB_B1);                                  \
    _tile_loadd(JISU_SB_A1, activations(0, sb, tile + 1), stride);             \
    _tile_loadd(JISU_SB_B0, weight(sb, 0, tile + 1), kTileRowBytes);           \
    _tile_dpbsud(CL, JISU_SB_A1, JISU_SB_B0);                                  \
    _tile_loadd(JISU_SB_B1, weight(sb, 1, tile + 1), kTileRowBytes);           \
    _tile_dpbsud(CH, JISU_SB_A1, JISU_SB_B1);                                  \
  }
#define JISU_Q45_STORE(sb, CL, CH)                                             \
  _tile_stored(CL, &sums[(sb) % kSumSlots][0][0][0][0], kTileRowBytes);        \
  _tile_stored(CH, &sums[(sb) % kSumSlots][0][1][0][0], kTileRowBytes)
    for (; s + 2 <= super_blocks; s += 2) {
      JISU_Q45_PRODUCT(s, JISU_SB_C0, JISU_SB_C1)
      JISU_Q45_PRODUCT(s + 1, JISU_SB_C2, JISU_SB_C3)
      JISU_Q45_STORE(s, JISU_SB_C0, JISU_SB_C1);
      JISU_Q45_STORE(s + 1, JISU_SB_C2, JISU_SB_C3);
      for (; scaled + kPostLag <= s + 1; ++scaled) scale_super_block(scaled);
    }
    if (s < super_blocks) {
      JISU_Q45_PRODUCT(s, JISU_SB_C0, JISU_SB_C1)
      JISU_Q45_STORE(s, JISU_SB_C0, JISU_SB_C1);
    }
#undef JISU_Q45_PRODUCT
#undef JISU_Q45_STORE
  } else {
    for (; s < super_blocks; ++s) {
      _tile_zero(JISU_SB_C0);
      _tile_zero(JISU_SB_C1);
      _tile_zero(JISU_SB_C2);
      for (size_t tile = 0; tile < kTilesPerSuperBlock; tile += 2) {
#define JISU_Q6_TILE(A, tl)                                          \
  _tile_loadd(A, activations(0, s, tl), stride);                     \
  _tile_loadd(JISU_SB_B0, weight(s, 0, tl), kTileRowBytes);          \
  _tile_dpbssd(JISU_SB_C0, A, JISU_SB_B0);                           \
  _tile_loadd(JISU_SB_B1, weight(s, 1, tl), kTileRowBytes);          \
  _tile_dpbssd(JISU_SB_C1, A, JISU_SB_B1);                           \
  _tile_loadd(JISU_SB_B2, weight(s, 2, tl), kTileRowBytes);          \
  _tile_dpbssd(JISU_SB_C2, A, JISU_SB_B2)
        JISU_Q6_TILE(JISU_SB_A0, tile);
        JISU_Q6_TILE(JISU_SB_A1, tile + 1);
#undef JISU_Q6_TILE
      }
      _tile_stored(JISU_SB_C0, &sums[s % kSumSlots][0][0][0][0], kTileRowBytes);
      _tile_stored(JISU_SB_C1, &sums[s % kSumSlots][0][1][0][0], kTileRowBytes);
      _tile_stored(JISU_SB_C2, &sums[s % kSumSlots][0][kChains - 1][0][0], kTileRowBytes);
      for (; scaled + kPostLag <= s; ++scaled) scale_super_block(scaled);
    }
  }
  for (; scaled < super_blocks; ++scaled) scale_super_block(scaled);
  const __mmask16 columns = pair ? 0xffff : 0x00ff;
  for (size_t t = 0; t < kTokens; ++t) _mm512_mask_storeu_ps(a.y + (t0 + t) * a.y_stride + g * kRepackRows, columns, acc[t]);
}

template <Kind kKind>
void tiles(const RepackedMatmulArgs& a, size_t whole_tokens) {
  constexpr size_t kChains = kKind == Kind::Q45 ? 2 : 3;
  const size_t super_blocks = a.n / kActivationSuperBlockElements;
  const size_t weight_bytes = super_blocks * kChains * kTilesPerSuperBlock * kTileBytes;
  int8_t* weights = thread_buffer<1>(weight_bytes + super_blocks * sizeof(RowTerms));
  auto* terms = reinterpret_cast<RowTerms*>(weights + weight_bytes);
  // The activation tiles: the backend's, made once per input, or this thread's own.
  const size_t n_tiles = whole_tokens / kTileTokens;
  const bool given = a.xq_tiles != nullptr && a.xq_tile_count >= n_tiles;
  const size_t tiles_total = given ? a.xq_tile_count : n_tiles;
  const uint8_t* prepared = a.xq_tiles;
  if (!given) {
    auto* own = reinterpret_cast<uint8_t*>(thread_buffer<2>(super_block_activation_tiles_bytes(n_tiles, a.n)));
    prepare_super_block_activation_tiles(a.xq, a.xq_stride_bytes, a.n, n_tiles, 0, n_tiles, own);
    prepared = own;
  }
  const auto* activation_tiles = reinterpret_cast<const int8_t*>(prepared);
  const auto* sums = reinterpret_cast<const MinimumSums*>(prepared + tiles_total * kTileTokens * a.n);
  configure_tiles();
  const size_t g_end = a.row_end / kRepackRows;
  for (size_t g = a.row_begin / kRepackRows; g < g_end; g += 2) {
    const bool pair = g + 1 < g_end;
    const uint8_t* g0 = a.w + g * a.group_bytes;
    const uint8_t* g1 = pair ? g0 + a.group_bytes : nullptr;
    if (a.type == DType::Q4_K) place_q45_k<false>(g0, g1, super_blocks, weights, terms);
    else if (a.type == DType::Q5_K) place_q45_k<true>(g0, g1, super_blocks, weights, terms);
    else place_q6_k(g0, g1, super_blocks, weights, terms);
    compiler_memory_barrier();
    size_t t0 = 0;
    if constexpr (kKind == Kind::Q45)
      for (; t0 + 2 * kTileTokens <= whole_tokens; t0 += 2 * kTileTokens)
        group_pair_tile<kKind, 2>(a, g, pair, weights, terms, sums, activation_tiles, t0);
    for (; t0 < whole_tokens; t0 += kTileTokens) group_pair_tile<kKind, 1>(a, g, pair, weights, terms, sums, activation_tiles, t0);
  }
  _tile_release();
}

}  // namespace

size_t super_block_activation_tiles_bytes(size_t tiles, size_t n) {
  const size_t tokens = tiles * kTileTokens, super_blocks = n / kActivationSuperBlockElements;
  return tokens * n + tokens * super_blocks * sizeof(MinimumSums);
}

void prepare_super_block_activation_tiles(const void* xq, size_t stride_bytes, size_t n, size_t tiles, size_t tile_begin,
                                          size_t tile_end, uint8_t* out) {
  const size_t super_blocks = n / kActivationSuperBlockElements;
  place_activations(xq, stride_bytes, tile_begin, tile_end, super_blocks, reinterpret_cast<int8_t*>(out));
  minimum_sums(xq, stride_bytes, tile_begin * kTileTokens, tile_end * kTileTokens, super_blocks,
               reinterpret_cast<MinimumSums*>(out + tiles * kTileTokens * n));
}

void matmul_repacked_super_block_tiles(const RepackedMatmulArgs& a, size_t whole_tokens) {
  if (a.type == DType::Q6_K) tiles<Kind::Q6>(a, whole_tokens);
  else tiles<Kind::Q45>(a, whole_tokens);
}

}  // namespace jisu::cpu::amx

#endif  // JISU_HAVE_AMX_KERNELS
