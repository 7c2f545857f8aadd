#include "server/bounded_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace jisu::server {
namespace {

// Set by close_after_response(), read after each request: handlers run on the thread of their
// connection, inside process_request.
thread_local bool close_requested = false;

bool wait_for(socket_t sock, short events, int timeout_ms) {
  pollfd entry{sock, events, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int status = peer ? getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length)
                          : getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  if (status != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// One connection as httplib's Stream, reading through a small buffer (httplib reads request
// lines a byte at a time) and refusing to read past the request's byte budget.
class BudgetedSocketStream final : public httplib::Stream {
 public:
  BudgetedSocketStream(socket_t sock, const ConnectionLimits& limits) : sock_(sock), limits_(limits) {}

  void start_request() { request_bytes_ = 0; }
  bool over_budget() const { return over_budget_; }
  bool has_buffered() const { return begin_ < end_; }

  bool is_readable() const override { return has_buffered() || wait_for(sock_, POLLIN, limits_.read_timeout_ms); }
  bool is_writable() const override { return wait_for(sock_, POLLOUT, limits_.write_timeout_ms); }

  ssize_t read(char* out, size_t size) override {
    if (!has_buffered()) {
      if (!wait_for(sock_, POLLIN, limits_.read_timeout_ms)) return -1;
      const ssize_t got = ::recv(sock_, buffer_, sizeof buffer_, 0);
      if (got <= 0) return got;
      begin_ = 0;
      end_ = static_cast<size_t>(got);
    }
    const size_t n = std::min(size, end_ - begin_);
    request_bytes_ += n;
    if (request_bytes_ > limits_.max_request_bytes) {
      over_budget_ = true;
      return -1;
    }
    std::copy(buffer_ + begin_, buffer_ + begin_ + n, out);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* data, size_t size) override {
    if (!is_writable()) return -1;
    return ::send(sock_, data, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  socket_t sock_;
  const ConnectionLimits& limits_;
  char buffer_[4096];
  size_t begin_ = 0, end_ = 0;
  size_t request_bytes_ = 0;
  bool over_budget_ = false;
};

// Stop sending (the client sees the end of the response), read and drop what it still sends
// for a bounded time, then close: the close finds no unread bytes, so no reset is sent.
void lingering_close(socket_t sock) {
  ::shutdown(sock, SHUT_WR);
  char sink[4096];
  size_t drained = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (drained < (size_t{1} << 20) && std::chrono::steady_clock::now() < deadline) {
    if (!wait_for(sock, POLLIN, 200)) break;
    const ssize_t got = ::recv(sock, sink, sizeof sink, 0);
    if (got <= 0) break;
    drained += static_cast<size_t>(got);
  }
  ::close(sock);
}

}  // namespace

void BoundedServer::raise_backlog() { ::listen(svr_sock_, SOMAXCONN); }

void BoundedServer::close_after_response(httplib::Response& response) {
  response.set_header("Connection", "close");
  close_requested = true;
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  BudgetedSocketStream stream(sock, limits_);
  bool served = false;
  for (int count = limits_.keep_alive_max_requests; count > 0; --count) {
    // Idle wait in slices, so that stop() does not wait out a whole keep-alive time-out.
    bool readable = stream.has_buffered();
    for (int waited = 0; !readable && waited < limits_.keep_alive_ms && svr_sock_ != INVALID_SOCKET; waited += 100)
      readable = wait_for(sock, POLLIN, 100);
    if (!readable || svr_sock_ == INVALID_SOCKET) break;
    close_requested = false;
    stream.start_request();
    bool connection_closed = false;
    served = process_request(stream, count == 1, connection_closed, {});
    if (!served || connection_closed || close_requested || stream.over_budget()) break;
  }
  close_requested = false;
  lingering_close(sock);
  return served;
}

}  // namespace jisu::server
