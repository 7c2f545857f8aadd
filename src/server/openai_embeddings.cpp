#include "server/openai_embeddings.h"

#include "server/json_body.h"

#include <cstring>
#include <limits>

namespace jisu::server {
namespace {

using nlohmann::json;

constexpr const char* kInputShape = "'input' must be a non-empty string, an array of non-empty strings, an array of token ids or an array of such arrays";

std::vector<int32_t> read_token_ids(const json& array) {
  if (array.empty()) throw bad_request("an 'input' token array is empty", "input");
  std::vector<int32_t> tokens;
  tokens.reserve(array.size());
  for (const json& item : array) {
    if (!item.is_number_integer()) throw bad_request(kInputShape, "input");
    const int64_t token = item.get<int64_t>();
    if (token < 0 || token > std::numeric_limits<int32_t>::max())
      throw bad_request("'input' token id " + item.dump() + " is out of range", "input");
    tokens.push_back(static_cast<int32_t>(token));
  }
  return tokens;
}

void read_input(const json& input, EmbeddingsRequest& request) {
  const auto add_text = [&](const json& item) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) throw bad_request(kInputShape, "input");
    request.texts.push_back(item.get<std::string>());
  };
  if (input.is_string()) return add_text(input);
  if (!input.is_array() || input.empty()) throw bad_request(kInputShape, "input");
  if (input.size() > kMaxEmbeddingInputs)
    throw bad_request("'input' holds at most " + std::to_string(kMaxEmbeddingInputs) + " inputs", "input");
  if (input[0].is_number_integer()) {
    request.token_inputs.push_back(read_token_ids(input));
    return;
  }
  // All arrays of token ids, or all strings: the first item says which.
  const bool token_arrays = input[0].is_array();
  for (const json& item : input) {
    if (!token_arrays) {
      add_text(item);
    } else if (item.is_array()) {
      request.token_inputs.push_back(read_token_ids(item));
    } else {
      throw bad_request(kInputShape, "input");
    }
  }
}

std::string base64_of(const std::vector<float>& values) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // float32 little-endian bytes, as OpenAI's clients decode them (x86-64 is little-endian).
  std::string bytes(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t j = 0; j < 3; ++j) chunk = chunk << 8 | (j < n ? static_cast<uint8_t>(bytes[i + j]) : 0u);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kAlphabet[(chunk >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

}  // namespace

std::variant<EmbeddingsRequest, ApiError> parse_embeddings_request(const std::string& body_text,
                                                                   const std::string& served_model,
                                                                   size_t max_json_depth) {
  auto parsed = parse_json_object(body_text, max_json_depth);
  if (ApiError* error = std::get_if<ApiError>(&parsed)) return *error;
  const json& body = std::get<json>(parsed);
  EmbeddingsRequest request;
  try {
    read_model_name(body, {served_model});
    const auto input = body.find("input");
    if (input == body.end() || input->is_null()) throw bad_request("'input' is required", "input");
    read_input(*input, request);
    if (const auto format = body.find("encoding_format"); format != body.end() && !format->is_null()) {
      if (!format->is_string() || (*format != "float" && *format != "base64"))
        throw bad_request("'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
      request.base64 = *format == "base64";
    }
    if (const auto dimensions = body.find("dimensions"); dimensions != body.end() && !dimensions->is_null())
      throw bad_request("'dimensions' is not supported: the vectors have the model's size", "dimensions");
  } catch (const ApiError& error) {
    return error;
  } catch (const json::exception& failure) {
    return bad_request(std::string("bad request: ") + failure.what());
  }
  return request;
}

json embeddings_body(const EmbeddingResult& result, const std::string& model, bool base64) {
  json data = json::array();
  for (size_t i = 0; i < result.embeddings.size(); ++i) {
    json item = {{"object", "embedding"}, {"index", i}};
    if (base64)
      item["embedding"] = base64_of(result.embeddings[i]);
    else
      item["embedding"] = result.embeddings[i];
    data.push_back(std::move(item));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", result.prompt_tokens}, {"total_tokens", result.prompt_tokens}}}};
}

}  // namespace jisu::server
