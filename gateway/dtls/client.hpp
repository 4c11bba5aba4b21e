#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "gateway/crypto/psk.hpp"
#include "gateway/dtls/context.hpp"
#include "gateway/dtls/error.hpp"

using SSL = struct ssl_st;
using BIO = struct bio_st;

namespace gw::dtls {

using time_point = std::chrono::steady_clock::time_point;

struct client_config {
  // Certificate mode: the name (or IP literal) the server certificate must match; DNS names are also sent as
  // SNI (spec §8), IP literals are not (RFC 6066 §3).
  std::string host;
  // PSK mode: identity and key (spec §8, §12 #10), e.g. from crypto::make_psk_credentials.
  std::optional<crypto::psk_credentials> psk;
  // The handshake fails with error::handshake_timeout once this much time has passed since start().
  std::chrono::milliseconds handshake_timeout{60'000};
  // Spec §8: flight retransmission timer starts at 2 s and doubles up to 8 s.
  std::chrono::milliseconds initial_retransmit{2'000};
  std::chrono::milliseconds max_retransmit{8'000};
};

// One DTLS 1.2 session to one server, sans-io: ciphertext goes in through on_datagram() and out through
// poll_transmit(); time comes in as parameters. Not thread-safe: one owner (strand) drives it.
//
// Retransmission: OpenSSL keeps its own flight timer; on_timer() asks it to retransmit
// (DTLSv1_handle_timeout). When the caller's clock runs ahead of OpenSSL's (virtual time in tests, an early
// timer), the last flight is re-sent as written, so the schedule in next_deadline() always holds: 2, 6, 14,
// 22 ... s after the flight.
class client {
 public:
  enum class state { idle, handshaking, connected, failed, closed };

  // Cheap given a context: the owner re-creates a client when the server forgot the session (an alert, or
  // silence noticed by the layer above). Errors: bad_config, openssl_failure.
  static std::unique_ptr<client> create(std::shared_ptr<context> ctx, const client_config& config,
                                        std::error_code& ec);

  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client();

  // Begins the handshake: the ClientHello is then available from poll_transmit(). Only from idle.
  void start(time_point now);
  // One datagram from the network (ciphertext). Ignored unless handshaking or connected.
  void on_datagram(time_point now, std::span<const std::uint8_t> datagram) noexcept;
  // Retransmits the current flight or gives up the handshake when due; no-op otherwise.
  void on_timer(time_point now);
  // When on_timer() must next be called; nullopt unless handshaking.
  std::optional<time_point> next_deadline() const;

  // Encrypts one datagram. Errors: not_connected, message_too_long, protocol_error.
  std::error_code send(std::span<const std::uint8_t> plaintext);

  // Next ciphertext datagram to put on the wire (one BIO write of OpenSSL = one datagram); false if none.
  bool poll_transmit(std::vector<std::uint8_t>& datagram);
  // Next received application datagram (plaintext); false if none.
  bool poll_plaintext(std::vector<std::uint8_t>& datagram);

  state current_state() const noexcept { return state_; }
  std::error_code last_error() const noexcept { return error_; }
  // Why the session failed: X509 verify reason, alert description or OpenSSL error text. Never secret.
  const std::string& last_error_detail() const noexcept { return detail_; }

  // The server certificate's notAfter (seconds since the epoch), read when the handshake completed; nullopt
  // in PSK mode or before. Feeds the server-certificate expiry metric (issue #7: the platform's root expires
  // 2028).
  std::optional<std::int64_t> peer_not_after() const noexcept { return peer_not_after_; }

  // Sends close_notify (into poll_transmit) and moves to closed.
  void close();

  // Largest plaintext send() accepts (0 before connected).
  std::size_t max_plaintext() const noexcept;

 private:
  client(std::shared_ptr<context> ctx, SSL* ssl, const client_config& config);

  static int bio_write(BIO* bio, const char* data, int len);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static unsigned int timer_cb(SSL* ssl, unsigned int timer_us);
  static unsigned int psk_cb(SSL* ssl, const char* hint, char* identity, unsigned int max_identity_len,
                             unsigned char* psk, unsigned int max_psk_len);
  static void info_cb(const SSL* ssl, int where, int ret);

  void drive_handshake();
  void drain_application_data();
  void fail(error e, std::string detail);
  void record_peer_not_after();
  void classify_failure(int ssl_error);
  void arm_retransmit(std::chrono::milliseconds duration);
  void release_buffers();
  void restore_buffers();

  std::shared_ptr<context> ctx_;
  SSL* ssl_;
  BIO* rbio_ = nullptr;  // memory BIO, owned by ssl_
  std::optional<crypto::psk_credentials> psk_;
  std::chrono::milliseconds handshake_timeout_;
  std::chrono::milliseconds initial_retransmit_;
  std::chrono::milliseconds max_retransmit_;

  state state_ = state::idle;
  std::error_code error_;
  std::string detail_;
  int fatal_alert_ = -1;  // description of a received fatal alert
  std::optional<std::int64_t> peer_not_after_;
  bool buffers_released_ = false;

  time_point now_{};  // the `now` of the call being served (read by OpenSSL callbacks)
  time_point started_{};
  std::optional<time_point> retransmit_at_;
  std::chrono::milliseconds retransmit_timeout_{0};

  std::deque<std::vector<std::uint8_t>> out_;
  std::deque<std::vector<std::uint8_t>> in_;
  std::vector<std::vector<std::uint8_t>> flight_;   // last handshake flight written, for re-sending
  std::vector<std::vector<std::uint8_t>> writing_;  // datagrams written during the current call
};

}  // namespace gw::dtls
