#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "gateway/session/answer_policy.hpp"
#include "gateway/session/backoff.hpp"
#include "gateway/util/fifo.hpp"

// One device identity's protocol state machine, sans-io (shared/style.md habit 1): inputs carry `now`,
// outputs are actions the owner polls and executes (open the socket, ask the auth scheduler for a slot, build
// and send /auth, send a publish, ack or dead-letter a queued message). It owns no socket, timer, clock or
// queue storage. Flows: spec §3 (shared/protocol/alibaba-coap.md); answers: the table of spec §6
// (answer_policy.hpp).

namespace gw::session {

enum class security_mode : std::uint8_t {
  plain,     ///< No auth, no encryption: ready as soon as the transport is up.
  aes,       ///< UDP 5682, /auth with seq, publish seq from seqOffset (spec §2, §5.3).
  dtls,      ///< UDP 5684, DTLS 1.2 with certificates; /auth without seq.
  dtls_psk,  ///< UDP 5684, DTLS 1.2 PSK (spec §8); otherwise as dtls.
};

enum class device_state : std::uint8_t {
  idle,            ///< Not started.
  connecting,      ///< plain/aes: the socket is being opened.
  handshaking,     ///< dtls modes: waiting for a handshake slot or for the DTLS handshake.
  authenticating,  ///< No usable token: waiting for an auth slot or the /auth answer. Publishes wait.
  ready,           ///< Publishing with a valid token (or plain).
  renewing,        ///< Still publishing with the current token while a new one is fetched.
  backing_off,     ///< A transport or auth failure; waiting before the next attempt.
  failed,          ///< Permanent: the cloud refuses this identity; needs a config change (restart).
  stopped,         ///< stop() was called.
};

// Opaque id the owner gives each queued message; the FSM hands it back in its actions.
using message_handle = std::uint64_t;

struct device_fsm_config {
  security_mode mode = security_mode::aes;
  // spec §6: token lifetime 7 days; renew proactively before it ends.
  std::chrono::steady_clock::duration token_refresh_after = std::chrono::hours(24 * 6);
  // Delays between auth, handshake and socket attempts (config cloud.auth.backoff).
  backoff_config retry_backoff{};
  // Delays before resending a publish that got 5.xx or no ACK (spec §6: retry with exponential back-off).
  backoff_config publish_backoff{};
  answer_policy_config policy{};
  // spec §5.3 / §12 #4: false: first publish seq = seqOffset + 1 (doc); true: = seqOffset (what the C SDKs
  // send).
  bool first_seq_equals_offset = false;
  // Publishes in flight at once; 1 keeps per-device order strict (RFC 7252 §4.7 NSTART = 1).
  std::size_t max_in_flight = 1;
  // Consecutive /auth refusals (auth_long_backoff rows) before the device gives up (failed); 0 = never.
  std::uint32_t max_auth_rejections = 10;
  // Consecutive exchanges without any answer (no ACK after MAX_RETRANSMIT) before the transport is reopened
  // (new socket, new DTLS handshake): a server that lost our DTLS session, or a NAT that lost our mapping,
  // stays silent. 0 = never. The messages are retried either way (spec §6 last row).
  std::uint32_t reconnect_after_timeouts = 3;
};

// What the owner parsed from a 2.xx /auth answer (spec §4.3). The owner keeps `random` and the AES key
// itself.
struct auth_grant {
  std::string token;
  std::uint32_t seq_offset = 0;  ///< aes mode only.
};

// ---- actions (outputs) ----

struct open_transport {
};  ///< Open the socket; for dtls modes also start the handshake. Answer: transport_up/failed.
struct close_transport {};  ///< Close the socket / DTLS session.
struct request_auth_slot {
};  ///< Enqueue this device in the auth_scheduler; call auth_slot_granted() when granted.
struct cancel_auth_slot {};  ///< Remove this device from the auth_scheduler (stop or transport failure).
// Build and send /auth (spec §4.1). The owner adds the timestamp from its wall clock if configured.
struct send_auth {
  std::string seq;  ///< aes: decimal string 1..9999 to sign and send (spec §4.1); empty in dtls modes.
};
// Send one publish (spec §5.1) with these session values.
struct send_publish {
  message_handle handle = 0;
  std::optional<std::uint32_t>
      seq;            ///< aes: the seq to encrypt into option 2089 (spec §5.3); never reused in a token.
  std::string token;  ///< Option 2088 (or 61); empty in plain mode.
};
struct ack_message {  ///< Cloud answered 2.xx: remove the message from the durable queue.
  message_handle handle = 0;
};
struct dead_letter {  ///< Permanent rejection: move the message to the dead-letter store with the reason.
  message_handle handle = 0;
  answer outcome{};
  std::string reason;  ///< e.g. "4.03 Forbidden".
};
struct retry_later {  ///< Not delivered yet: keep it at the head of its queue; it will be sent again.
  message_handle handle = 0;
};
struct state_changed {  ///< One log line / health update per change (design.md §5).
  device_state from{};
  device_state to{};
  std::string reason;
  std::chrono::steady_clock::time_point at{};  ///< The input time that caused the change (not when observed).
};

using device_action =
    std::variant<open_transport, close_transport, request_auth_slot, cancel_auth_slot, send_auth,
                 send_publish, ack_message, dead_letter, retry_later, state_changed>;

struct device_error {
  std::error_code ec;
  std::optional<answer> outcome;  ///< The cloud's answer, when the error came from one.
  std::string text;               ///< e.g. "auth rejected: 4.01 Unauthorized".
  std::chrono::steady_clock::time_point at{};
};

struct device_health {
  device_state state = device_state::idle;
  std::optional<std::chrono::steady_clock::time_point> last_success;  ///< Last 2.xx from the cloud.
  std::optional<device_error> last_error;
  std::optional<std::chrono::steady_clock::duration> token_age;
  std::uint64_t messages_sent = 0;           ///< send_publish actions, resends included.
  std::uint64_t messages_acked = 0;          ///< 2.xx answers.
  std::uint64_t messages_dead_lettered = 0;  ///< Permanent rejections.
  std::uint64_t messages_retried = 0;        ///< Put back for a later resend.
  std::uint64_t auth_count = 0;              ///< Successful /auth.
  std::uint64_t auth_attempts = 0;           ///< send_auth actions.
  std::uint64_t auth_failures = 0;
  std::uint64_t reauth_count = 0;          ///< Re-auths caused by a rejected token on publish.
  std::uint32_t consecutive_failures = 0;  ///< Failures since the last success.
  std::size_t pending = 0;                 ///< Messages handed in and waiting to be sent.
  std::size_t in_flight = 0;
};

class device_fsm {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  // `seed` feeds this device's PRNG (auth seq, jitter); give each device its own.
  device_fsm(device_fsm_config config, std::uint64_t seed);

  // ---- inputs ----
  void start(time_point now);
  // Aborts cleanly: in-flight messages come back as retry_later, a waiting slot is cancelled, the transport
  // closed. Later inputs are ignored until start().
  void stop(time_point now);
  void transport_up(time_point now);
  // `timed_out`: the failure was silence (e.g. a DTLS handshake timeout), not a refusal.
  void transport_failed(time_point now, std::error_code reason, bool timed_out = false);
  void auth_slot_granted(time_point now);
  // The /auth exchange ended. `grant` holds the parsed body for a 2.xx; nullopt when it could not be parsed.
  void auth_response(time_point now, answer outcome, std::optional<auth_grant> grant);
  // The owner hands each message of the device's queue once, in queue order.
  void message_available(time_point now, message_handle handle);
  // The publish exchange for `handle` ended.
  void publish_result(time_point now, message_handle handle, answer outcome);
  // Call at (or after) next_deadline().
  void timer(time_point now);
  // Positive evidence that the cloud endpoint answers again (another device to the same host:port got an
  // answer after timeouts): a connection/auth back-off or publish hold caused by silence (timeouts, not
  // refusals) ends now; the retry goes through the auth slot as usual. Returns true if it ended one.
  bool path_recovered(time_point now);
  // True while such a back-off or hold is running (what path_recovered would end).
  bool waiting_after_timeout() const noexcept;

  // ---- outputs ----
  std::optional<device_action> poll_action();
  bool has_actions() const noexcept { return !actions_.empty(); }
  // Earliest time timer() has something to do (renewal, backoff end); nullopt if none.
  std::optional<time_point> next_deadline() const noexcept;

  device_state state() const noexcept { return state_; }
  device_health health(time_point now) const;
  const device_fsm_config& config() const noexcept { return config_; }

 private:
  enum class transport_state : std::uint8_t { down, opening, up };
  enum class auth_state : std::uint8_t { none, waiting_slot, in_flight };

  struct queued {
    message_handle handle;
    std::uint64_t order;       // position in the owner's queue; requeues keep it
    bool resent_after_reauth;  // spec §6: "resend once"
  };
  struct sent {
    queued msg;
    std::uint64_t token_generation;
  };

  bool needs_transport_handshake_slot() const noexcept;
  bool seq_exhausted() const noexcept;
  bool needs_auth(time_point now) const noexcept;
  bool can_publish() const noexcept;
  void pump(time_point now);
  void send_auth_now();
  void send_next_publish();
  void requeue(const queued& msg);
  void requeue_in_flight();
  void drop_transport(time_point now, std::error_code ec, std::string text, bool timed_out);
  bool count_timeout(time_point now, answer outcome);
  void auth_failed(time_point now, const verdict& v, std::error_code ec, std::optional<answer> outcome,
                   std::string text);
  void give_up(time_point now, std::error_code ec, std::optional<answer> outcome, std::string text);
  void record_error(time_point now, std::error_code ec, std::optional<answer> outcome, std::string text);
  void settle(time_point now, std::string reason);
  device_state compute_state() const noexcept;
  void emit(device_action a) { actions_.push_back(std::move(a)); }

  device_fsm_config config_;
  prng rng_;
  backoff retry_backoff_;
  backoff publish_backoff_;

  bool started_ = false;
  bool stopped_ = false;
  bool failed_ = false;
  transport_state transport_ = transport_state::down;
  auth_state auth_ = auth_state::none;
  bool slot_for_handshake_ = false;

  std::string token_;
  bool token_usable_ = false;
  std::uint64_t token_generation_ = 0;
  time_point token_time_{};
  std::uint32_t next_seq_ = 0;
  std::uint64_t seqs_used_ = 0;  // within the current token

  std::optional<time_point> retry_at_;      // backing off (transport/auth)
  std::optional<time_point> renew_at_;      // proactive renewal (or its retry) while the token is usable
  std::optional<time_point> publish_hold_;  // publish backoff
  bool retry_after_timeout_ = false;        // retry_at_ was set because of silence, not a refusal
  bool hold_after_timeout_ = false;         // publish_hold_ likewise
  std::uint32_t auth_rejections_ = 0;
  std::uint32_t consecutive_timeouts_ = 0;  // exchanges (auth or publish) without any answer

  util::fifo<queued> pending_;
  std::vector<sent> in_flight_;  // in send order
  std::uint64_t next_order_ = 0;

  device_health stats_;
  device_state state_ = device_state::idle;
  util::fifo<device_action> actions_;
};

std::string_view to_string(device_state s) noexcept;
std::string_view to_string(security_mode m) noexcept;

}  // namespace gw::session
