#pragma once
// One persistent pool of worker threads for all CPU kernels (-t N). The calling thread takes
// part, so N threads means N-1 workers. parallel_for hands out task indices dynamically from
// an atomic counter; which thread runs a task never changes what the task computes, so results
// do not depend on the thread count.
//
// Dispatch does not allocate or lock while workers are awake: they spin briefly on a
// generation counter before sleeping on a condition variable (the dispatcher takes the mutex
// only when one sleeps), because a decode step issues hundreds of small parallel regions and
// waking sleeping threads each time would dominate.
//
// parallel_for returns as soon as every task has run, whichever threads ran them: it never
// waits for a worker that has not started (on a machine with more runnable threads than cores
// a preempted worker would otherwise stall every op by a scheduler time slice). Tasks are
// claimed from one atomic word holding (job generation, task count, next index), so a late
// worker can only claim tasks of the job that is current at that instant, and the job it
// claims from cannot finish (and its callable go away) before the claimed task has run.
#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "core/function_ref.h"

namespace jisu {

class ThreadPool {
 public:
  explicit ThreadPool(size_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return n_threads_; }

  // Runs task(index, thread_id) for index in [0, n_tasks) across the pool and returns when all
  // are done. thread_id < size() identifies the executing thread (for per-thread scratch).
  // Not reentrant: a task must not call parallel_for.
  void parallel_for(size_t n_tasks, FunctionRef<void(size_t index, size_t thread_id)> task);

  // Default thread count: the physical cores available to this process.
  static size_t default_thread_count();

 private:
  void worker_loop(size_t thread_id);
  void stop_workers();  // wakes and joins every started worker
  void run_tasks(size_t thread_id);
  void run_job(size_t n_tasks, FunctionRef<void(size_t, size_t)>& task);

  size_t n_threads_;
  std::vector<std::thread> workers_;

  // Current job. claim_ packs generation (24 bits) | task count (20 bits) | next index (20 bits).
  static constexpr int kIndexBits = 20;
  static constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
  FunctionRef<void(size_t, size_t)>* job_ = nullptr;
  std::atomic<uint64_t> claim_{0};
  std::atomic<size_t> tasks_done_{0};
  uint64_t job_generation_ = 0;  // written by the calling thread only
  std::atomic<uint64_t> generation_{0};  // wake-up signal for spinning / sleeping workers
  std::atomic<size_t> sleepers_{0};       // workers in (or about to enter) wake_.wait
  std::atomic<bool> stopping_{false};

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
};

}  // namespace jisu
