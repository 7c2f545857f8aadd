// The NCCL communicator (parallel/nccl_communicator.h): a non-blocking NCCL communicator whose
// operations run on one CUDA stream; each wait polls an event recorded after the operation
// together with NCCL's asynchronous error, against the grid's deadline, and a late or failed
// operation aborts the communicator (so no kernel keeps waiting for a dead peer) and throws.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <vector>

#include "parallel/nccl_communicator.h"
#include "parallel/polling_wait.h"

namespace jisu {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw CommunicationError(message, "another process of the grid died or stopped; see its error");
}

void check_cuda(cudaError_t code, const char* what) {
  if (code != cudaSuccess) fail(std::string(what) + " failed: " + cudaGetErrorString(code));
}

// What rank 0 broadcasts over the host group: the id, or why it could not make one.
struct IdMessage {
  ncclUniqueId id{};
  int32_t failed = 0;
};

constexpr size_t kEvents = 64;  // operations in flight at most (sends and receives started ahead)

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& host_group, int device, double timeout_seconds)
      : timeout_(timeout_seconds), rank_(host_group.rank()), size_(host_group.size()) {
    IdMessage message;
    if (rank_ == 0) message.failed = ncclGetUniqueId(&message.id) != ncclSuccess;
    host_group.broadcast(&message, sizeof message, 0);
    if (message.failed) throw Error("NCCL could not create its unique id on rank 0");
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    free_events_.reserve(kEvents);
    for (size_t i = 0; i < kEvents; ++i) {
      cudaEvent_t event;
      check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
      free_events_.push_back(event);
    }
    receives_.reserve(kEvents);
    sends_.reserve(kEvents);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // every call returns at once; completion is polled against the deadline
    issued(ncclCommInitRankConfig(&comm_, size_, message.id, rank_, &config), "NCCL start");
  }

  // Finalizes (waiting at most the timeout for the peers), else aborts; never throws.
  ~NcclCommunicator() override {
    if (comm_ && !aborted_) {
      ncclResult_t state = ncclCommFinalize(comm_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
      while (state == ncclInProgress && std::chrono::steady_clock::now() < deadline)
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
      if (state == ncclSuccess)
        ncclCommDestroy(comm_);
      else
        ncclCommAbort(comm_);
    }
    for (cudaEvent_t event : free_events_) cudaEventDestroy(event);
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void reserve(size_t) override {}  // NCCL reduces in place

  void all_reduce_sum(float* data, size_t count) override {
    if (size_ == 1) return;
    issued(ncclAllReduce(data, data, count, ncclFloat, ncclSum, comm_, stream_), "all-reduce");
    wait_stream("all-reduce");
  }
  void broadcast(void* data, size_t bytes, int root) override {
    issued(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "broadcast");
    wait_stream("broadcast");
  }
  void all_gather(const void* mine, size_t bytes, void* all) override {
    issued(ncclAllGather(mine, all, bytes, ncclUint8, comm_, stream_), "all-gather");
    wait_stream("all-gather");
  }
  // Tags are not sent: messages between two members match in the order they were started.
  void receive(void* data, size_t bytes, int peer, int) override {
    issued(ncclRecv(data, bytes, ncclUint8, peer, comm_, stream_), "receive");
    wait_stream("receive from rank " + std::to_string(peer));
  }
  void start_receive(void* data, size_t bytes, int peer, int) override {
    issued(ncclRecv(data, bytes, ncclUint8, peer, comm_, stream_), "receive");
    receives_.push_back(record());
  }
  void wait_oldest_receive() override {
    JISU_ASSERT(!receives_.empty());
    const cudaEvent_t event = receives_.front();
    receives_.erase(receives_.begin());  // a few entries: no allocation
    wait_event(event, "receive");
  }
  void start_send(const void* data, size_t bytes, int peer, int) override {
    issued(ncclSend(data, bytes, ncclUint8, peer, comm_, stream_), "send");
    sends_.push_back(record());
  }
  void wait_sends() override {
    for (cudaEvent_t event : sends_) wait_event(event, "send");
    sends_.clear();
  }

 private:
  // A late or failed operation: abort the communicator (its kernels stop waiting) and throw.
  [[noreturn]] void abort_with(const std::string& message) {
    if (comm_ && !aborted_) {
      aborted_ = true;
      ncclCommAbort(comm_);
    }
    fail(message);
  }

  // True once the last call finished; fails on an error.
  bool settled() {
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) return false;
    if (state != ncclSuccess && state != ncclInProgress)
      abort_with(std::string("NCCL failed: ") + ncclGetErrorString(state));
    return state == ncclSuccess;
  }

  // After a call on the non-blocking communicator: it may still be in progress (the next call
  // must wait for it).
  void issued(ncclResult_t result, const std::string& what) {
    if (result != ncclSuccess && result != ncclInProgress) abort_with(what + " failed: " + ncclGetErrorString(result));
    if (result == ncclInProgress) poll_until([&] { return settled(); }, timeout_, [&] { timed_out(what); });
  }

  [[noreturn]] void timed_out(const std::string& what) {
    abort_with(what + " timed out after " + std::to_string(static_cast<int>(timeout_)) + " s");
  }

  cudaEvent_t record() {
    JISU_ASSERT(!free_events_.empty());
    const cudaEvent_t event = free_events_.back();
    free_events_.pop_back();
    check_cuda(cudaEventRecord(event, stream_), "cudaEventRecord");
    return event;
  }

  void wait_event(cudaEvent_t event, const std::string& what) {
    poll_until(
        [&] {
          const cudaError_t status = cudaEventQuery(event);
          if (status == cudaSuccess) return true;
          if (status != cudaErrorNotReady) abort_with(what + " failed: " + cudaGetErrorString(status));
          settled();  // throws on NCCL's asynchronous error
          return false;
        },
        timeout_, [&] { timed_out(what); });
    free_events_.push_back(event);
  }

  void wait_stream(const std::string& what) { wait_event(record(), what); }

  double timeout_;
  int rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> free_events_, receives_, sends_;
};

}  // namespace

bool nccl_built() { return true; }

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host_group, int device, double timeout_seconds) {
  return std::make_unique<NcclCommunicator>(host_group, device, timeout_seconds);
}

}  // namespace jisu
