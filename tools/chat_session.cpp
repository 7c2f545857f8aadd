#include "chat_session.h"

#include <chrono>
#include <cstdio>

namespace jisu::cli {

std::string ReplyOutcome::speed_line() const {
  // Over the whole reply, prompt included: a small model writes a short reply faster than the
  // stream is read, so a rate over the tokens after the first would measure the reader.
  const double seconds = prompt_seconds + generation_seconds;
  char text[256];
  std::snprintf(text, sizeof text, "%d tokens in %.3f s, %.1f tokens/s; prompt %d tokens (%d cached); %s%s",
                completion_tokens, seconds, seconds > 0 ? completion_tokens / seconds : 0.0, prompt_tokens,
                cached_prompt_tokens, stopped ? "stopped" : "finished: ",
                stopped ? "" : std::string(finish_reason_name(finish_reason)).c_str());
  std::string line = text;
  if (dropped_messages > 0)
    line += "; the " + std::to_string(dropped_messages) + " oldest messages were left out to fit the context";
  return line;
}

SubmitResult ChatSession::submit_history(ReplyOutcome& outcome) {
  while (true) {
    std::vector<ChatMessage> messages;
    if (!system_prompt_.empty()) messages.push_back({"system", system_prompt_});
    messages.insert(messages.end(), history_.begin(), history_.end());
    std::string prompt, error;
    if (!engine_.render_chat(messages, prompt, error)) return {SubmitStatus::InvalidRequest, error, nullptr};
    SubmitResult result = engine_.submit(engine_.tokenize(prompt, !engine_.chat_template_adds_bos(), true), sampling_);
    // Too long: the oldest exchange (a user message and its reply) goes, never the new message.
    if (result.status != SubmitStatus::PromptTooLong || history_.size() < 3) return result;
    history_.erase(history_.begin(), history_.begin() + 2);
    outcome.dropped_messages += 2;
  }
}

ReplyOutcome ChatSession::reply(const std::string& user_text, const std::function<void(std::string_view)>& on_text,
                                const std::function<bool()>& should_stop) {
  using Clock = std::chrono::steady_clock;
  ReplyOutcome outcome;
  history_.push_back({"user", user_text});
  const auto submitted = Clock::now();
  SubmitResult result = submit_history(outcome);
  if (result.status != SubmitStatus::Accepted) {
    history_.pop_back();
    outcome.error = result.message;
    return outcome;
  }
  StreamUpdate update;
  size_t shown = 0;
  Clock::time_point first_text{};
  while (!update.finished) {
    result.stream->read(update, std::chrono::milliseconds(50));
    if (update.text.size() > shown) {
      if (shown == 0) first_text = Clock::now();
      on_text(std::string_view(update.text).substr(shown));
      shown = update.text.size();
    }
    if (!outcome.stopped && !update.finished && should_stop()) {
      result.stream->cancel();  // the stream then finishes as cancelled
      outcome.stopped = true;
    }
  }
  const auto end = Clock::now();
  if (shown == 0) first_text = end;
  outcome.text = update.text;
  outcome.finish_reason = update.finish_reason;
  outcome.prompt_tokens = update.prompt_tokens;
  outcome.cached_prompt_tokens = update.cached_prompt_tokens;
  outcome.completion_tokens = update.completion_tokens;
  outcome.prompt_seconds = std::chrono::duration<double>(first_text - submitted).count();
  outcome.generation_seconds = std::chrono::duration<double>(end - first_text).count();
  history_.push_back({"assistant", outcome.text});
  return outcome;
}

}  // namespace jisu::cli
