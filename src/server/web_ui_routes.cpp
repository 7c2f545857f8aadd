#include "server/web_ui_routes.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>

#include "server/api_error.h"
#include "server/openai_response.h"
#include "server/web_ui_files.h"

namespace jisu::server {
namespace {

std::string_view content_type(std::string_view path) {
  const auto ends_with = [&](std::string_view suffix) { return path.ends_with(suffix); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

const EmbeddedFile* find_file(std::string_view path) {
  for (const EmbeddedFile& file : embedded_web_files())
    if (file.path == path) return &file;
  return nullptr;
}

void send_file(const EmbeddedFile& file, httplib::Response& response) {
  // The page may run only its own scripts and talk only to this server: no inline script, no
  // third-party origin (nothing is downloaded at run time).
  response.set_header("Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Cache-Control", "no-cache");  // a new binary's page replaces the old at once
  response.set_content(std::string(file.content), std::string(content_type(file.path)));
}

void send_not_found(const httplib::Request& request, httplib::Response& response) {
  const ApiError error{404, "no route " + request.method + " " + request.path, "invalid_request_error", "",
                       "not_found"};
  response.status = error.status;
  response.set_content(dump_json(error.to_json()), "application/json");
}

// The page starts from the defaults of SamplingParams, the ones `jisu run` and `jisu chat` use,
// rather than OpenAI's request defaults (temperature 1, no top-k), which suit small models less.
nlohmann::json default_sampling_json() {
  // A float as its shortest decimal (0.8, not 0.800000011920929), as a person would type it.
  const auto decimal = [](float value) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, value).ptr;
    return std::strtod(std::string(text, end).c_str(), nullptr);
  };
  const SamplingParams defaults;
  return {{"temperature", decimal(defaults.temperature)}, {"top_p", decimal(defaults.top_p)},
          {"top_k", defaults.top_k},                      {"min_p", decimal(defaults.min_p)},
          {"repetition_penalty", decimal(defaults.repetition_penalty)}};
}

}  // namespace

void install_web_ui_routes(httplib::Server& http, const ServingEngine& engine, const std::string& model_name) {
  http.Get("/", [](const httplib::Request& request, httplib::Response& response) {
    if (const EmbeddedFile* page = find_file("index.html")) return send_file(*page, response);
    send_not_found(request, response);
  });
  http.Get(R"(/ui/([A-Za-z0-9_.-]+))", [](const httplib::Request& request, httplib::Response& response) {
    const EmbeddedFile* file = find_file(request.matches[1].str());
    if (!file || file->path == "index.html") return send_not_found(request, response);
    send_file(*file, response);
  });
  http.Get(R"(/v1/models/(.+))", [&engine, model_name](const httplib::Request& request, httplib::Response& response) {
    if (request.matches[1].str() != model_name) {
      const ApiError error{404, "no model '" + request.matches[1].str() + "' (this server runs '" + model_name + "')",
                           "invalid_request_error", "model", "model_not_found"};
      response.status = error.status;
      return response.set_content(dump_json(error.to_json()), "application/json");
    }
    const ModelSummary summary = engine.summary();
    const nlohmann::json model = {{"id", model_name},
                                  {"object", "model"},
                                  {"created", 0},
                                  {"owned_by", "jisu"},
                                  {"max_model_len", summary.context_length},
                                  {"architecture", summary.architecture},
                                  {"name", summary.name},
                                  {"n_layer", summary.n_layer},
                                  {"n_embd", summary.n_embd},
                                  {"n_vocab", summary.n_vocab},
                                  {"weight_bytes", summary.weight_bytes},
                                  {"default_sampling", default_sampling_json()}};
    response.set_content(dump_json(model), "application/json");
  });
}

}  // namespace jisu::server
