#pragma once
// One terminal conversation (`jisu chat`) over a ServingEngine: the history, the system prompt,
// and a reply per user message, streamed piece by piece and stoppable. Every turn renders the
// whole history with the model's chat template; the engine's prefix cache finds the turns
// before already computed. When the history outgrows the context, the oldest exchanges go.
#include <jisu/serving_engine.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace jisu::cli {

struct ReplyOutcome {
  std::string text;
  std::string error;  // non-empty: no reply (the message could not be rendered or submitted)
  bool stopped = false;
  FinishReason finish_reason = FinishReason::Length;
  int32_t prompt_tokens = 0;
  int32_t cached_prompt_tokens = 0;
  int32_t completion_tokens = 0;
  double prompt_seconds = 0;      // submission to the first text
  double generation_seconds = 0;  // first text to the end
  int32_t dropped_messages = 0;   // oldest history messages left out to fit the context

  // "42 tokens in 0.052 s, 807.7 tokens/s; prompt 57 tokens (40 cached); finished: length"
  std::string speed_line() const;
};

class ChatSession {
 public:
  ChatSession(ServingEngine& engine, SamplingParams sampling) : engine_(engine), sampling_(std::move(sampling)) {}

  void reset() { history_.clear(); }
  void set_system_prompt(std::string text) { system_prompt_ = std::move(text); }
  const std::vector<ChatMessage>& history() const { return history_; }

  // Sends `user_text` after the history and streams the reply into on_text; should_stop is
  // polled while it runs (true: the reply is cancelled and kept as far as it got).
  ReplyOutcome reply(const std::string& user_text, const std::function<void(std::string_view)>& on_text,
                     const std::function<bool()>& should_stop);

 private:
  SubmitResult submit_history(ReplyOutcome& outcome);

  ServingEngine& engine_;
  SamplingParams sampling_;
  std::string system_prompt_;
  std::vector<ChatMessage> history_;
};

}  // namespace jisu::cli
