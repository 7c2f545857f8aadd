#include "core/thread_pool.h"

#include <sched.h>

#include <optional>

#if defined(__x86_64__)
#include <immintrin.h>
#define JISU_CPU_RELAX() _mm_pause()
#else
#define JISU_CPU_RELAX() ((void)0)
#endif

namespace jisu {
namespace {
// Spin this many pause instructions waiting before sleeping (workers) or yielding (the
// caller): tens of microseconds on current cores, long enough to cover the gap between two ops
// of a decode step, short enough not to burn a core another process needs.
constexpr int kSpinIterations = 4000;
}  // namespace

ThreadPool::ThreadPool(size_t n_threads) : n_threads_(n_threads == 0 ? 1 : n_threads) {
  workers_.reserve(n_threads_ - 1);
  for (size_t id = 1; id < n_threads_; ++id) workers_.emplace_back([this, id] { worker_loop(id); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

size_t ThreadPool::default_thread_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<size_t>(count);
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware ? hardware : 1;
}

void ThreadPool::run_tasks(size_t thread_id) {
  for (;;) {
    const size_t index = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (index >= job_tasks_) break;
    (*job_)(index, thread_id);
  }
}

void ThreadPool::parallel_for(size_t n_tasks, FunctionRef<void(size_t, size_t)> task) {
  if (n_tasks == 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (size_t i = 0; i < n_tasks; ++i) task(i, 0);
    return;
  }
  // Workers only read these after seeing open_ set (seq_cst store below), so plain writes do.
  job_ = &task;
  job_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  open_.store(true);
  {
    // The lock orders the publication against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(0);
  open_.store(false);
  // Joined workers are at most finishing their last task: spin briefly, then yield so that a
  // descheduled one gets the core back sooner on an oversubscribed machine.
  for (int spin = 0; active_.load() != 0; ++spin) {
    if (spin < kSpinIterations) JISU_CPU_RELAX();
    else sched_yield();
  }
  job_ = nullptr;
}

void ThreadPool::worker_loop(size_t thread_id) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current = generation_.load(std::memory_order_acquire);
    for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
      JISU_CPU_RELAX();
      current = generation_.load(std::memory_order_acquire);
    }
    if (current == seen) {
      std::unique_lock<std::mutex> lock(sleep_mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      current = generation_.load(std::memory_order_acquire);
    }
    seen = current;
    if (stopping_.load()) return;
    active_.fetch_add(1);
    if (open_.load()) run_tasks(thread_id);
    active_.fetch_sub(1);
  }
}

}  // namespace jisu
