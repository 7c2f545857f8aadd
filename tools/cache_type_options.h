#pragma once
// --cache-type-k and --cache-type-v, shared by the commands that hold a KV cache (run, chat,
// serve, perplexity, bench): the element type of the stored keys / values (f32, f16, q8_0,
// q4_0; docs/quantization.md has what each costs). The names are checked again where the
// cache is made (kv/kv_cache.h: parse_kv_cache_type), so the library refuses them too.
#include <CLI/CLI.hpp>
#include <string>

namespace jisu::cli {

inline void add_cache_type_options(CLI::App& command, std::string& key_type, std::string& value_type) {
  const auto names = CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}, CLI::ignore_case);
  command.add_option("--cache-type-k", key_type, "KV cache type of the keys: f32, f16, q8_0 or q4_0")
      ->default_str("f16; f32 with --device cuda")
      ->check(names);
  command.add_option("--cache-type-v", value_type, "KV cache type of the values: f32, f16, q8_0 or q4_0")
      ->default_str("f16; f32 with --device cuda")
      ->check(names);
}

}  // namespace jisu::cli
