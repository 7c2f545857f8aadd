#pragma once
// One persistent pool of worker threads for all CPU kernels (-t N). The calling thread takes
// part, so N threads means N-1 workers. parallel_for hands out task indices dynamically from
// an atomic counter; which thread runs a task never changes what the task computes, so results
// do not depend on the thread count.
//
// Dispatch does not allocate or lock on the fast path: workers spin briefly on a generation
// counter before sleeping on a condition variable, because a decode step issues hundreds of
// small parallel regions and waking sleeping threads each time would dominate.
//
// Joining protocol (why the caller never waits for a worker that has not started): a job is
// open while its tasks are being handed out. A worker joins by incrementing active_ and then
// checking open_; the caller, after running tasks itself until none are left, closes the job and
// waits only until active_ is zero. Both sides use sequentially consistent operations, so
// either the caller sees the worker's increment (and waits for it) or the worker sees the job
// closed (and backs out without touching it). On an oversubscribed machine a descheduled worker
// therefore costs nothing: the caller and the running workers take its share.
#include <atomic>
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
  void run_tasks(size_t thread_id);

  size_t n_threads_;
  std::vector<std::thread> workers_;

  // Current job; published by incrementing generation_.
  FunctionRef<void(size_t, size_t)>* job_ = nullptr;
  size_t job_tasks_ = 0;
  std::atomic<size_t> next_task_{0};
  std::atomic<bool> open_{false};
  std::atomic<size_t> active_{0};  // workers that joined (or are checking) the current job
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
};

}  // namespace jisu
