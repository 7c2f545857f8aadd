#include "server/json_body.h"

#include <algorithm>

#include <jisu/json_nesting.h>

namespace jisu::server {

std::variant<nlohmann::json, ApiError> parse_json_object(const std::string& body_text, size_t max_json_depth) {
  if (json_nesting_depth(body_text, max_json_depth) > max_json_depth)
    return bad_request("the request body nests JSON deeper than " + std::to_string(max_json_depth) + " levels", "",
                       "json_too_deep");
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(body_text);
  } catch (const nlohmann::json::exception& failure) {
    return bad_request(std::string("the request body is not valid JSON: ") + failure.what(), "", "invalid_json");
  }
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  return body;
}

std::string read_model_name(const nlohmann::json& body, const std::vector<std::string>& served_models) {
  const auto model = body.find("model");
  if (model == body.end() || model->is_null()) return {};
  if (!model->is_string()) throw bad_request("'model' must be a string", "model");
  std::string name = model->get<std::string>();
  if (!name.empty() && std::find(served_models.begin(), served_models.end(), name) == served_models.end())
    throw bad_request("the model '" + name + "' does not exist; this server serves '" +
                          (served_models.empty() ? std::string() : served_models[0]) + "'" +
                          (served_models.size() > 1 ? " (and its aliases, see /v1/models)" : ""),
                      "model", "model_not_found");
  return name;
}

}  // namespace jisu::server
