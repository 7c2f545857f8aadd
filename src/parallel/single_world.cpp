// The world of a build without MPI: one process. A grid of more needs an MPI build.
#include "parallel/grid_checks.h"
#include "parallel/world.h"

namespace jisu {

bool mpi_built() { return false; }
int launched_world_size() { return 1; }
bool communication_failed() { return false; }

GridPosition join_grid(const GridOptions& options) {
  if (options.distributed())
    throw Error("--tp and --pp need jisu built with MPI",
                "install libopenmpi-dev (scripts/install_deps.sh) and rebuild");
  check_grid_size(options, 1);
  return {};
}

}  // namespace jisu
