// libFuzzer target: an OpenAI request body through the server's parsers, as a completion, as a
// chat request and as an embeddings request. The parser must answer every body with a request or an ApiError; any
// exception or crash is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/openai_embeddings.h"
#include "server/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  (void)jisu::server::parse_openai_request(body, false, "model");
  (void)jisu::server::parse_openai_request(body, true, "model");
  (void)jisu::server::parse_embeddings_request(body, "model", 64);
  return 0;
}
