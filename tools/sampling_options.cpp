#include "sampling_options.h"

#include <string_view>
#include <utility>

#include "core/error.h"

namespace jisu::cli {

void add_sampling_options(CLI::App& command, SamplingParams& s) {
  command.add_option("-n,--n-predict", s.max_tokens, "tokens to generate (-1: until end of text or a full context)");
  command.add_option("--temp", s.temperature, "temperature (0: greedy)");
  command.add_option("--top-k", s.top_k, "keep the k most likely tokens (0: off)");
  command.add_option("--top-p", s.top_p, "keep the most likely tokens up to this probability (1: off)");
  command.add_option("--min-p", s.min_p, "drop tokens below min-p x the top probability (0: off)");
  command.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty (1: off)");
  command.add_option("--repeat-last-n", s.penalty_last_n, "tokens the penalties look back (-1: all, 0: off)");
  command.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0: off)");
  command.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0: off)");
  command.add_option_function<uint64_t>("-s,--seed", [&s](uint64_t seed) { s.seed = seed; },
                                        "random seed [default: random]");
  command.add_option("--stop", s.stop, "stop string (repeatable)")->default_str("none");
}

void validate_sampling_options(const SamplingParams& params) {
  // SamplingParams::validate's messages start with the field's name; the CLI user typed a flag.
  static constexpr std::pair<std::string_view, std::string_view> kFlagOfField[] = {
      {"max_tokens", "-n"},
      {"temperature", "--temp"},
      {"top_p", "--top-p"},
      {"min_p", "--min-p"},
      {"repetition_penalty", "--repeat-penalty"},
      {"presence_penalty", "--presence-penalty"},
      {"frequency_penalty", "--frequency-penalty"},
      {"penalty_last_n", "--repeat-last-n"},
      {"stop strings", "--stop"},
  };
  try {
    params.validate();
  } catch (const Error& error) {
    std::string message = error.what();
    for (const auto& [field, flag] : kFlagOfField)
      if (message.starts_with(field)) {
        message.replace(0, field.size(), flag);
        break;
      }
    throw Error(message, error.hint());
  }
}

}  // namespace jisu::cli
