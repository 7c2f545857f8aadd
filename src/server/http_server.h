#pragma once
// The OpenAI-compatible HTTP front end over a ServingEngine (cpp-httplib):
//   POST /v1/completions, POST /v1/chat/completions (stream: true -> SSE ending "data: [DONE]"),
//   POST /v1/embeddings (encoder models; server/openai_embeddings.h),
//   GET /v1/models, GET /health (503 while draining), GET /metrics (Prometheus text), and the
//   web chat at / with GET /v1/models/{id} (server/web_ui_routes.h).
// With an API key, /v1/* requires "Authorization: Bearer KEY" (401 otherwise).
// A client that disconnects cancels its request, which frees its KV blocks.
#include <jisu/serving_engine.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/openai_request.h"

namespace jisu::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (the bound one is reported to on_listening)
  std::string api_key;
  std::string model_name;  // the id /v1/models lists and requests may name
  std::vector<std::string> model_aliases;  // more ids for the same model (--alias), listed too
  int http_threads = 32;   // connections served at once; more wait in the accept queue
  // Hostile-client bounds (each a `jisu serve` flag): larger bodies get 413, more headers 431,
  // a client silent for read_timeout_s mid-request (or not reading for write_timeout_s) is
  // dropped, an idle keep-alive connection is closed after keep_alive_s.
  size_t max_body_bytes = size_t{8} << 20;
  size_t max_headers = 64;
  size_t max_header_bytes = size_t{64} << 10;  // all header lines of a request; past it the connection ends
  int read_timeout_s = 10;
  int write_timeout_s = 10;
  int keep_alive_s = 5;
  RequestLimits request_limits;
};

class HttpServer {
 public:
  HttpServer(ServingEngine& engine, HttpServerOptions options);
  ~HttpServer();

  // Binds and serves until stop(); throws jisu::Error when it cannot bind.
  void run(const std::function<void(int port)>& on_listening);
  // Thread-safe; makes run() return once in-flight requests are done.
  void stop();
  // Thread-safe: /health answers 503 {"status":"draining"} from now on (generation requests are
  // refused by the engine once it stops admitting).
  void set_draining();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jisu::server
