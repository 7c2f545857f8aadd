#pragma once
// One group of 8 rows per tile, or two in a zmm: which the repacked int8 kernels take for more
// tokens than a decode (batched decode, short prompts, prompts without AMX) on the paths that
// have both (KernelTable::repacked_two_group_tiles). They give the same bits. Two groups halve
// the multiply instructions; whether that is faster depends on the core (Sapphire Rapids issues
// a 512-bit vpdpbusd almost as often as a 256-bit one; Zen 4 splits it in two), so it is
// measured once per process, on the active kernels, in about a millisecond.
#include <string>

#include "backends/cpu/kernel_table.h"

namespace jisu::cpu {

struct RepackedTileChoice {
  bool two_groups = false;   // what the backend passes (RepackedMatmulArgs::one_group_tiles = !two_groups)
  bool available = false;    // the kernels have two-group tiles
  bool forced = false;       // JISU_TILE_GROUPS decided, not the measurement
  double one_group_us = 0;   // best time of the probe product with each (0 when not measured)
  double two_groups_us = 0;
};

// Measures `kernels` (one thread, the 8-token product of a 128 x 2048 Q4_0 matrix, the two
// forms alternating, best of several runs) and picks the faster; ties go to two groups.
// JISU_TILE_GROUPS=1 or 2 forces the choice (2 only where available); another value throws.
RepackedTileChoice choose_repacked_tiles(const KernelTable& kernels);

// The choice for the active kernels, made on the first call (thread-safe) and kept.
const RepackedTileChoice& repacked_tile_choice();

// For `jisu bench`, e.g. "vpdpbusd tiles of 3+ tokens: two row groups per zmm (measured at load:
// 21.4 us against 30.2 us with one)"; empty where the kernels have one form only.
std::string describe(const RepackedTileChoice& choice);

}  // namespace jisu::cpu
