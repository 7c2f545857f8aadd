#pragma once
// The process grid of `mpirun -np K jisu ... --tp N --pp M`: K = N * M processes, tensor rank
// = rank % N, pipeline rank = rank / N. Without MPI in the build, or when not launched by
// mpirun, the world is one process and --tp 1 --pp 1 run exactly as before.
#include <cstdint>
#include <memory>
#include <string>

#include <jisu/process_grid.h>

#include "parallel/communicator.h"

namespace jisu {

using GridOptions = ProcessGrid;

// This process's place in the grid and the groups it talks to.
struct GridPosition {
  int world_rank = 0, world_size = 1;
  int tensor_rank = 0, tensor_size = 1;
  int pipeline_rank = 0, pipeline_size = 1;
  std::unique_ptr<Communicator> world;   // every process
  std::unique_ptr<Communicator> tensor;  // the ranks of this pipeline stage
};

// True when this binary was built with MPI.
bool mpi_built();
// The number of processes mpirun started (1 when not launched by it); does not start MPI.
int launched_world_size();
// Starts MPI when needed and checks that the world matches the grid: one line naming the
// problem otherwise (on every rank, before any communication).
GridPosition join_grid(const GridOptions& options);
// Called on the error path before exit: true when a peer failed (the process must then leave
// without MPI_Finalize, which would wait for it).
bool communication_failed();

}  // namespace jisu
