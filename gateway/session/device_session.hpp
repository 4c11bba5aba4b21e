#pragma once
// One device identity on the wire: owns its UDP link, its DTLS client (dtls modes), its CoAP endpoint and its
// device_fsm, and executes the FSM's actions (spec §3 flows). The thin Asio shell of shared/style.md habit 1:
// every protocol decision is the FSM's (device_fsm.hpp) or the endpoint's (gateway/coap/endpoint.hpp); this
// class only moves bytes, keys and time between them.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/coap/endpoint.hpp"
#include "gateway/crypto/aes.hpp"
#include "gateway/crypto/secret.hpp"
#include "gateway/crypto/sign.hpp"
#include "gateway/dtls/client.hpp"
#include "gateway/dtls/context.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/net/udp_link.hpp"
#include "gateway/session/auth_gate.hpp"
#include "gateway/session/device_fsm.hpp"

namespace gw::session {

struct device_identity {
  std::string id;  // "${productKey}/${deviceName}" by default
  std::string product_key;
  std::string device_name;
  crypto::secret device_secret;
  std::string client_id;  // spec §4.1, default "${pk}.${dn}"
  security_mode mode = security_mode::aes;
  std::string host;     // TLS name and SNI (dtls)
  std::string address;  // where datagrams go (resolved on every connect)
  std::uint16_t port = 0;
};

// Protocol choices shared by many devices (cloud.* in the config). Everything the spec marks unconfirmed is
// here.
struct session_options {
  device_fsm_config fsm;
  coap::transmission_params coap;
  crypto::sign_method sign = crypto::sign_method::hmacsha1;
  bool send_timestamp = true;                       // spec §4.1
  bool send_signmethod = true;                      // spec §4.1, §12 #3
  std::optional<unsigned> ack_mode;                 // spec §4.1: sent (and signed) only when set
  std::uint16_t token_option = 2088;                // spec §5.1, §12 #1: 2088 or 61
  std::optional<std::uint16_t> accept = 50;         // spec §5.1: none, 42, 50, 60 (also on /auth when 50/60)
  std::uint16_t content_format = 50;                // spec §5.1: 50 json, 60 cbor
  bool send_uri_host = false;                       // spec §7
  std::uint64_t psk_timestamp = 2524608000000ULL;   // spec §12 #10
  std::shared_ptr<dtls::context> dtls_certificate;  // required for security_mode::dtls
  std::shared_ptr<dtls::context> dtls_psk;          // required for security_mode::dtls_psk
  std::function<std::int64_t()> wall_clock_ms;      // the /auth timestamp; defaults to system_clock
};

using clock_time_point = std::chrono::steady_clock::time_point;

struct outbound_message {
  message_handle handle = 0;
  std::string cloud_topic;  // "/${pk}/${dn}/user/update": sent as Uri-Path "topic" + segments (spec §5.1)
  std::vector<std::uint8_t> payload;
};

// What a session reports to its owner (the gateway), on the loop.
struct session_events {
  std::function<void(message_handle, std::string platform_message_id)> acked;
  std::function<void(message_handle, std::string reason, std::uint8_t code)> dead_lettered;
  std::function<void(const state_changed&)> state_changed;
  // The cloud answered this session after at least one of its exchanges timed out or was retransmitted:
  // positive evidence that the cloud endpoint (host:port) works again (issue #6 item 4). `working_since`:
  // when the answered copy left (coap::response_event::answered_copy_sent).
  std::function<void(clock_time_point now, clock_time_point working_since)> answered_after_timeouts;
};

struct session_stats {
  std::uint64_t retransmissions = 0;
  std::chrono::steady_clock::duration last_rtt{};
  std::uint64_t malformed = 0;
  // Certificate mode: notAfter of the server certificate of the last completed handshake (epoch seconds).
  std::optional<std::int64_t> server_cert_not_after;
};

class device_session {
 public:
  using clock = std::chrono::steady_clock;

  device_session(const boost::asio::any_io_executor& executor, net::deadline_scheduler& scheduler,
                 auth_gate& gate, std::uint64_t gate_id, device_identity identity,
                 std::shared_ptr<const session_options> options, session_events events, std::uint64_t seed);
  device_session(const device_session&) = delete;
  device_session& operator=(const device_session&) = delete;
  ~device_session();

  void start();
  void stop();
  // Hands the next message of this device's queue, in queue order. The session keeps it until it reports
  // acked or dead_lettered.
  void offer(outbound_message message);
  std::size_t offered() const { return messages_.size(); }
  // The handles of the messages offered and not yet reported acked or dead_lettered (after stop(): the ones
  // the owner must take back, e.g. release their queue leases).
  std::vector<message_handle> offered_handles() const;

  const device_identity& identity() const { return identity_; }
  device_state state() const { return fsm_.state(); }
  device_health health() const { return fsm_.health(clock::now()); }
  session_stats stats() const;
  // Another session to the same cloud endpoint was answered after timeouts (session_events::
  // answered_after_timeouts): requests in CON back-off retransmit now (coap::endpoint::retransmit_now) and a
  // back-off caused by silence ends (device_fsm::path_recovered). `working_since`: when the answered copy of
  // the other session left (requests sent since then are not resent). Returns true if it did anything.
  bool resume(clock::time_point now, clock::time_point working_since = clock::time_point::max());

 private:
  enum class request_kind : std::uint8_t { auth, publish };
  struct pending_request {
    request_kind kind;
    message_handle handle;
  };

  void pump(clock::time_point now);  // execute FSM actions, flush the wire, re-arm the deadline
  void execute(clock::time_point now, device_action& action);
  void do_open_transport();
  void do_close_transport();
  void do_send_auth(clock::time_point now, const session::send_auth& a);
  void do_send_publish(clock::time_point now, const session::send_publish& p);
  void on_datagram(std::span<const std::uint8_t> datagram);
  void on_timer(clock::time_point now);
  void on_response(clock::time_point now, const coap::response_event& ev);
  std::string reply_text(const coap::message& response) const;
  bool flush_wire(clock::time_point now);  // true if it delivered anything to the FSM
  void reset_endpoint();

  boost::asio::any_io_executor executor_;
  net::deadline_scheduler& scheduler_;
  net::deadline_scheduler::slot slot_;
  auth_gate& gate_;
  std::uint64_t gate_id_;
  device_identity identity_;
  std::shared_ptr<const session_options> options_;
  session_events events_;
  std::uint64_t seed_;
  std::uint16_t next_mid_;

  device_fsm fsm_;
  net::udp_link link_;
  std::unique_ptr<dtls::client> dtls_;
  bool dtls_was_connected_ = false;
  bool dtls_failed_reported_ = false;
  bool pumping_ = false;
  std::unique_ptr<coap::endpoint> endpoint_;
  std::uint64_t transport_generation_ = 0;

  std::optional<crypto::aes_key> aes_key_;  // aes mode: derived from the secret and the auth `random`
  // Exchanges in flight: at most NSTART + the /auth, so a vector (no bucket array held by an idle device).
  std::vector<std::pair<coap::request_id, pending_request>> requests_;
  std::unordered_map<message_handle, outbound_message> messages_;
  std::unordered_map<message_handle, std::string>
      replies_;  // reply text of the last answer, for dead letters
  std::unordered_map<message_handle, std::string> platform_ids_;  // 2090 of a 2.xx, until the FSM acks
  session_stats stats_;
  std::uint64_t retransmissions_before_ = 0;
  bool saw_timeout_ = false;  // an exchange timed out since the last answer
};

}  // namespace gw::session
