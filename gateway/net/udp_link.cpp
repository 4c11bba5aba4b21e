#include "gateway/net/udp_link.hpp"

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <utility>

namespace gw::net {

namespace asio = boost::asio;
using asio::ip::udp;

struct udp_link::state : std::enable_shared_from_this<udp_link::state> {
  explicit state(asio::any_io_executor ex) : executor(ex), socket(ex), resolver(ex) {}

  asio::any_io_executor executor;
  udp::socket socket;
  udp::resolver resolver;
  datagram_handler handler;
  udp_link_stats stats;
  std::uint64_t generation = 0;  // bumped on close/reconnect so stale completions are ignored

  void start_receive() {
    socket.async_wait(udp::socket::wait_read,
                      [self = shared_from_this(), gen = generation](const boost::system::error_code& ec) {
                        if (ec || gen != self->generation) return;  // operation_aborted on close
                        self->drain();
                      });
  }

  // Reads every datagram that is ready into the thread's shared buffer, then waits again.
  void drain() {
    // 64 KiB: the largest UDP payload; CoAP datagrams here are far smaller (spec §7), so nothing is
    // truncated.
    thread_local std::array<std::uint8_t, 65536> buffer;
    const std::uint64_t gen = generation;
    for (int i = 0; i < 64 && gen == generation; ++i) {  // bounded: one busy link must not starve the others
      boost::system::error_code ec;
      const std::size_t n = socket.receive(asio::buffer(buffer), 0, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {
        // ECONNREFUSED after an ICMP port-unreachable is reported here on a connected socket: keep going.
        ++stats.receive_errors;
        continue;
      }
      ++stats.datagrams_received;
      if (handler) handler(std::span<const std::uint8_t>(buffer.data(), n));
    }
    if (gen == generation && socket.is_open()) start_receive();
  }

  std::error_code open(const udp::endpoint& peer) {
    boost::system::error_code ec;
    ++generation;
    if (socket.is_open()) socket.close(ec);
    socket.open(peer.protocol(), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (!ec) socket.connect(peer, ec);
    if (ec) {
      boost::system::error_code ignored;
      socket.close(ignored);
      return ec;
    }
    start_receive();
    return {};
  }
};

udp_link::udp_link(asio::any_io_executor executor) : state_(std::make_shared<state>(std::move(executor))) {}

udp_link::~udp_link() {
  close();
  state_->handler = nullptr;
}

void udp_link::async_connect(const std::string& host, std::uint16_t port, connect_handler done) {
  close();
  const std::uint64_t gen = state_->generation;
  state_->resolver.async_resolve(
      host, std::to_string(port), udp::resolver::numeric_service,
      [self = state_, gen, done = std::move(done)](const boost::system::error_code& ec,
                                                   const udp::resolver::results_type& results) {
        if (gen != self->generation) return;  // closed or reconnected meanwhile
        if (ec) {
          done(ec);
          return;
        }
        if (results.empty()) {
          done(std::make_error_code(std::errc::host_unreachable));
          return;
        }
        done(self->open(results.begin()->endpoint()));
      });
}

std::error_code udp_link::connect(const udp::endpoint& peer) {
  return state_->open(peer);
}

void udp_link::close() {
  ++state_->generation;
  state_->resolver.cancel();
  boost::system::error_code ignored;
  if (state_->socket.is_open()) state_->socket.close(ignored);
}

bool udp_link::is_open() const {
  return state_->socket.is_open();
}

std::error_code udp_link::send(std::span<const std::uint8_t> datagram) {
  boost::system::error_code ec;
  if (!state_->socket.is_open()) return std::make_error_code(std::errc::not_connected);
  state_->socket.send(asio::buffer(datagram.data(), datagram.size()), 0, ec);
  if (ec) {
    ++state_->stats.send_errors;
    return ec;
  }
  ++state_->stats.datagrams_sent;
  return {};
}

void udp_link::on_receive(datagram_handler handler) {
  state_->handler = std::move(handler);
}

udp::endpoint udp_link::local_endpoint() const {
  boost::system::error_code ec;
  return state_->socket.local_endpoint(ec);
}

udp::endpoint udp_link::remote_endpoint() const {
  boost::system::error_code ec;
  return state_->socket.remote_endpoint(ec);
}

const udp_link_stats& udp_link::stats() const {
  return state_->stats;
}

}  // namespace gw::net
