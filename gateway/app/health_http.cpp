#include "gateway/app/health_http.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <list>

#include "gateway/app/metrics.hpp"
#include "gateway/app/status_page.hpp"

namespace gw::app {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class connection;

struct health_http_server::state {
  asio::io_context& io;
  report_source source;
  double ready_share;
  health_http_limits limits;
  tcp::acceptor acceptor;
  std::list<std::weak_ptr<connection>> open;  // for stop()
  std::size_t active = 0;
  bool stopped = false;

  state(asio::io_context& i, report_source s, double share, health_http_limits l)
      : io(i), source(std::move(s)), ready_share(share), limits(l), acceptor(i) {}
};

namespace {

using response = http::response<http::string_body>;

response make(unsigned version, bool keep_alive, http::status status, std::string_view content_type,
              std::string body) {
  response res{status, version};
  res.set(http::field::server, "mqtt-coap-gateway");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string_view level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
      return "off";
    default:
      return "info";
  }
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  for (auto l : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                 spdlog::level::err, spdlog::level::critical, spdlog::level::off}) {
    if (s == level_name(l)) return l;
  }
  return std::nullopt;
}

}  // namespace

// One HTTP connection: read a request, answer, repeat while keep-alive (Beast's do_read/on_read pattern).
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket socket, std::shared_ptr<health_http_server::state> st)
      : stream_(std::move(socket)), state_(std::move(st)) {
    ++state_->active;
  }
  ~connection() { --state_->active; }

  void start() { do_read(); }

  // Answers 503 and closes: the connection limit is reached.
  void refuse() {
    write(make(11, false, http::status::service_unavailable, "text/plain", "too many connections\n"));
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    parser_->body_limit(state_->limits.max_body_bytes);
    stream_.expires_after(state_->limits.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::eof) {
      return close();
    }
    if (ec == http::error::header_limit) {
      return write(make(11, false, http::status::request_header_fields_too_large, "text/plain",
                        "request headers too large\n"));
    }
    if (ec == http::error::body_limit) {
      return write(
          make(11, false, http::status::payload_too_large, "text/plain", "request body too large\n"));
    }
    if (ec) return write(make(11, false, http::status::bad_request, "text/plain", "bad request\n"));
    write(handle(parser_->get()));
  }

  response handle(const http::request<http::string_body>& req) {
    const unsigned v = req.version();
    const bool ka = req.keep_alive();
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    const auto method = req.method();
    const bool get = method == http::verb::get || method == http::verb::head;
    auto text = [&](http::status s, const std::string& body) {
      return make(v, ka, s, "text/plain; charset=utf-8", body);
    };
    auto not_allowed = [&](std::string_view allow) {
      auto r = text(http::status::method_not_allowed, "method not allowed\n");
      r.set(http::field::allow, allow);
      return r;
    };

    if (target == "/healthz") {
      if (!get) return not_allowed("GET, HEAD");
      return text(http::status::ok, "ok\n");
    }
    if (target == "/readyz") {
      if (!get) return not_allowed("GET, HEAD");
      const auto r = state_->source();
      if (is_ready(r, state_->ready_share)) return text(http::status::ok, "ready\n");
      std::string why = "not ready: broker ";
      why += r.mqtt_connected ? "connected" : "disconnected";
      why += ", devices ready " + std::to_string(r.devices_ready) + "/" + std::to_string(r.devices_total);
      if (r.queue_storage_failing) why += ", queue storage failing: " + r.queue_last_error.value_or("error");
      why += "\n";
      return text(http::status::service_unavailable, std::move(why));
    }
    if (target == "/metrics") {
      if (!get) return not_allowed("GET, HEAD");
      return make(v, ka, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                  render_metrics(state_->source()));
    }
    if (target == "/devices") {
      if (!get) return not_allowed("GET, HEAD");
      return make(v, ka, http::status::ok, "application/json", to_json(state_->source()).dump() + "\n");
    }
    if (target == "/") {
      if (!get) return not_allowed("GET, HEAD");
      return make(v, ka, http::status::ok, "text/html; charset=utf-8", std::string(status_page_html()));
    }
    if (target == "/loglevel") {
      if (get) return text(http::status::ok, std::string(level_name(spdlog::get_level())) + "\n");
      if (method != http::verb::post && method != http::verb::put) return not_allowed("GET, HEAD, POST, PUT");
      const auto level = parse_level(req.body());
      if (!level) {
        return text(http::status::bad_request,
                    "unknown level; one of trace, debug, info, warn, error, critical, off\n");
      }
      spdlog::set_level(*level);
      spdlog::warn("log level set to {} (POST /loglevel)", level_name(*level));
      return text(http::status::ok, std::string(level_name(*level)) + "\n");
    }
    return text(http::status::not_found, "not found\n");
  }

  void write(response res) {
    const bool head = parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head;
    res_ = std::move(res);
    if (head) {
      // RFC 9110 §9.3.2: HEAD carries the GET's headers (Content-Length included) and no body.
      const auto length = res_.body().size();
      res_.body().clear();
      res_.content_length(length);
    }
    stream_.expires_after(state_->limits.idle_timeout);
    auto& r = res_;
    auto sp = std::make_shared<http::response_serializer<http::string_body>>(r);
    if (head) sp->split(true);
    auto done = [self = shared_from_this(), sp, head](beast::error_code ec, std::size_t) {
      self->on_write(ec, !self->res_.keep_alive());
    };
    if (head) {
      http::async_write_header(stream_, *sp, std::move(done));
    } else {
      http::async_write(stream_, *sp, std::move(done));
    }
  }

  void on_write(beast::error_code ec, bool close_after) {
    if (ec || close_after || state_->stopped) return close();
    do_read();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<health_http_server::state> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  response res_;
};

namespace {

void do_accept(const std::shared_ptr<health_http_server::state>& st) {
  st->acceptor.async_accept([st](beast::error_code ec, tcp::socket socket) {
    if (st->stopped) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // EMFILE and friends: keep serving; the next accept may succeed once a connection closed.
      spdlog::debug("health: accept failed: {}", ec.message());
      return do_accept(st);
    }
    auto c = std::make_shared<connection>(std::move(socket), st);
    if (st->active > st->limits.max_connections) {
      c->refuse();
    } else {
      st->open.remove_if([](const std::weak_ptr<connection>& w) { return w.expired(); });
      st->open.push_back(c);
      c->start();
    }
    do_accept(st);
  });
}

}  // namespace

bool parse_listen_address(std::string_view text, tcp::endpoint& out) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || p > 65535) return false;
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code aec;
  const auto addr = asio::ip::make_address(std::string(host), aec);
  if (aec) return false;
  out = tcp::endpoint(addr, static_cast<std::uint16_t>(p));
  return true;
}

health_http_server::health_http_server(asio::io_context& io, report_source source, double ready_share,
                                       health_http_limits limits)
    : state_(std::make_shared<state>(io, std::move(source), ready_share, limits)) {}

health_http_server::~health_http_server() {
  stop();
}

std::error_code health_http_server::listen(std::string_view host_port) {
  tcp::endpoint ep;
  if (!parse_listen_address(host_port, ep)) return std::make_error_code(std::errc::invalid_argument);
  boost::system::error_code ec;
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close();
    return std::error_code(ec.value(), std::system_category());
  }
  do_accept(state_);
  return {};
}

tcp::endpoint health_http_server::local_endpoint() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

void health_http_server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  for (auto& w : state_->open) {
    if (auto c = w.lock()) c->close();
  }
  state_->open.clear();
}

std::size_t health_http_server::connections() const {
  return state_->active;
}

}  // namespace gw::app
