#pragma once
// The first steps of every JSON request parser of the server: bounded nesting (checked before
// nlohmann recurses), valid JSON, an object at the top, and the optional 'model' naming the
// served model. Problems are 400 ApiErrors.
#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

#include "server/api_error.h"

namespace jisu::server {

std::variant<nlohmann::json, ApiError> parse_json_object(const std::string& body, size_t max_json_depth);

// The 'model' field when present and not null (empty when absent). Throws ApiError when it is
// not a string, or names none of `served_models` (the served name, then its aliases; an empty
// name is accepted).
std::string read_model_name(const nlohmann::json& body, const std::vector<std::string>& served_models);

}  // namespace jisu::server
