#pragma once
// POST /v1/embeddings in OpenAI's shape. Request: `input` (a string, an array of strings, an
// array of token ids, or an array of such arrays), `model`, `encoding_format` ("float" or
// "base64": little-endian float32 bytes), `user` (ignored). Response: {"object": "list", "data":
// [{"object": "embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens",
// "total_tokens"}}. Every problem is an ApiError naming the parameter (400).
#include <jisu/embedding.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "server/api_error.h"

namespace jisu::server {

struct EmbeddingsRequest {
  std::vector<std::string> texts;                  // string inputs, or
  std::vector<std::vector<int32_t>> token_inputs;  // token-id inputs (given as they are)
  bool base64 = false;
};

// At most this many inputs per request (OpenAI's limit).
inline constexpr size_t kMaxEmbeddingInputs = 2048;

std::variant<EmbeddingsRequest, ApiError> parse_embeddings_request(const std::string& body, const std::string& served_model,
                                                                   size_t max_json_depth);

nlohmann::json embeddings_body(const EmbeddingResult& result, const std::string& model, bool base64);

}  // namespace jisu::server
