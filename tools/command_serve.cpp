// `jisu serve`: the OpenAI-compatible HTTP server (src/server/) over a ServingEngine.
// SIGTERM drains: /health and new requests get 503 (a load balancer moves traffic elsewhere)
// while queued and running requests finish, for at most --drain-timeout seconds; then the rest
// end as "abort", the listener closes, and the process exits 0. SIGINT, or a second SIGTERM,
// skips the drain.
#include <jisu/serving_engine.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <pthread.h>
#include <system_error>
#include <thread>

#include "command_registry.h"
#include "cache_type_options.h"
#include "device_options.h"
#include "model_loading.h"
#include "core/error.h"
#include "server/http_server.h"
#include "speculative_options.h"

namespace jisu::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int32_t max_sequences = 16;
  int32_t kv_blocks = 0;
  std::string kv_memory;
  std::string api_key;
  int32_t threads = 0;
  int32_t context_length = 0;
  int32_t batch = 256;
  int32_t max_queue = 64;
  std::string served_name;
  std::vector<std::string> aliases;
  std::string chat_template_file;
  std::string device = "cpu";
  int32_t gpu_layers = -1;
  SpeculativeOptions speculative;
  ProcessGrid grid;
  std::string cache_type_k = ServingOptions{}.cache_type_k;
  std::string cache_type_v = ServingOptions{}.cache_type_v;
  double drain_timeout = 60;
  int32_t http_threads = 0;  // 0: max-seqs + max-queue + 8, at most kMaxDefaultHttpThreads
  server::HttpServerOptions limits;  // only its limit fields are read from flags
};

// Threads serving connections when --http-threads is not given. Every running or queued request
// holds one; past this bound connections wait in the accept queue instead of each costing a
// thread (--max-queue 65536 asked for 66,568 threads and hung).
constexpr int32_t kMaxDefaultHttpThreads = 256;

// "512M", "2G", "1048576" -> bytes.
uint64_t parse_size(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw Error("--kv-memory '" + text + "' is not a size", "use e.g. 512M or 2G");
  }
  const std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "K" || unit == "k" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty()) throw Error("--kv-memory '" + text + "' has an unknown unit", "use K, M or G");
  // Also refuses nan and inf (stod parses them) and sizes no machine has (1e30G).
  const double bytes = value * scale;
  if (!(bytes >= 1.0 && bytes <= static_cast<double>(uint64_t{1} << 50)))
    throw Error("--kv-memory '" + text + "' is not a size between 1 byte and 1 PiB", "use e.g. 512M or 2G");
  return static_cast<uint64_t>(bytes);
}

// Shutdown state shared with the signal thread: until the server exists, a signal ends the
// process at once (loading a model or probing its chat template must stay interruptible).
struct ServeLifetime {
  std::atomic<bool> done{false};
  std::atomic<server::HttpServer*> server{nullptr};
  std::atomic<ServingEngine*> engine{nullptr};
};

int run_serve(const ServeOptions& options) {
  // Signals go to one thread (sigwait) so that shutdown runs as ordinary code; a write to a
  // closed connection must fail with EPIPE rather than kill the process. The thread starts
  // before any other, so that every thread inherits the blocked mask.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ServeLifetime lifetime;
  std::thread signal_thread([&] {
    const timespec tick{0, 200'000'000};
    while (!lifetime.done.load()) {
      const int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal <= 0) continue;
      server::HttpServer* server = lifetime.server.load();
      if (!server) {
        std::fprintf(stderr, "jisu serve: interrupted while starting\n");
        std::_Exit(128 + signal);
      }
      ServingEngine* engine = lifetime.engine.load();
      if (signal == SIGTERM && options.drain_timeout > 0) {
        std::fprintf(stderr, "jisu serve: draining (at most %.0f s; a second SIGTERM or SIGINT stops at once)\n",
                     options.drain_timeout);
        server->set_draining();
        engine->stop_admitting();
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::duration<double>(options.drain_timeout);
        const timespec short_tick{0, 50'000'000};
        while (engine->requests_in_flight() > 0 && std::chrono::steady_clock::now() < deadline &&
               !lifetime.done.load() && sigtimedwait(&signals, nullptr, &short_tick) <= 0) {
        }
      }
      std::fprintf(stderr, "jisu serve: shutting down\n");
      engine->shutdown();  // ends running requests so their connections finish
      server->stop();
      return;
    }
  });
  struct JoinSignalThread {
    ServeLifetime& lifetime;
    std::thread& thread;
    ~JoinSignalThread() {
      lifetime.done = true;
      if (thread.joinable()) thread.join();
    }
  } join_signal_thread{lifetime, signal_thread};

  ServingOptions serving;
  serving.model_path = options.model.empty() ? default_model_path() : options.model;
  serving.threads = options.threads;
  serving.context_length = options.context_length;
  serving.max_sequences = options.max_sequences;
  serving.max_batch_tokens = options.batch;
  serving.kv_blocks = options.kv_blocks;
  serving.kv_memory_bytes = options.kv_memory.empty() ? 0 : parse_size(options.kv_memory);
  serving.max_queue = options.max_queue;
  serving.device = options.device;
  serving.gpu_layers = options.gpu_layers;
  options.speculative.apply(serving);
  if (!options.chat_template_file.empty()) serving.chat_template = read_text_file(options.chat_template_file, "--chat-template-file");
  serving.grid = options.grid;
  serving.cache_type_k = options.cache_type_k;
  serving.cache_type_v = options.cache_type_v;
  auto engine = load_with_loading_line(serving.model_path, false, [&] { return ServingEngine::create(serving); });

  server::HttpServerOptions http = options.limits;
  http.model_aliases = options.aliases;
  http.host = options.host;
  http.port = options.port;
  http.api_key = options.api_key;
  http.model_name = options.served_name.empty() ? std::filesystem::path(serving.model_path).stem().string()
                                                : options.served_name;
  // Every running or queued request holds a connection thread, plus a few for probes.
  http.http_threads = options.http_threads > 0
                          ? options.http_threads
                          : std::min(options.max_sequences + options.max_queue + 8, kMaxDefaultHttpThreads);
  server::HttpServer server(*engine, http);
  lifetime.engine = engine.get();
  lifetime.server = &server;
  JoinSignalThread join_before_server_ends{lifetime, signal_thread};  // it may be inside server.stop()
  try {
    server.run([&](int port) {
      std::printf("jisu serve: model %s, listening on http://%s:%d\n", http.model_name.c_str(), options.host.c_str(),
                  port);
      std::fflush(stdout);
    });
  } catch (const std::system_error& failure) {  // threads of the HTTP pool
    throw Error(std::string("cannot start the HTTP server's threads: ") + failure.what(), "lower --http-threads");
  } catch (const std::runtime_error& failure) {
    throw Error(failure.what(), "pick another --port or --host");
  }
  engine->shutdown();
  return 0;
}

CommandRegistrar registrar{
    "serve", "OpenAI-compatible HTTP server with continuous batching", [](CLI::App& command) {
      auto options = std::make_shared<ServeOptions>();
      command.add_option("-m,--model", options->model, "GGUF model file")->default_str("the bundled demo model");
      command.add_option("--host", options->host, "address to listen on");
      command.add_option("--port", options->port, "port (0: any free port, printed at start)")->check(CLI::Range(0, 65535));
      command.add_option("--max-seqs", options->max_sequences, "requests generated at once")->check(CLI::Range(1, 1024));
      auto* blocks = command.add_option("--kv-blocks", options->kv_blocks, "KV cache blocks of 16 positions")
                         ->check(CLI::Range(2, 1 << 24));
      command.add_option("--kv-memory", options->kv_memory, "KV cache size, e.g. 512M (instead of --kv-blocks)")
          ->excludes(blocks);
      command.add_option("--api-key", options->api_key, "require Authorization: Bearer KEY on /v1/*");
      command.add_option("-t,--threads", options->threads, "compute threads (default: all cores)")
          ->check(CLI::Range(0, 1024));
      command.add_option("-c,--ctx-size", options->context_length, "context length (default: the model's, at most 4096)")
          ->check(CLI::Range(0, 1 << 24));
      command.add_option("-b,--batch-size", options->batch, "tokens per forward (prompt chunks + decodes)")
          ->check(CLI::Range(1, 1 << 16));
      add_device_options(command, options->device, options->gpu_layers);
      add_grid_options(command, options->grid);
      add_speculative_options(command, options->speculative);
      add_cache_type_options(command, options->cache_type_k, options->cache_type_v);
      command.add_option("--drain-timeout", options->drain_timeout,
                         "seconds SIGTERM lets queued and running requests finish (0: stop at once)")
          ->check(CLI::Range(0.0, 86400.0));
      command.add_option("--max-queue", options->max_queue, "requests waiting before 429")->check(CLI::Range(0, 1 << 16));
      command.add_option("--served-model-name", options->served_name, "model id (default: the file name)");
      command.add_option("--alias", options->aliases,
                         "another model id that /v1/models lists and requests may name (repeatable)");
      command.add_option("--chat-template-file", options->chat_template_file,
                         "Jinja chat template to use instead of the model's (e.g. a tool-capable one)");
      server::HttpServerOptions& limits = options->limits;
      command.add_option("--http-threads", options->http_threads, "connections served at once (default: max-seqs + max-queue + 8, at most 256)")
          ->check(CLI::Range(4, 4096));
      command.add_option("--max-body", limits.max_body_bytes, "request body bytes before 413")
          ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
      command.add_option("--max-headers", limits.max_headers, "request headers before 431")->check(CLI::Range(8, 10000));
      command.add_option("--read-timeout", limits.read_timeout_s, "seconds a client may stall sending a request")
          ->check(CLI::Range(1, 3600));
      command.add_option("--write-timeout", limits.write_timeout_s, "seconds a client may stall reading a response")
          ->check(CLI::Range(1, 3600));
      command.add_option("--keep-alive", limits.keep_alive_s, "seconds an idle connection stays open")
          ->check(CLI::Range(1, 3600));
      server::RequestLimits& request = limits.request_limits;
      command.add_option("--max-json-depth", request.max_json_depth, "JSON nesting of a request body")
          ->check(CLI::Range(4, 10000));
      command.add_option("--max-stop-strings", request.max_stop_strings, "stop strings per request")
          ->check(CLI::Range(0, 1024));
      command.add_option("--max-stop-length", request.max_stop_bytes, "bytes of one stop string")
          ->check(CLI::Range(1, 1 << 20));
      command.add_option("--max-tokens-limit", request.max_tokens, "largest max_tokens a request may ask for")
          ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
      command.add_option("--max-messages", request.max_messages, "chat messages per request")
          ->check(CLI::Range(1, 1 << 20));
      command.add_option("--max-n", request.max_n, "most choices ('n') one request may ask for")
          ->check(CLI::Range(int64_t{1}, int64_t{128}));
      return [options] { return run_serve(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
