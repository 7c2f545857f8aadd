#include "runtime/request_channel.h"

namespace jisu {
namespace {
// The fields a stream sets once, when it finishes.
void copy_outcome(const StreamUpdate& from, StreamUpdate& to) {
  to.finish_reason = from.finish_reason;
  to.prompt_tokens = from.prompt_tokens;
  to.completion_tokens = from.completion_tokens;
  to.cached_prompt_tokens = from.cached_prompt_tokens;
  to.prompt_seconds = from.prompt_seconds;
  to.generation_seconds = from.generation_seconds;
  to.draft_tokens = from.draft_tokens;
  to.accepted_draft_tokens = from.accepted_draft_tokens;
  to.forward_steps = from.forward_steps;
}
}  // namespace

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
    copy_outcome(pending_, out);
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

void RequestChannel::finish(const StreamUpdate& outcome) {
  {
    std::lock_guard lock(mutex_);
    finished_ = true;
    copy_outcome(outcome, pending_);
  }
  ready_.notify_one();
}

}  // namespace jisu
