#pragma once
// Collectives between the GPUs of one tensor-parallel group over NCCL, for the CUDA backend
// (built when CMake finds NCCL next to the CUDA toolkit: JISU_NCCL; else make_nccl_communicator
// says so). The same Communicator interface and time-out semantics as the MPI one (a peer that
// dies or stalls ends the others with CommunicationError within the timeout: the operations
// run on a stream polled against a deadline, and a late one aborts the NCCL communicator), but
// every buffer is device memory of this process's GPU. The members are those of an MPI group;
// its rank 0 creates the NCCL unique id and broadcasts it over that group.
//
// NCCL sums in its own order (ring or tree), but every member ends with the same bits, which is
// the invariant the layers need (communicator.h). Point-to-point messages carry no tag in
// NCCL: between two members they match in the order they were started, and one stream runs
// them one after another, so a receive started ahead (start_receive) must not wait for a
// message its peer sends only after one of ours. The grid therefore keeps its pipeline
// transfers (hidden rows through the host, receives posted ahead) on MPI and uses NCCL for the
// tensor group.
//
// Not yet run on a GPU (no device here): the CUDA backend still refuses --tp
// (backends/backend_factory.cpp) until this is verified.
#include <memory>

#include "parallel/communicator.h"

namespace jisu {

// True when this binary was built with NCCL.
bool nccl_built();
// A communicator over the same members (and ranks) as `host_group`, on CUDA device `device`.
// Every member calls it at once. Throws jisu::Error where NCCL is not built in.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host_group, int device, double timeout_seconds);

}  // namespace jisu
