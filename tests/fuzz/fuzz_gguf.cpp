// libFuzzer target: a GGUF file through the loaders jisu runs on an untrusted model file
// (header, metadata, tensor table, model config, tokenizer, chat template). Anything but a
// jisu::Error is a finding.
#include <cstddef>
#include <cstdint>

#include "chat/chat_template.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "fuzz_input_file.h"
#include "models/model_config.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jisu::fuzz::FuzzInputFile input(data, size);
  if (!input.ok()) return 0;
  std::unique_ptr<jisu::gguf::GgufFile> file;
  try {
    file = jisu::gguf::GgufFile::open(input.path());
  } catch (const jisu::Error&) {
    return 0;
  }
  try {
    jisu::read_model_config(*file);
  } catch (const jisu::Error&) {
  }
  try {
    const auto tokenizer = jisu::Tokenizer::from_gguf(*file);
    const auto ids = tokenizer->encode("Hello, world! <s> 123", true, true);
    (void)tokenizer->decode(ids);
  } catch (const jisu::Error&) {
  }
  try {
    if (auto source = file->get_string("tokenizer.chat_template")) jisu::ChatTemplate parsed(*source);
  } catch (const jisu::Error&) {
  }
  return 0;
}
