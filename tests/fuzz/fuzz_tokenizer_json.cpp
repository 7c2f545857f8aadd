// libFuzzer target: a Hugging Face tokenizer.json, loaded and used to encode and decode a fixed
// text, and converted to GGUF tokenizer metadata (what `-m DIR` and `jisu convert` do) and loaded
// from that. Anything but a jisu::Error is a finding.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "format/gguf_file.h"
#include "fuzz_input_file.h"
#include "tokenizer/hf_tokenizer_gguf.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jisu::fuzz::FuzzInputFile input(data, size);
  if (!input.ok()) return 0;
  try {
    const auto tokenizer = jisu::Tokenizer::from_hf_json(input.path());
    const auto ids = tokenizer->encode("Hello, world! [CLS] naïve 123 \u00e9t\u00e9", true, true);
    (void)tokenizer->decode(ids);
  } catch (const jisu::Error&) {
  }
  try {
    const auto file = jisu::gguf::GgufFile::from_parts(input.path(), jisu::gguf_tokenizer_metadata(input.path()), {}, {});
    const auto tokenizer = jisu::Tokenizer::from_gguf(*file);
    (void)tokenizer->decode(tokenizer->encode("Hello, world! naïve 123", true, true));
  } catch (const jisu::Error&) {
  }
  return 0;
}
