#include "server/http_server.h"

#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <variant>

#include "server/api_error.h"
#include "server/bounded_server.h"
#include "server/openai_embeddings.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/json_schema_grammar.h"
#include "server/prometheus_metrics.h"
#include "server/tool_calls.h"
#include "server/web_ui_routes.h"

namespace jisu::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// While a request produces nothing for this long, the connection is probed (an SSE comment, or
// a space before a non-streamed JSON body, both ignored by parsers): writing to a closed
// connection fails, which is how a disconnected client is noticed and its request cancelled.
constexpr auto kProbeInterval = 500ms;

void send_error(httplib::Response& response, const ApiError& error) {
  response.status = error.status;
  response.set_content(dump_json(error.to_json()), "application/json");
}

ApiError submit_error(const SubmitResult& result) {
  switch (result.status) {
    case SubmitStatus::QueueFull:
      return ApiError{429, result.message, "rate_limit_error", "", "queue_full"};
    case SubmitStatus::ShuttingDown:
      return ApiError{503, result.message, "server_error", "", "shutting_down"};
    case SubmitStatus::PromptTooLong:
      return bad_request(result.message, "prompt", "context_length_exceeded");
    default:
      return bad_request(result.message);
  }
}

// One choice of a response (n > 1: several, each its own engine request).
struct Choice {
  std::shared_ptr<RequestStream> stream;
  StreamUpdate total;        // everything so far (non-streaming) or the final fields (streaming)
  std::string held;          // streamed text held back while tool calls may be in it
  size_t text_offset = 0;    // bytes of text sent so far (completions logprobs offsets)
  bool finished = false;
};

// State of one response across httplib's content-provider calls.
struct Exchange {
  std::vector<Choice> choices;
  ResponseContext context;
  bool stream_mode = false;
  bool include_usage = false;
  bool with_logprobs = false;
  std::string echo_prefix;
  // Tool use: replies are parsed for calls in this format (streamed replies are held until
  // they end, then sent as content or as tool_calls deltas).
  bool parse_tools = false;
  ToolCallFormat tool_format = ToolCallFormat::Hermes;
  std::vector<std::string> tool_names;
  bool started = false;
  bool done = false;
  std::chrono::steady_clock::time_point last_probe = std::chrono::steady_clock::now();
};

json with_index(json chunk, size_t index) {
  chunk["choices"][0]["index"] = index;
  return chunk;
}

// OpenAI's tool_calls array for a parsed reply (ids unique within the response).
json tool_calls_json(const std::vector<ToolCall>& calls, const std::string& id, size_t choice, bool streamed) {
  json list = json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    json call = {{"id", "call_" + id + "_" + std::to_string(choice) + "_" + std::to_string(k)},
                 {"type", "function"},
                 {"function", {{"name", calls[k].name}, {"arguments", streamed ? "" : calls[k].arguments}}}};
    if (streamed) call["index"] = k;
    list.push_back(std::move(call));
  }
  return list;
}

// The chunks of a finished streamed reply that was held for tool calls.
std::string held_reply_events(const Exchange& exchange, size_t index, const std::string& text, bool& had_calls) {
  const ParsedReply reply = parse_tool_calls(text, exchange.tool_format, exchange.tool_names);
  had_calls = !reply.calls.empty();
  std::string out;
  if (!had_calls) {
    if (!text.empty()) out += sse_event(with_index(stream_chunk(exchange.context, text, json(nullptr), nullptr, false), index));
    return out;
  }
  if (!reply.content.empty())
    out += sse_event(with_index(stream_chunk(exchange.context, reply.content, json(nullptr), nullptr, false), index));
  // As OpenAI streams them: per call, its id and name first, then the arguments in pieces.
  const json calls = tool_calls_json(reply.calls, exchange.context.id, index, true);
  for (size_t k = 0; k < reply.calls.size(); ++k) {
    json head = with_index(stream_chunk(exchange.context, "", json(nullptr), nullptr, false), index);
    head["choices"][0]["delta"] = {{"tool_calls", json::array({calls[k]})}};
    out += sse_event(head);
    const std::string& arguments = reply.calls[k].arguments;
    constexpr size_t kPiece = 32;
    for (size_t at = 0; at < arguments.size(); at += kPiece) {
      json piece = with_index(stream_chunk(exchange.context, "", json(nullptr), nullptr, false), index);
      piece["choices"][0]["delta"] = {
          {"tool_calls", json::array({{{"index", k}, {"function", {{"arguments", arguments.substr(at, kPiece)}}}}})}};
      out += sse_event(piece);
    }
  }
  return out;
}

// Reads whatever arrived on any choice; with one choice, waits for it like before.
bool read_choices(Exchange& exchange, std::vector<StreamUpdate>& updates) {
  bool any = false;
  for (size_t i = 0; i < exchange.choices.size(); ++i) {
    Choice& choice = exchange.choices[i];
    updates[i] = StreamUpdate{};
    if (choice.finished) continue;
    const auto wait = exchange.choices.size() == 1 ? kProbeInterval : 0ms;
    any = choice.stream->read(updates[i], wait) || any;
  }
  if (!any && exchange.choices.size() > 1) {
    for (size_t i = 0; i < exchange.choices.size(); ++i)
      if (!exchange.choices[i].finished) {
        any = exchange.choices[i].stream->read(updates[i], 20ms);
        break;
      }
  }
  return any;
}

// One content-provider call of a streamed response: writes whatever arrived. False: the
// client is gone.
bool pump_stream(Exchange& exchange, httplib::DataSink& sink) {
  std::string out;
  if (!exchange.started) {
    exchange.started = true;
    for (size_t i = 0; i < exchange.choices.size(); ++i) {
      if (exchange.context.chat)
        out += sse_event(with_index(stream_chunk(exchange.context, "", json(nullptr), nullptr, true), i));
      if (!exchange.echo_prefix.empty())
        out += sse_event(with_index(stream_chunk(exchange.context, exchange.echo_prefix, json(nullptr), nullptr, false), i));
    }
  }
  std::vector<StreamUpdate> updates(exchange.choices.size());
  if (!read_choices(exchange, updates)) {
    const auto now = std::chrono::steady_clock::now();
    if (!out.empty()) return sink.write(out.data(), out.size());
    if (now - exchange.last_probe < kProbeInterval) return true;
    exchange.last_probe = now;
    static constexpr char kProbe[] = ": keep-alive\n\n";
    return sink.write(kProbe, sizeof kProbe - 1);
  }
  bool all_finished = true;
  for (size_t i = 0; i < exchange.choices.size(); ++i) {
    Choice& choice = exchange.choices[i];
    StreamUpdate& update = updates[i];
    if (exchange.parse_tools) {
      choice.held += update.text;
    } else if (!update.text.empty() || !update.logprobs.empty()) {
      const json logprobs = exchange.with_logprobs
                                ? logprobs_json(exchange.context.chat, update.logprobs, choice.text_offset)
                                : json(nullptr);
      choice.text_offset += update.text.size();
      out += sse_event(with_index(stream_chunk(exchange.context, update.text, logprobs, nullptr, false), i));
    }
    if (update.finished) {
      choice.finished = true;
      choice.total = update;
      bool had_calls = false;
      if (exchange.parse_tools) out += held_reply_events(exchange, i, choice.held, had_calls);
      const char* reason = had_calls ? "tool_calls" : openai_finish_reason(update.finish_reason);
      json last = with_index(stream_chunk(exchange.context, "", json(nullptr), reason, false), i);
      if (exchange.choices.size() == 1) last["usage"] = usage_json(update);  // so plain clients see it
      out += sse_event(last);
    }
    all_finished = all_finished && choice.finished;
  }
  if (all_finished) {
    std::vector<StreamUpdate> totals;
    for (const Choice& choice : exchange.choices) totals.push_back(choice.total);
    if (exchange.include_usage) {
      json usage = usage_chunk(exchange.context, totals[0]);
      usage["usage"] = usage_json(totals);
      out += sse_event(usage);
    }
    out += "data: [DONE]\n\n";
    exchange.done = true;
  }
  if (!out.empty() && !sink.write(out.data(), out.size())) return false;
  if (exchange.done) sink.done();
  return true;
}

// One content-provider call of a non-streamed response: waits, probing the connection, and
// writes the whole body at the end.
bool pump_whole(Exchange& exchange, httplib::DataSink& sink) {
  bool all_finished = true;
  for (Choice& choice : exchange.choices) {
    if (choice.total.finished) continue;
    choice.stream->read(choice.total, all_finished ? kProbeInterval : 0ms);
    all_finished = all_finished && choice.total.finished;
  }
  if (!all_finished) {
    // Text keeps arriving while the client may be gone: probe on a clock, not on silence.
    const auto now = std::chrono::steady_clock::now();
    if (now - exchange.last_probe < kProbeInterval) return true;
    exchange.last_probe = now;
    return sink.write(" ", 1);
  }
  json body = completion_body(exchange.context, exchange.choices[0].total, exchange.with_logprobs);
  json choices = json::array();
  std::vector<StreamUpdate> totals;
  for (size_t i = 0; i < exchange.choices.size(); ++i) {
    StreamUpdate& total = exchange.choices[i].total;
    total.text.insert(0, exchange.echo_prefix);
    json choice = completion_choice(exchange.context, total, exchange.with_logprobs, static_cast<int>(i));
    if (exchange.parse_tools) {
      const ParsedReply reply = parse_tool_calls(total.text, exchange.tool_format, exchange.tool_names);
      if (!reply.calls.empty()) {
        choice["message"]["content"] = reply.content.empty() ? json(nullptr) : json(reply.content);
        choice["message"]["tool_calls"] = tool_calls_json(reply.calls, exchange.context.id, i, false);
        choice["finish_reason"] = "tool_calls";
      }
    }
    choices.push_back(std::move(choice));
    totals.push_back(total);
  }
  body["choices"] = std::move(choices);
  body["usage"] = usage_json(totals);
  const std::string text = dump_json(body);
  exchange.done = true;
  if (!sink.write(text.data(), text.size())) return false;
  sink.done();
  return true;
}

// Compares every byte whatever the inputs, so the time taken does not tell an attacker how much
// of a guessed API key was right.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    difference |= static_cast<unsigned char>(given[i] ^ (i < expected.size() ? expected[i] : 0));
  return difference == 0;
}

// The listening socket takes SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
// second server on a taken port starts too and the kernel splits connections between them.
void listening_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

ConnectionLimits connection_limits(const HttpServerOptions& options) {
  ConnectionLimits limits;
  limits.max_request_bytes = options.max_body_bytes + options.max_header_bytes;
  limits.read_timeout_ms = options.read_timeout_s * 1000;
  limits.write_timeout_ms = options.write_timeout_s * 1000;
  limits.keep_alive_ms = options.keep_alive_s * 1000;
  return limits;
}

}  // namespace

struct HttpServer::Impl {
  ServingEngine& engine;
  HttpServerOptions options;
  BoundedServer http;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> draining{false};  // /health answers 503 so that load balancers stop sending

  Impl(ServingEngine& engine, HttpServerOptions settings)
      : engine(engine), options(std::move(settings)), http(connection_limits(options)) {}

  bool authorized(const httplib::Request& request) const {
    if (options.api_key.empty()) return true;
    return constant_time_equal(request.get_header_value("Authorization"), "Bearer " + options.api_key);
  }

  // Reads the body through httplib's content reader so that no body is held beyond the limit,
  // chunked ones included (httplib bounds only Content-Length bodies, which it skips unread
  // past the limit, keeping the connection usable). False: the error is in `response`.
  bool read_body(const httplib::ContentReader& reader, httplib::Response& response, std::string& body) {
    bool too_large = false;
    const bool complete = reader([&](const char* data, size_t length) {
      if (length > options.max_body_bytes - body.size()) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (too_large || response.status == 413) {
      send_error(response, ApiError{413, "the request body is larger than " + std::to_string(options.max_body_bytes) +
                                             " bytes (--max-body)", "invalid_request_error", "", "body_too_large"});
      // httplib skips a Content-Length body only up to the request's byte budget, and reads no
      // more of a chunked one: the connection cannot be trusted with another request.
      BoundedServer::close_after_response(response);
      return false;
    }
    if (!complete) {
      send_error(response, bad_request("the request body could not be read"));
      BoundedServer::close_after_response(response);
      return false;
    }
    return true;
  }

  void handle_generation(const httplib::Request& request, const httplib::ContentReader& reader,
                         httplib::Response& response, bool chat) {
    std::string body;
    if (!read_body(reader, response, body)) return;
    if (engine.is_embedding_model())
      return send_error(response, bad_request("the model '" + options.model_name +
                                                  "' is an embedding model (an encoder): it cannot generate text; "
                                                  "use POST /v1/embeddings",
                                              "model", "model_is_embedding"));
    std::vector<std::string> names{options.model_name};
    names.insert(names.end(), options.model_aliases.begin(), options.model_aliases.end());
    auto parsed = parse_openai_request(body, chat, names, options.request_limits);
    if (const ApiError* error = std::get_if<ApiError>(&parsed)) return send_error(response, *error);
    ParsedRequest& req = std::get<ParsedRequest>(parsed);

    std::vector<int32_t> prompt;
    auto exchange = std::make_shared<Exchange>();
    try {
      if (chat) {
        std::string error;
        if (!engine.chat_prompt_tokens(req.messages, prompt, error, req.tools_json))
          return send_error(response, bad_request(error, "messages"));
      } else if (req.prompt_text) {
        prompt = engine.tokenize(*req.prompt_text, true, false);
        if (req.echo) exchange->echo_prefix = *req.prompt_text;
      } else {
        prompt = std::move(req.prompt_tokens);
        if (req.echo) exchange->echo_prefix = engine.detokenize(prompt);
      }
    } catch (const std::exception& failure) {
      return send_error(response, bad_request(std::string("cannot tokenize the prompt: ") + failure.what(), "prompt"));
    }
    if (chat && !req.tool_names.empty() && req.tool_choice != ParsedRequest::ToolChoice::None) {
      exchange->parse_tools = true;
      exchange->tool_format = detect_tool_call_format(engine.chat_template_source());
      exchange->tool_names = req.tool_names;
      if (req.tool_choice == ParsedRequest::ToolChoice::Required || req.tool_choice == ParsedRequest::ToolChoice::Named) {
        try {
          req.sampling.grammar = tool_call_grammar(exchange->tool_format, req.tool_names, req.tool_parameters,
                                                   req.tool_choice_name);
        } catch (const SchemaError& error) {
          return send_error(response, bad_request(error.what(), "tools"));
        }
      }
    }
    // n choices: n requests of one prompt; the scheduler shares its KV blocks through the prefix
    // cache (requests arriving together wait for a block another is computing). With a seed,
    // choice i draws with seed + i, so the choices differ and stay reproducible.
    for (int32_t i = 0; i < req.n; ++i) {
      SamplingParams params = req.sampling;
      if (params.seed) params.seed = *params.seed + static_cast<uint64_t>(i);
      SubmitResult submitted = engine.submit(prompt, params);
      if (submitted.status != SubmitStatus::Accepted) {
        for (Choice& choice : exchange->choices) choice.stream->cancel();
        return send_error(response, submit_error(submitted));
      }
      exchange->choices.push_back(Choice{std::move(submitted.stream), {}, {}, 0, false});
    }

    exchange->context.chat = chat;
    exchange->context.id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id.fetch_add(1));
    exchange->context.created = static_cast<int64_t>(std::time(nullptr));
    exchange->context.model = req.model.empty() ? options.model_name : req.model;
    exchange->stream_mode = req.stream;
    exchange->include_usage = req.include_usage;
    exchange->with_logprobs = req.sampling.logprobs;
    // The releaser runs when httplib is done with the response, written or not: a request
    // still running then lost its client.
    const auto release = [exchange](bool) {
      if (!exchange->done)
        for (Choice& choice : exchange->choices) choice.stream->cancel();
    };
    if (req.stream) {
      response.set_header("Cache-Control", "no-cache");
      response.set_chunked_content_provider(
          "text/event-stream", [exchange](size_t, httplib::DataSink& sink) { return pump_stream(*exchange, sink); },
          release);
    } else {
      response.set_chunked_content_provider(
          "application/json", [exchange](size_t, httplib::DataSink& sink) { return pump_whole(*exchange, sink); },
          release);
    }
  }

  // POST /v1/embeddings: all inputs of a request go to the engine at once, which packs them
  // into as few forwards as the batch allows.
  void handle_embeddings(const httplib::ContentReader& reader, httplib::Response& response) {
    std::string body;
    if (!read_body(reader, response, body)) return;
    if (!engine.is_embedding_model())
      return send_error(response, bad_request("the model '" + options.model_name + "' (" + engine.summary().architecture +
                                                  ") is not an embedding model; serve an encoder such as a bert GGUF",
                                              "model", "model_not_embedding"));
    auto parsed = parse_embeddings_request(body, options.model_name, options.request_limits.max_json_depth);
    if (const ApiError* error = std::get_if<ApiError>(&parsed)) return send_error(response, *error);
    EmbeddingsRequest& request = std::get<EmbeddingsRequest>(parsed);
    std::vector<std::vector<int32_t>> inputs = std::move(request.token_inputs);
    try {
      for (const std::string& text : request.texts) inputs.push_back(engine.tokenize(text, true, false));
    } catch (const std::exception& failure) {
      return send_error(response, bad_request(std::string("cannot tokenize the input: ") + failure.what(), "input"));
    }
    const EmbeddingResult result = engine.embed(inputs, {});
    if (!result.ok) return send_error(response, bad_request(result.error, "input"));
    if (result.pooling == EmbeddingPooling::None)
      return send_error(response, bad_request("the model's pooling_type is none (one vector per token), which "
                                              "/v1/embeddings cannot return; use jisu embed --pooling none",
                                              "model", "pooling_none"));
    response.set_content(dump_json(embeddings_body(result, options.model_name, request.base64)), "application/json");
  }

  void install_routes() {
    http.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
      if (request.headers.size() > options.max_headers) {
        send_error(response, ApiError{431, "the request has " + std::to_string(request.headers.size()) +
                                               " headers; at most " + std::to_string(options.max_headers) +
                                               " are allowed (--max-headers)",
                                      "invalid_request_error", "", "too_many_headers"});
        BoundedServer::close_after_response(response);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (request.path.rfind("/v1/", 0) == 0 && !authorized(request)) {
        send_error(response, ApiError{401, "invalid or missing API key (send Authorization: Bearer KEY)",
                                      "invalid_request_error", "", "invalid_api_key"});
        // The body was not read: this connection cannot carry another request.
        if (request.has_header("Content-Length") || request.has_header("Transfer-Encoding"))
          BoundedServer::close_after_response(response);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Post("/v1/completions", [this](const httplib::Request& request, httplib::Response& response,
                                        const httplib::ContentReader& reader) {
      handle_generation(request, reader, response, false);
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& request, httplib::Response& response,
                                             const httplib::ContentReader& reader) {
      handle_generation(request, reader, response, true);
    });
    http.Post("/v1/embeddings", [this](const httplib::Request&, httplib::Response& response,
                                       const httplib::ContentReader& reader) { handle_embeddings(reader, response); });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
      const ModelSummary summary = engine.summary();
      json models = json::array();
      std::vector<std::string> names{options.model_name};
      names.insert(names.end(), options.model_aliases.begin(), options.model_aliases.end());
      for (const std::string& name : names)
        models.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "jisu"},
                          {"max_model_len", summary.context_length}});
      response.set_content(dump_json({{"object", "list"}, {"data", models}}), "application/json");
    });
    install_web_ui_routes(http, engine, options.model_name);
    http.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
      if (draining.load()) {
        response.status = 503;
        response.set_content("{\"status\":\"draining\"}", "application/json");
        return;
      }
      response.set_content("{\"status\":\"ok\"}", "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(prometheus_text(engine.metrics()), "text/plain; version=0.0.4");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr failure) {
      std::string message = "internal error";
      try {
        if (failure) std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        message = error.what();
      } catch (...) {
      }
      send_error(response, ApiError{500, message, "server_error", "", ""});
    });
    http.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
      if (!response.body.empty()) return;  // our own JSON error
      if (response.status == 404)
        send_error(response, ApiError{404, "no route " + request.method + " " + request.path, "invalid_request_error",
                                      "", "not_found"});
      else if (response.status == 400) {
        // Where a request that did not parse ends is unknown: the connection cannot carry
        // another. Closing it now also spares a client waiting out the keep-alive time-out.
        send_error(response, bad_request("malformed HTTP request"));
        BoundedServer::close_after_response(response);
      }
    });
  }
};

HttpServer::HttpServer(ServingEngine& engine, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {
  impl_->install_routes();
  const HttpServerOptions& settings = impl_->options;
  const int threads = std::max(4, settings.http_threads);
  BoundedServer& http = impl_->http;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_socket_options(listening_socket_options);
  // Keep-alive and time-outs are BoundedServer's (connection_limits); httplib answers a
  // Content-Length over the limit with 413 and skips the body.
  http.set_keep_alive_timeout(settings.keep_alive_s);  // only the Keep-Alive header it sends
  http.set_keep_alive_max_count(1000);
  http.set_payload_max_length(settings.max_body_bytes);
}

HttpServer::~HttpServer() = default;

void HttpServer::run(const std::function<void(int port)>& on_listening) {
  httplib::Server& http = impl_->http;
  int port = impl_->options.port;
  if (port == 0) {
    port = http.bind_to_any_port(impl_->options.host);
    if (port < 0) throw std::runtime_error("cannot bind to " + impl_->options.host);
  } else if (!http.bind_to_port(impl_->options.host, port)) {
    throw std::runtime_error("cannot bind to " + impl_->options.host + ":" + std::to_string(port) +
                             " (the port is taken or the address is not local)");
  }
  impl_->http.raise_backlog();
  if (on_listening) on_listening(port);
  http.listen_after_bind();
}

void HttpServer::stop() { impl_->http.stop(); }

void HttpServer::set_draining() { impl_->draining = true; }

}  // namespace jisu::server
