#pragma once
// One connected UDP socket to one peer (one per device identity, spec §9). Owns no receive buffer of its own:
// it waits for readability and reads into a buffer shared by every link on the thread, so an idle link costs
// only its socket (shared/design.md: thousands of device sockets on one box).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace gw::net {

struct udp_link_stats {
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t send_errors = 0;  // EAGAIN, ECONNREFUSED (ICMP port unreachable), ...: the datagram is lost
  std::uint64_t receive_errors = 0;
};

class udp_link {
 public:
  using datagram_handler = std::function<void(std::span<const std::uint8_t>)>;
  using connect_handler = std::function<void(std::error_code)>;

  explicit udp_link(boost::asio::any_io_executor executor);
  udp_link(const udp_link&) = delete;
  udp_link& operator=(const udp_link&) = delete;
  ~udp_link();  // closes the socket; no handler runs afterwards

  // Resolves `host` afresh (DNS may change between reconnects, issue #5 item 6), opens a socket connected to
  // the first address and starts receiving. `done` runs on the executor. An earlier socket is closed first.
  void async_connect(const std::string& host, std::uint16_t port, connect_handler done);
  // Opens a socket connected to `peer` synchronously (no DNS).
  std::error_code connect(const boost::asio::ip::udp::endpoint& peer);
  void close();
  bool is_open() const;

  // Sends one datagram without blocking. UDP may lose it anyway; a local error is counted and returned.
  std::error_code send(std::span<const std::uint8_t> datagram);
  // Every datagram received from the connected peer, on the executor.
  void on_receive(datagram_handler handler);

  boost::asio::ip::udp::endpoint local_endpoint() const;
  boost::asio::ip::udp::endpoint remote_endpoint() const;
  const udp_link_stats& stats() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace gw::net
