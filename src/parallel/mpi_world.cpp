// The world over MPI (OpenMPI from Debian). Every operation is non-blocking MPI polled against
// a deadline: a peer that died or stalls turns into a CommunicationError on the others within
// the grid's timeout, never a hang. The process that saw one must leave without MPI_Finalize
// (communication_failed()), which would wait for the dead peer.
#include <mpi.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "parallel/grid_checks.h"
#include "parallel/polling_wait.h"
#include "parallel/world.h"

namespace jisu {
namespace {

std::atomic<bool> g_failed{false};

// MPI_Finalize at exit for the process that started MPI, unless a peer failed.
struct MpiSession {
  bool started = false;
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (started && !finalized && !g_failed) MPI_Finalize();
  }
};

MpiSession& session() {
  static MpiSession instance;
  return instance;
}

[[noreturn]] void fail(const std::string& message) {
  g_failed = true;
  throw CommunicationError(message, "another process of the grid died or stopped; see its error");
}

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(length)));
}

int as_count(size_t count) {
  if (count > static_cast<size_t>(INT_MAX)) throw Error("a message of " + std::to_string(count) + " elements is too large for MPI");
  return static_cast<int>(count);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, double timeout_seconds) : comm_(comm), timeout_(timeout_seconds) {
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    sends_.reserve(64);
    receives_.reserve(64);
  }
  ~MpiCommunicator() override {
    if (!g_failed) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void reserve(size_t floats) override {
    if (scratch_.size() < floats * static_cast<size_t>(size_)) scratch_.resize(floats * static_cast<size_t>(size_));
  }

  void all_reduce_sum(float* data, size_t count) override {
    if (size_ == 1) return;
    JISU_ASSERT(count * static_cast<size_t>(size_) <= scratch_.size());
    MPI_Request request;
    check(MPI_Iallgather(data, as_count(count), MPI_FLOAT, scratch_.data(), as_count(count), MPI_FLOAT, comm_, &request),
          "all-reduce");
    wait(request, "all-reduce");
    std::memcpy(data, scratch_.data(), count * sizeof(float));
    for (int r = 1; r < size_; ++r) {
      const float* part = scratch_.data() + static_cast<size_t>(r) * count;
      for (size_t i = 0; i < count; ++i) data[i] += part[i];
    }
  }

  void broadcast(void* data, size_t bytes, int root) override {
    MPI_Request request;
    check(MPI_Ibcast(data, as_count(bytes), MPI_BYTE, root, comm_, &request), "broadcast");
    wait(request, "broadcast");
  }

  void all_gather(const void* mine, size_t bytes, void* all) override {
    MPI_Request request;
    check(MPI_Iallgather(mine, as_count(bytes), MPI_BYTE, all, as_count(bytes), MPI_BYTE, comm_, &request), "all-gather");
    wait(request, "all-gather");
  }

  void receive(void* data, size_t bytes, int peer, int tag) override {
    MPI_Request request;
    check(MPI_Irecv(data, as_count(bytes), MPI_BYTE, peer, tag, comm_, &request), "receive");
    wait(request, "receive from rank " + std::to_string(peer));
  }

  void start_receive(void* data, size_t bytes, int peer, int tag) override {
    MPI_Request request;
    check(MPI_Irecv(data, as_count(bytes), MPI_BYTE, peer, tag, comm_, &request), "receive");
    receives_.push_back({request, peer});
  }

  void wait_oldest_receive() override {
    JISU_ASSERT(!receives_.empty());
    PendingReceive pending = receives_.front();
    receives_.erase(receives_.begin());  // a few entries (one per pipeline stage): no allocation
    wait(pending.request, "receive from rank " + std::to_string(pending.peer));
  }

  void start_send(const void* data, size_t bytes, int peer, int tag) override {
    MPI_Request request;
    check(MPI_Isend(data, as_count(bytes), MPI_BYTE, peer, tag, comm_, &request), "send");
    sends_.push_back(request);
  }

  void wait_sends() override {
    for (MPI_Request& request : sends_) wait(request, "send");
    sends_.clear();
  }

 private:
  // Polls until done or the deadline (parallel/polling_wait.h).
  void wait(MPI_Request& request, const std::string& what) {
    poll_until(
        [&] {
          int done = 0;
          check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what.c_str());
          return done != 0;
        },
        timeout_, [&] { fail(what + " timed out after " + std::to_string(static_cast<int>(timeout_)) + " s"); });
  }

  MPI_Comm comm_;
  double timeout_;
  int rank_ = 0, size_ = 1;
  std::vector<float> scratch_;
  std::vector<MPI_Request> sends_;
  struct PendingReceive {
    MPI_Request request;
    int peer;
  };
  std::vector<PendingReceive> receives_;  // started, oldest first
};

}  // namespace

bool mpi_built() { return true; }

int launched_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(name); value && *value) return std::max(1, std::atoi(value));
  return 1;
}

bool communication_failed() { return g_failed; }

GridPosition join_grid(const GridOptions& options) {
  const int launched = launched_world_size();
  check_grid_size(options, launched);
  GridPosition position;
  if (launched == 1) return position;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // The serving engine's step thread does the steps, the loading thread the setup; never at
    // once, so SERIALIZED suffices.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw Error("MPI did not start");
    session().started = true;
    if (provided < MPI_THREAD_SERIALIZED) throw Error("this MPI cannot be called from more than one thread");
  }
  MPI_Comm world, tensor;
  MPI_Comm_dup(MPI_COMM_WORLD, &world);
  position.world = std::make_unique<MpiCommunicator>(world, options.timeout_seconds);
  position.world_rank = position.world->rank();
  position.world_size = position.world->size();
  position.tensor_size = options.tensor_parallel;
  position.pipeline_size = options.pipeline_parallel;
  position.tensor_rank = position.world_rank % options.tensor_parallel;
  position.pipeline_rank = position.world_rank / options.tensor_parallel;
  MPI_Comm_split(world, position.pipeline_rank, position.tensor_rank, &tensor);
  position.tensor = std::make_unique<MpiCommunicator>(tensor, options.timeout_seconds);
  return position;
}

}  // namespace jisu
