#include "runtime/request_channel.h"

namespace jisu {

bool RequestChannel::read(StreamUpdate& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto has_news = [&] {
    return !pending_.text.empty() || !pending_.logprobs.empty() || (finished_ && !finish_delivered_);
  };
  if (!ready_.wait_for(lock, timeout, has_news)) return false;
  out.text.append(pending_.text);
  pending_.text.clear();  // keeps its capacity for the next appends
  for (TokenLogprobs& item : pending_.logprobs) out.logprobs.push_back(std::move(item));
  pending_.logprobs.clear();
  if (finished_ && !finish_delivered_) {
    finish_delivered_ = true;
    out.finished = true;
    out.finish_reason = pending_.finish_reason;
    out.prompt_tokens = pending_.prompt_tokens;
    out.completion_tokens = pending_.completion_tokens;
    out.cached_prompt_tokens = pending_.cached_prompt_tokens;
  }
  return true;
}

void RequestChannel::cancel() {
  // Under the lock, and only before finish(): the engine finishes every request before it is
  // destroyed, so a cancel after that never calls into a dead engine.
  std::lock_guard lock(mutex_);
  if (!cancelled_.exchange(true) && !finished_ && wake_engine_) wake_engine_();
}

void RequestChannel::append(std::string_view text, TokenLogprobs* logprobs) {
  if (text.empty() && !logprobs) return;
  {
    std::lock_guard lock(mutex_);
    pending_.text.append(text);
    if (logprobs) pending_.logprobs.push_back(std::move(*logprobs));
  }
  ready_.notify_one();
}

void RequestChannel::finish(FinishReason reason, int32_t prompt_tokens, int32_t completion_tokens,
                            int32_t cached_prompt_tokens) {
  {
    std::lock_guard lock(mutex_);
    finished_ = true;
    pending_.finish_reason = reason;
    pending_.prompt_tokens = prompt_tokens;
    pending_.completion_tokens = completion_tokens;
    pending_.cached_prompt_tokens = cached_prompt_tokens;
  }
  ready_.notify_one();
}

}  // namespace jisu
