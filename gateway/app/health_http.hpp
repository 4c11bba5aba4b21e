#pragma once
// The health endpoint (issue #7, design.md §5): HTTP/1.1 on Boost.Beast, asynchronous on the gateway's
// io_context (handlers run on the loop, so an answer to /healthz also proves the loop turns). Bound to
// health.http (127.0.0.1:9880 by default).
//
//   GET  /          HTML status page (status_page.hpp)
//   GET  /healthz   200 "ok": the process is alive and its loop responsive
//   GET  /readyz    200 "ready" or 503 with the reason: broker connected and >= ready_share of devices ready
//   GET  /metrics   Prometheus text format 0.0.4 (metrics.hpp)
//   GET  /devices   JSON: {"gateway": {...}, "devices": [...]} (health_report.hpp to_json)
//   GET  /loglevel  the current log level
//   POST /loglevel  body "trace|debug|info|warn|error|critical|off": sets the log level at run time
//
// Bounds: at most max_connections at once (more are answered 503 and closed), request headers up to
// max_header_bytes (431 beyond), bodies up to max_body_bytes (413), idle_timeout per connection. Unknown
// paths get 404, wrong methods 405, unparsable requests 400. HEAD is served like GET without a body.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "gateway/app/health_report.hpp"

namespace gw::app {

struct health_http_limits {
  std::size_t max_connections = 32;
  std::size_t max_header_bytes = std::size_t{8} * 1024;
  std::size_t max_body_bytes = 1024;
  std::chrono::milliseconds idle_timeout{10000};
};

class health_http_server {
 public:
  using report_source = std::function<gateway_report()>;

  health_http_server(boost::asio::io_context& io, report_source source,
                     double ready_share = default_ready_share, health_http_limits limits = {});
  health_http_server(const health_http_server&) = delete;
  health_http_server& operator=(const health_http_server&) = delete;
  ~health_http_server();

  // Binds "host:port" (IPv4 "127.0.0.1:9880", IPv6 "[::1]:9880"; port 0 picks a free one) and starts
  // accepting. Errors: the parse error (invalid_argument) or the socket's.
  std::error_code listen(std::string_view host_port);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Stops accepting and closes every open connection. Idempotent.
  void stop();

  std::size_t connections() const;

  struct state;  // shared with the connections; defined in health_http.cpp

 private:
  std::shared_ptr<state> state_;
};

// "host:port" -> endpoint; false on a malformed address or port.
bool parse_listen_address(std::string_view text, boost::asio::ip::tcp::endpoint& out);

}  // namespace gw::app
