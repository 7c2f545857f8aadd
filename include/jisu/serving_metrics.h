#pragma once
// Counters and latency histograms of a ServingEngine, as a snapshot (for /metrics).
#include <array>
#include <cstddef>
#include <cstdint>

namespace jisu {

// Cumulative histogram with fixed upper bounds in seconds (Prometheus style).
struct LatencyHistogram {
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
  std::array<uint64_t, kBounds.size()> counts{};  // observations <= kBounds[i] (not cumulative)
  uint64_t count = 0;
  double sum = 0.0;

  void observe(double seconds) {
    ++count;
    sum += seconds;
    for (std::size_t i = 0; i < kBounds.size(); ++i)
      if (seconds <= kBounds[i]) {
        ++counts[i];
        return;
      }
  }
};

struct ServingMetrics {
  uint64_t requests_submitted = 0;
  uint64_t requests_finished = 0;
  uint64_t requests_cancelled = 0;
  uint64_t requests_rejected = 0;  // queue full
  uint64_t prompt_tokens = 0;      // over admitted requests
  uint64_t generated_tokens = 0;
  uint64_t forward_tokens = 0;  // tokens evaluated by forward passes (prompts, recomputes, decodes)
  uint64_t prefix_cache_hit_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t forward_steps = 0;
  uint64_t draft_tokens = 0;           // speculative decoding: proposed ...
  uint64_t accepted_draft_tokens = 0;  // ... and accepted
  int64_t queue_length = 0;    // waiting for admission
  int64_t running = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;    // referenced by a sequence
  int64_t kv_blocks_cached = 0;  // unreferenced, holding a reusable prefix
  LatencyHistogram time_to_first_token;
  LatencyHistogram inter_token_latency;
};

}  // namespace jisu
