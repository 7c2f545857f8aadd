#include "parallel/grid_checks.h"

#include <string>

namespace jisu {

void check_grid_size(const GridOptions& options, int world_size) {
  if (options.tensor_parallel < 1 || options.pipeline_parallel < 1)
    throw Error("--tp and --pp must be at least 1");
  if (options.timeout_seconds <= 0) throw Error("--grid-timeout must be positive");
  const int64_t wanted = int64_t{options.tensor_parallel} * options.pipeline_parallel;
  if (wanted != world_size)
    throw Error("--tp " + std::to_string(options.tensor_parallel) + " --pp " + std::to_string(options.pipeline_parallel) +
                    " needs " + std::to_string(wanted) + " processes but " + std::to_string(world_size) +
                    (world_size == 1 ? " was started" : " were started"),
                "launch with mpirun -np " + std::to_string(wanted) + " jisu ...");
}

}  // namespace jisu
