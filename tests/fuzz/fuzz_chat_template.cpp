// libFuzzer target: a Jinja chat template, parsed and rendered (with the default limits) for a
// fixed conversation. Anything but a jisu::Error is a finding -- a crash, a hang (libFuzzer's
// -timeout) or memory past -rss_limit_mb.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <|im_start|>"},
    {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
    {"role": "tool", "content": "42"}])");
  static const nlohmann::ordered_json context = {{"bos_token", "<s>"}, {"eos_token", "</s>"},
                                                 {"__now__", "2026-01-02T03:04:05"}};
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    jisu::ChatTemplate parsed(source);
    (void)parsed.render(messages, true, context);
  } catch (const jisu::Error&) {
  }
  return 0;
}
