#pragma once
// The sampling flags of `jisu run` and `jisu chat`, one definition for both. Their defaults are
// SamplingParams' (include/jisu/sampling_params.h), which the web chat of `jisu serve` also
// starts from (GET /v1/models/{id}), so every way in samples alike unless told otherwise.
#include <jisu/sampling_params.h>

#include <CLI/CLI.hpp>

namespace jisu::cli {

// -n (params.max_tokens: set its default before calling), --temp, --top-k, --top-p, --min-p,
// --repeat-penalty, --repeat-last-n, --presence-penalty, --frequency-penalty, -s, --stop.
void add_sampling_options(CLI::App& command, SamplingParams& params);

// SamplingParams::validate, with the error naming the flag the user typed (`-n 0` says -n,
// not max_tokens). Call before loading the model, so a typo costs no load.
void validate_sampling_options(const SamplingParams& params);

}  // namespace jisu::cli
