#pragma once
// The channel of one serving request: the engine loop appends text (and logprobs) and finally
// the outcome; one consumer thread reads. Text is coalesced in one buffer that the reader
// swaps out, so a slow reader costs no per-token allocation and gets bigger pieces.
#include <jisu/serving_engine.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>

namespace jisu {

class RequestChannel final : public RequestStream {
 public:
  // `wake_engine` is called on cancel() so that the loop notices even when idle.
  explicit RequestChannel(std::function<void()> wake_engine) : wake_engine_(std::move(wake_engine)) {}

  bool read(StreamUpdate& out, std::chrono::milliseconds timeout) override;
  void cancel() override;

  // Engine side.
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  void append(std::string_view text, TokenLogprobs* logprobs);
  // `outcome`'s final fields (reason, counts, seconds) are delivered; its text is ignored.
  void finish(const StreamUpdate& outcome);

 private:
  std::function<void()> wake_engine_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  StreamUpdate pending_;     // not yet read
  bool finished_ = false;
  bool finish_delivered_ = false;
};

}  // namespace jisu
