#include "gateway/net/udp_link.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <memory>
#include <utility>

namespace gw::net {

namespace asio = boost::asio;
using asio::ip::udp;

struct udp_link::state : std::enable_shared_from_this<udp_link::state> {
  explicit state(const asio::any_io_executor& ex) : executor(ex), socket(ex), resolver(ex) {}

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

  // Reads the datagrams that are ready, up to kBatch per recvmmsg(2), then waits again. A call that returns
  // fewer than kBatch has emptied the queue, so no read is spent on EAGAIN: Asio re-arms the wait with
  // EPOLL_CTL_MOD, which reports a datagram that arrived in between (epoll(7): a modify re-checks readiness).
  // Per datagram that is one recvmmsg and one epoll_ctl instead of a recv, a recv that fails with EAGAIN
  // and an epoll_ctl (docs/benchmarks.md, where the time goes).
  void drain() {
    constexpr std::size_t kBatch = 8;
    // 64 KiB each: the largest UDP payload, so nothing is truncated; CoAP datagrams here are far smaller
    // (spec §7). On the heap, made on the loop thread's first read and left uninitialised, so only the pages
    // datagrams were written to are ever resident: a thread_local array would be static TLS, which glibc sets
    // up and zeroes for every thread of the process (512 KiB each, ~3 MiB of RSS measured).
    using batch_buffers = std::array<std::array<std::uint8_t, 65536>, kBatch>;
    thread_local const std::unique_ptr<batch_buffers> storage(new batch_buffers);  // NOLINT: uninitialised
    batch_buffers& buffers = *storage;
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};  // recvmmsg writes only msg_len and msg_flags: set up once
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = {buffers[i].data(), buffers[i].size()};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const std::uint64_t gen = generation;
    // Bounded: one busy link must not starve the others (at most 8 calls, 64 datagrams, per wake-up).
    for (int round = 0; round < 8 && gen == generation && socket.is_open(); ++round) {
      const int n = ::recvmmsg(socket.native_handle(), msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        // ECONNREFUSED after an ICMP port-unreachable is reported here on a connected socket: keep going.
        ++stats.receive_errors;
        continue;
      }
      for (int i = 0; i < n && gen == generation; ++i) {
        ++stats.datagrams_received;
        if (handler) handler(std::span<const std::uint8_t>(buffers[i].data(), msgs[i].msg_len));
      }
      if (static_cast<std::size_t>(n) < kBatch) break;
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
