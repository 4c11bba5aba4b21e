// lean_mqtt: a minimal blocking MQTT 3.1.1 client (OASIS MQTT 3.1.1 §2-3) for the benchmark's load process,
// so that the load generator costs the shared two cores as little as possible. It pipelines QoS 1 PUBLISHes
// (many per write(2)), reads PUBACKs and incoming PUBLISHes in 64 KiB chunks, and answers every PUBLISH of a
// chunk with one write of PUBACKs. Paho C, which the product uses, reads each packet with 3 recv(2) and 2
// poll(2) and writes each on its own; on this VM that made the Paho publisher cost ~30 us of CPU per message,
// as much as Mosquitto, and capped every figure measured through it (docs/benchmarks.md).
//
// Deliberately small: no TLS, no MQTT 5, no keep-alive (CONNECT says 0, so the broker never expects a
// PINGREQ), no reconnect, QoS 0 and 1 only. Any protocol surprise throws lean_mqtt::error. Not used by the
// product or by the correctness tests; `e2e_mqtt_load --client lean` selects it.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lean_mqtt {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An incoming PUBLISH, viewing the connection's read buffer (valid until the next read).
struct publish_view {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
};

class connection {
 public:
  // Connects to "tcp://host:port" and sends CONNECT with a clean session; waits for a CONNACK accepting it.
  connection(const std::string& uri, const std::string& client_id) {
    constexpr std::string_view scheme = "tcp://";
    if (uri.rfind(scheme, 0) != 0) throw error("lean client needs a tcp:// URI, not " + uri);
    const std::string hostport = uri.substr(scheme.size());
    const auto colon = hostport.rfind(':');
    if (colon == std::string::npos) throw error("no port in " + uri);
    const std::string host = hostport.substr(0, colon);
    const std::string port = hostport.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      throw error("cannot resolve " + uri);
    }
    fd_ = ::socket(res->ai_family, SOCK_STREAM, 0);
    const int rc = fd_ < 0 ? -1 : ::connect(fd_, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (rc != 0) {
      close();
      throw error("cannot connect to " + uri + ": " + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    try {
      handshake(client_id);
    } catch (...) {
      close();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    if (fd_ >= 0) {
      const char disconnect[2] = {'\xe0', '\0'};
      (void)::send(fd_, disconnect, sizeof disconnect, MSG_NOSIGNAL);
    }
    close();
  }

 private:
  // CONNECT (MQTT 3.1.1 §3.1) and its CONNACK (§3.2): session present or not, return code 0.
  void handshake(const std::string& client_id) {
    std::string body;
    put_string(body, "MQTT");
    body += '\x04';                       // protocol level 4 = 3.1.1
    body += '\x02';                       // clean session
    body += std::string_view("\0\0", 2);  // keep alive 0: off
    put_string(body, client_id);
    std::string packet;
    put_header(packet, 0x10, body.size());
    packet += body;
    write_all(packet);
    const auto connack = next_packet(std::chrono::seconds(10));
    if (!connack || connack->type != 0x20 || connack->body.size() != 2 || connack->body[1] != 0) {
      throw error("broker refused CONNECT");
    }
  }

 public:
  // SUBSCRIBE to one filter; throws unless the SUBACK grants it.
  void subscribe(const std::string& filter, int qos) {
    std::string body;
    put_u16(body, 1);
    put_string(body, filter);
    body += static_cast<char>(qos);
    std::string packet;
    put_header(packet, 0x82, body.size());
    packet += body;
    write_all(packet);
    const auto suback = next_packet(std::chrono::seconds(10));
    if (!suback || suback->type != 0x90 || suback->body.size() != 3 ||
        static_cast<unsigned char>(suback->body[2]) > 2) {
      throw error("broker refused SUBSCRIBE to " + filter);
    }
  }

  // Appends a PUBLISH to `out` (sent by flush); QoS 1 needs a packet id 1..65535.
  static void append_publish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                             std::uint16_t packet_id) {
    const std::size_t len = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
    put_header(out, static_cast<unsigned char>(0x30 | (qos << 1)), len);
    put_string(out, topic);
    if (qos > 0) put_u16(out, packet_id);
    out += payload;
  }
  static void append_puback(std::string& out, std::uint16_t packet_id) {
    out += '\x40';
    out += '\x02';
    put_u16(out, packet_id);
  }
  void flush(std::string& out) {
    write_all(out);
    out.clear();
  }

  // Reads what has arrived (waiting up to `timeout` for the first byte; zero: only what is there) and calls
  // on_puback(id) and on_publish(view, packet_id) for every complete packet. Returns false on timeout.
  template <typename OnPuback, typename OnPublish>
  bool read_some(std::chrono::milliseconds timeout, OnPuback&& on_puback, OnPublish&& on_publish) {
    if (!fill(timeout)) return false;
    while (auto p = parse_one()) {
      if (p->type == 0x40) {
        if (p->body.size() != 2) throw error("bad PUBACK");
        on_puback(get_u16(p->body.data()));
      } else if (p->type == 0x30) {
        publish_view v;
        v.qos = (p->flags >> 1) & 3;
        if (p->body.size() < 2) throw error("bad PUBLISH");
        const std::size_t tlen = get_u16(p->body.data());
        std::size_t at = 2 + tlen;
        if (at > p->body.size()) throw error("bad PUBLISH topic");
        v.topic = p->body.substr(2, tlen);
        std::uint16_t id = 0;
        if (v.qos > 0) {
          if (at + 2 > p->body.size()) throw error("bad PUBLISH id");
          id = get_u16(p->body.data() + at);
          at += 2;
        }
        v.payload = p->body.substr(at);
        on_publish(v, id);
      }
      // other packets (none expected without keep-alive) are skipped
    }
    compact();
    return true;
  }

 private:
  struct packet {
    unsigned char type = 0, flags = 0;
    std::string_view body;
  };

  static void put_u16(std::string& out, std::uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
  }
  static std::uint16_t get_u16(const char* p) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                      static_cast<unsigned char>(p[1]));
  }
  static void put_string(std::string& out, std::string_view s) {
    put_u16(out, static_cast<std::uint16_t>(s.size()));
    out += s;
  }
  // Fixed header: type/flags byte and the Remaining Length varint (§2.2.3).
  static void put_header(std::string& out, unsigned char first, std::size_t len) {
    out += static_cast<char>(first);
    do {
      auto b = static_cast<unsigned char>(len % 128);
      len /= 128;
      if (len > 0) b |= 0x80;
      out += static_cast<char>(b);
    } while (len > 0);
  }

  void write_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw error(std::string("send: ") + std::strerror(errno));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Appends what the socket has to the buffer; false if nothing came within `timeout`.
  bool fill(std::chrono::milliseconds timeout) {
    if (timeout.count() > 0) {
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (r == 0) return false;
      if (r < 0 && errno != EINTR) throw error(std::string("poll: ") + std::strerror(errno));
    }
    constexpr std::size_t chunk = 64 * 1024;
    const std::size_t old = in_.size();
    in_.resize(old + chunk);
    const ssize_t n = ::recv(fd_, in_.data() + old, chunk, timeout.count() > 0 ? 0 : MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      in_.resize(old);
      return true;
    }
    if (n <= 0) throw error(n == 0 ? "broker closed the connection" : std::strerror(errno));
    in_.resize(old + static_cast<std::size_t>(n));
    return true;
  }

  // The next complete packet in the buffer, or nullopt (then more bytes are needed).
  std::optional<packet> parse_one() {
    const std::size_t avail = in_.size() - pos_;
    if (avail < 2) return std::nullopt;
    std::size_t len = 0, at = pos_ + 1;
    for (int shift = 0;; shift += 7) {
      if (at >= in_.size()) return std::nullopt;
      if (shift > 21) throw error("bad Remaining Length");
      const auto b = static_cast<unsigned char>(in_[at++]);
      len |= static_cast<std::size_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (in_.size() - at < len) return std::nullopt;
    const auto first = static_cast<unsigned char>(in_[pos_]);
    packet p{static_cast<unsigned char>(first & 0xf0), static_cast<unsigned char>(first & 0x0f),
             std::string_view(in_).substr(at, len)};
    pos_ = at + len;
    return p;
  }
  // Blocks until one whole packet is there (for CONNACK and SUBACK).
  std::optional<packet> next_packet(std::chrono::milliseconds timeout) {
    for (;;) {
      if (auto p = parse_one()) return p;
      if (!fill(timeout)) return std::nullopt;
    }
  }
  void compact() {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  std::string in_;
  std::size_t pos_ = 0;
};

}  // namespace lean_mqtt
