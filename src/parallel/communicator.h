#pragma once
// A group of processes that exchange data: the whole grid (the step broadcast, pipeline sends)
// or one pipeline stage's tensor-parallel ranks (all-reduce). Implemented over MPI
// (mpi_world.cpp); every operation waits at most the grid's timeout and then throws
// CommunicationError, so a dead or stuck peer ends the others with an error instead of a hang.
//
// Invariant: all_reduce_sum leaves bit-identical results on every member (sums in rank order),
// so ranks that replicate the hidden state never drift apart.
#include <cstddef>

#include "core/error.h"

namespace jisu {

// A collective or point-to-point operation did not complete in time (a peer died or stalls).
// The process must then exit without MPI_Finalize (parallel/world.h: communication_failed()).
class CommunicationError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Scratch for all_reduce_sum of up to `floats` values, allocated once at load.
  virtual void reserve(size_t floats) = 0;
  // data[i] = sum over members, added in rank order (identical bits on every member).
  virtual void all_reduce_sum(float* data, size_t count) = 0;
  // Root's `bytes` into every member's `data`.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // all[r * bytes ...] = member r's `mine`.
  virtual void all_gather(const void* mine, size_t bytes, void* all) = 0;
  virtual void receive(void* data, size_t bytes, int peer, int tag) = 0;
  // Posts a receive without waiting (so that a peer's send completes while this process does
  // other work); `data` must stay untouched until wait_oldest_receive() returned for it.
  // Posted receives complete in the order they were started.
  virtual void start_receive(void* data, size_t bytes, int peer, int tag) = 0;
  virtual void wait_oldest_receive() = 0;
  // Sends without waiting; `data` must stay untouched until wait_sends().
  virtual void start_send(const void* data, size_t bytes, int peer, int tag) = 0;
  virtual void wait_sends() = 0;
};

}  // namespace jisu
