#pragma once
// Test peer: an OpenSSL DTLS 1.2 PSK server on memory BIOs, so a client can be driven without sockets.

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/dtls/client.hpp"

namespace gw::dtls::test {

class memory_peer {
 public:
  // Accepts `identity` with `psk` (ASCII key bytes) using PSK-AES128-CBC-SHA.
  memory_peer(std::string identity, std::string psk);
  memory_peer(const memory_peer&) = delete;
  memory_peer& operator=(const memory_peer&) = delete;
  ~memory_peer();

  // Feeds one client datagram; returns what the server wrote in response (one datagram, possibly empty).
  std::vector<std::uint8_t> on_datagram(const std::vector<std::uint8_t>& datagram);
  bool connected() const;
  // Application data received so far (concatenated records) and whether close_notify arrived.
  const std::string& received() const { return received_; }
  bool got_close_notify() const { return close_notify_; }
  // Encrypts one application record; returns the datagram to hand to the client.
  std::vector<std::uint8_t> write(const std::string& plaintext);
  std::vector<std::uint8_t> close();

  // Shuttles datagrams between `c` and this peer until nothing moves; returns the number of exchanges.
  int pump(client& c, time_point now);

 private:
  std::vector<std::uint8_t> drain();

  std::string identity_;
  std::string psk_;
  void* ctx_;
  void* ssl_;
  void* rbio_;
  void* wbio_;
  std::string received_;
  bool close_notify_ = false;
};

}  // namespace gw::dtls::test
