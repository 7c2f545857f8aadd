#pragma once
// Checks of the grid flags that need no communication, shared by the MPI and the single-process
// worlds.
#include "parallel/world.h"

namespace jisu {

// Throws jisu::Error when tp * pp differs from the processes started, or a flag is impossible.
void check_grid_size(const GridOptions& options, int world_size);

}  // namespace jisu
