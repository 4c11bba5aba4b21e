#pragma once
// gw::mqtt::client — the Paho MQTT C++ (1.2) async client behind an Asio executor (shared/design.md §2, §3).
//
// Threads. Paho calls back on its own thread. Every event (connected, connection lost, message) is posted to
// the owner's executor and the Paho thread returns at once — except message delivery, see below. Public
// member functions are called on the owner's executor (the loop), except where noted.
//
// Connection. Persistent session (MQTT 3.1.1: clean_session false; MQTT 5: clean start false + session
// expiry), a stable client id, automatic reconnect with exponential backoff (Paho's own after a first
// success; ours, on a timer on the executor, while the first connect fails), and on every (re)connect: all
// subscriptions are sent again and "online" is published retained on the status topic, whose last will is
// "offline" (retained).
//
// The acknowledgement window. Paho C 1.3.11 (Debian 12) hands a QoS 1 PUBLISH to the message callback on its
// receive thread and sends the PUBACK when the callback returns (MQTTProtocol_handlePublishes: the
// publication is processed, then acknowledged); QoS 2 likewise completes after the callback. Measured by
// tests/integration/paho_window_test.cpp: a message whose callback never returns is not acknowledged and
// comes again after a SIGKILL, with MQTT 3.1.1 and 5, QoS 1 and QoS 2 with Paho's file persistence alike
// (paho.mqtt.cpp #353 describes the opposite for other versions; the test fails if an upgrade brings it).
// So the callback's return is the acknowledgement, and the adapter decides when to give it. Inside the
// callback the Paho thread first offers the message to the journal hook (set_journal; the gateway's
// bridge::intake_journal writes it to a file), then hands it to the loop (an inbox the loop empties in one
// handler, so a run of deliveries costs one wake-up of the loop, not one each), and then waits:
// - a journaled delivery is durable already (against a crash of the process); the callback waits only while
//   client_options::max_backlog journaled deliveries are not yet completed by their store_ack (a bound on
//   memory, not on loss);
// - a delivery the hook did not journal (no hook, or it failed) waits while client_options::max_unstored
//   such deliveries are not yet completed by store_ack::stored() (or rejected(), or a dropped ack). With
//   max_unstored 1 it waits for this very message, and a crash loses nothing; a larger window lets the queue
//   commit many messages per transaction (throughput), and a crash can lose the deliveries whose callbacks
//   returned before they were durable: at most max_unstored - 1 (docs/architecture.md states the trade-off).
// Both waits are bounded by client_options::store_timeout: a store that takes longer returns anyway (logged
// and counted in stats().store_timeouts), and an unjournaled message is then exposed too. While a delivery
// waits, Paho's receive thread reads nothing else: not PINGRESP, and not the packets of any other Paho
// client in the same process (Paho C serves them all from one thread), so store_timeout must stay well below
// keep_alive (the config loader enforces it). QoS 2 therefore closes nothing that QoS 1 leaves open and costs
// two more packets per message; Paho persistence is not used (the queue and the journal are the store).
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace mqtt {
class connect_options;
}

namespace gw::mqtt {

struct client_options {
  std::string uri = "tcp://127.0.0.1:1883";  // tcp://, ssl://, mqtt://, mqtts://, ws://, wss://
  std::string client_id = "mqtt-coap-gateway";
  std::string username;      // empty: none
  std::string password;      // empty: none; never logged
  int protocol_version = 4;  // 4 = MQTT 3.1.1, 5 = MQTT 5
  bool clean_session = false;
  std::chrono::seconds session_expiry = std::chrono::hours(24 * 7);  // MQTT 5 only
  // MQTT 5 only (CONNECT property Receive Maximum, MQTT 5.0 §3.1.2.11.3): how many QoS 1/2 PUBLISHes the
  // broker may send ahead without our PUBACK. Mosquitto takes it in place of its max_inflight_messages (20);
  // a burst then waits in the broker's in-flight window rather than in its per-client queue
  // (max_queued_messages, 1000 in Debian's config), where it would be dropped.
  std::uint16_t receive_maximum = 65535;
  std::chrono::seconds keep_alive{30};
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds reconnect_min{1};
  std::chrono::seconds reconnect_max{30};
  // A filter the broker refused (SUBACK >= 0x80) is asked for again after this long while connected, so an
  // ACL fixed on the broker takes effect without a restart; every connect asks again anyway.
  std::chrono::milliseconds subscribe_retry{60000};
  std::chrono::milliseconds store_timeout{5000};  // see "The acknowledgement window" above
  std::size_t max_unstored = 1;     // ditto: unjournaled deliveries not yet stored, >= 1; 1 loses nothing
  std::size_t max_backlog = 16384;  // ditto: journaled deliveries not yet stored, >= 1 (memory)
  std::string status_topic;         // empty: no will and no "online"
  std::string online_payload = "online";
  std::string offline_payload = "offline";
  bool tls = false;     // also implied by ssl://, mqtts://, wss://
  std::string ca_file;  // empty: the system store
  std::string cert_file;
  std::string key_file;
  bool tls_verify = true;
};

struct inbound_message {
  std::string topic;
  std::string payload;  // bytes, not necessarily text
  int qos = 0;
  bool retained = false;
  bool duplicate = false;
  std::uint64_t journal_seq = 0;  // what the journal hook returned: 0 = not journaled
};

namespace detail {
struct store_state;
}

// Handed with each message to the handler. Call stored() once the message is durable, or rejected() when it
// will not be stored (no route, queue full...): either lets Paho go on to the next message. Destroying the
// ack without calling either counts as rejected. Thread-safe; may be completed from any thread (e.g. the
// queue's writer).
class store_ack {
 public:
  store_ack() = default;
  explicit store_ack(std::shared_ptr<detail::store_state> state) noexcept : state_(std::move(state)) {}
  store_ack(store_ack&&) noexcept = default;
  store_ack& operator=(store_ack&& other) noexcept;
  store_ack(const store_ack&) = delete;
  store_ack& operator=(const store_ack&) = delete;
  ~store_ack();

  void stored() noexcept;
  void rejected() noexcept;

 private:
  std::shared_ptr<detail::store_state> state_;
};

struct client_stats {
  std::uint64_t messages = 0;        // deliveries handed to the handler
  std::uint64_t store_timeouts = 0;  // deliveries whose ack did not come within store_timeout
  std::uint64_t journaled = 0;       // deliveries the journal hook made durable before the callback returned
  std::uint64_t unstored = 0;        // now: unjournaled deliveries not yet completed (max_unstored)
  std::uint64_t journaled_unstored = 0;  // now: journaled deliveries not yet completed (max_backlog)
  std::uint64_t connects = 0;            // successful connects, first and re-
  std::uint64_t connection_losses = 0;
  std::uint64_t subscriptions_granted = 0;  // SUBACKs granting a filter (every connect subscribes again)
  // SUBACKs refusing one (code >= 0x80); a SUBSCRIBE cut short by a broken connection is not counted.
  std::uint64_t subscriptions_refused = 0;
  std::uint64_t subscriptions_downgraded = 0;  // granted ones with a lower QoS than asked (also in granted)
};

class client {
 public:
  using message_handler = std::function<void(inbound_message, store_ack)>;
  // Called on the Paho thread with each delivery before it is handed on: returns a sequence number > 0 once
  // the message is durable (inbound_message::journal_seq), or 0 if it could not make it so.
  using journal_hook = std::function<std::uint64_t(const inbound_message&)>;
  // Called on Paho's receive thread before the first delivery it makes (again if Paho ever delivers from a
  // new thread): the intake thread, for the owner's thread priorities (app::gateway, mqtt.intake_priority).
  using intake_thread_hook = std::function<void()>;
  // connected == true on every (re)connect (after subscriptions were sent); false with Paho's cause when
  // lost.
  using connection_handler = std::function<void(bool connected, const std::string& cause)>;

  // Throws std::invalid_argument if Paho refuses the URI or client id (before the loop runs).
  client(boost::asio::any_io_executor executor, client_options options);
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  // Stops (as stop()), then waits up to 2 s for the disconnect to finish and for a running Paho callback to
  // return.
  ~client();

  // Install before start(). Both run on the executor.
  void set_message_handler(message_handler handler);
  void set_connection_handler(connection_handler handler);
  // Install before start(); see "The acknowledgement window" above.
  void set_journal(journal_hook hook);
  // Install before start().
  void set_intake_thread_hook(intake_thread_hook hook);

  // Adds a subscription kept for the client's lifetime: sent now if connected, and on every (re)connect.
  // qos 1 or 2. Thread-safe.
  void subscribe(std::string filter, int qos = 1);
  // Removes a subscription added by subscribe(): UNSUBSCRIBE now if connected, else on the next connect (a
  // persistent session keeps it on the broker); no longer subscribed on reconnects. Thread-safe.
  void unsubscribe(const std::string& filter);
  // The filters subscribe() added and unsubscribe() did not remove, in order. Thread-safe.
  std::vector<std::string> subscriptions() const;

  // Starts connecting; returns at once. Connection failures are retried until stop().
  void start();

  // Publishes "offline" (retained) on the status topic, disconnects and ends reconnecting. Returns at once.
  // On the executor's thread (it cancels the client's timers).
  void stop();

  // Publishes without waiting. Fails with error::not_connected while disconnected (nothing is buffered).
  // Thread-safe.
  std::error_code publish(const std::string& topic, const std::string& payload, int qos, bool retain);

  bool connected() const;
  client_stats stats() const;

  // The connect options the client uses (will, session, TLS, reconnect), for inspection in tests.
  static ::mqtt::connect_options make_connect_options(const client_options& options);

 private:
  class impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace gw::mqtt
