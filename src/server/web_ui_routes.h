#pragma once
// The browser chat served by `jisu serve`:
//   GET /                 the page (src/server/web_ui/index.html)
//   GET /ui/FILE          its scripts and styles
//   GET /v1/models/{id}   the model the page shows: OpenAI's model object plus jisu's details
//                         (architecture, layers, width, vocabulary, context, weight bytes)
// The page talks to the server only through the OpenAI routes, like any other client.
#include <jisu/serving_engine.h>

#include <httplib.h>

#include <string>

namespace jisu::server {

void install_web_ui_routes(httplib::Server& http, const ServingEngine& engine, const std::string& model_name);

}  // namespace jisu::server
