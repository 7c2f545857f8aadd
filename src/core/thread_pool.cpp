#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <optional>
#include <string>
#include <system_error>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define JISU_CPU_RELAX() _mm_pause()
#else
#define JISU_CPU_RELAX() ((void)0)
#endif

namespace jisu {
namespace {
// Spin this many iterations waiting for work before sleeping. ~50 us on current cores: long
// enough to cover the gap between two ops of a decode step, short enough not to burn a core
// while the engine is idle.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(size_t n_threads) : n_threads_(n_threads == 0 ? 1 : n_threads) {
  workers_.reserve(n_threads_ - 1);
  try {
    for (size_t id = 1; id < n_threads_; ++id) workers_.emplace_back([this, id] { worker_loop(id); });
  } catch (const std::system_error& failure) {
    // The system refused a thread (limits, memory): stop those started, then say so.
    stop_workers();
    throw Error("cannot start " + std::to_string(n_threads_) + " threads (" + failure.what() + ")",
                "use fewer threads (-t)");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
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
  uint64_t word = claim_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t index = word & kIndexMask, count = (word >> kIndexBits) & kIndexMask;
    if (index >= count) return;
    // Success proves the job of this generation is still running (it cannot finish before the
    // claimed task is done), so job_ is that job's callable.
    if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    (*job_)(static_cast<size_t>(index), thread_id);
    tasks_done_.fetch_add(1, std::memory_order_release);
    word = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_job(size_t n_tasks, FunctionRef<void(size_t, size_t)>& task) {
  job_ = &task;
  tasks_done_.store(0, std::memory_order_relaxed);
  job_generation_ = (job_generation_ + 1) & ((uint64_t(1) << (64 - 2 * kIndexBits)) - 1);
  claim_.store((job_generation_ << (2 * kIndexBits)) | (uint64_t(n_tasks) << kIndexBits), std::memory_order_release);
  // No lock on this path while the workers spin (every op of a decode step). A worker that goes
  // to sleep counts itself in sleepers_ and then re-reads generation_, all sequentially
  // consistent, so either it sees this generation and stays awake or this thread sees it
  // counted and wakes it. Taking the mutex before notifying means the counted worker is
  // already blocked in wait(), not between its check and its sleep.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(sleep_mutex_); }
    wake_.notify_all();
  }
  run_tasks(0);
  // Spin briefly for tasks still running on workers, then yield the core: a worker that was
  // preempted mid-task needs the CPU more than this thread does.
  for (int spin = 0; tasks_done_.load(std::memory_order_acquire) != n_tasks; ++spin) {
    if (spin < 4096)
      JISU_CPU_RELAX();
    else
      sched_yield();
  }
}

void ThreadPool::parallel_for(size_t n_tasks, FunctionRef<void(size_t, size_t)> task) {
  if (n_tasks == 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (size_t i = 0; i < n_tasks; ++i) task(i, 0);
    return;
  }
  // The claim word holds at most 2^20 - 1 tasks per job; larger ranges run as several jobs.
  constexpr size_t kMaxJob = kIndexMask;
  for (size_t base = 0; base < n_tasks; base += kMaxJob) {
    const size_t count = std::min(kMaxJob, n_tasks - base);
    if (base == 0 && count == n_tasks) {
      run_job(count, task);
    } else {
      auto shifted = [&](size_t index, size_t thread_id) { task(base + index, thread_id); };
      FunctionRef<void(size_t, size_t)> ref(shifted);
      run_job(count, ref);
    }
  }
  job_ = nullptr;
}

void ThreadPool::worker_loop(size_t thread_id) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current = generation_.load(std::memory_order_acquire);
    for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
      // Every so often offer the core to another runnable thread (the caller of the next
      // parallel_for, when more threads than cores are runnable); a no-op on an idle core.
      if (spin % 256 == 255)
        sched_yield();
      else
        JISU_CPU_RELAX();
      current = generation_.load(std::memory_order_acquire);
    }
    if (current == seen) {
      std::unique_lock<std::mutex> lock(sleep_mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      current = generation_.load(std::memory_order_acquire);
    }
    seen = current;
    if (stopping_.load()) return;
    run_tasks(thread_id);
  }
}

}  // namespace jisu
