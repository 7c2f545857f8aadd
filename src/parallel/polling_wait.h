#pragma once
// How the grid's communicators wait for an operation in flight: poll it until done or a
// deadline. Spins (yielding the core, which matters when ranks share cores) for the first
// millisecond, the usual wait inside a step; then sleeps in growing steps, so an idle rank
// waiting for the next step costs no CPU.
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>

namespace jisu {

// Calls done() until it returns true; once `timeout_seconds` have passed calls timed_out(),
// which must throw.
template <class Done, class TimedOut>
void poll_until(Done done, double timeout_seconds, TimedOut timed_out) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  long sleep_ns = 0;
  for (int polls = 0;; ++polls) {
    if (done()) return;
    if (polls < 64) continue;
    polls = 0;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (waited > timeout_seconds) timed_out();
    if (waited < 1e-3) {
      sched_yield();
      continue;
    }
    sleep_ns = std::min<long>(std::max<long>(sleep_ns * 2, 20'000), waited < 0.1 ? 100'000 : 2'000'000);
    const timespec pause{0, sleep_ns};
    nanosleep(&pause, nullptr);
  }
}

}  // namespace jisu
