#pragma once
// httplib::Server with the connection handling jisu needs from a hostile network (the compiled
// Debian cpp-httplib 0.11 cannot be configured for it). Each connection's requests run through
// httplib's own request parser and routes (process_request); around them this class owns:
//  - the accept queue: httplib listens with a backlog of 5; raise_backlog() makes it SOMAXCONN;
//  - a byte budget per request (headers + body), so that endless headers end the connection
//    instead of growing memory (httplib bounds a header line, not their number);
//  - closing after a request that did not parse or was refused unread (close_after_response),
//    where httplib would wait for the keep-alive time-out on a stream it cannot resync;
//  - a lingering close: stop writing, then read what the client still sends for a moment
//    before closing, because closing a socket with unread bytes makes the kernel send a reset,
//    which can destroy the response the client has not read yet.
#include <httplib.h>

#include <cstddef>

namespace jisu::server {

struct ConnectionLimits {
  size_t max_request_bytes = size_t{8} << 20;  // headers + body of one request
  int read_timeout_ms = 10000;                 // silence mid-request
  int write_timeout_ms = 10000;                // a client not reading its response
  int keep_alive_ms = 5000;                    // idle between requests
  int keep_alive_max_requests = 1000;
};

class BoundedServer : public httplib::Server {
 public:
  explicit BoundedServer(ConnectionLimits limits) : limits_(limits) {}
  // After bind_to_port: the accept queue takes SOMAXCONN connections instead of 5.
  void raise_backlog();
  // From a handler: the connection it runs on ends after this response (which says so).
  static void close_after_response(httplib::Response& response);

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionLimits limits_;
};

}  // namespace jisu::server
