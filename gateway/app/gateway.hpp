#pragma once
// The running gateway: MQTT in -> router -> durable per-device queue -> device sessions -> cloud
// (shared/design.md §2). It owns every long-lived part and wires them on one Asio loop; protocol rules live
// in the layers below, this class only moves messages between them and keeps the books.
//
// Delivery contract (at-least-once): a message leaves the queue only when its session reports acked (2.xx) or
// dead_lettered (permanent rejection, spec §6); messages of one device are offered to its session in queue
// order, a bounded window at a time; unroutable messages are counted, and those routed to an unknown device
// or too large are stored as dead letters, never dropped silently.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/app/config.hpp"
#include "gateway/app/config_diff.hpp"
#include "gateway/app/path_resume.hpp"
#include "gateway/app/state_change_log.hpp"
#include "gateway/bridge/durable_queue.hpp"
#include "gateway/bridge/fair_scheduler.hpp"
#include "gateway/bridge/intake_journal.hpp"
#include "gateway/bridge/router.hpp"
#include "gateway/mqtt/client.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/session/auth_gate.hpp"
#include "gateway/session/device_session.hpp"
#include "gateway/util/handoff.hpp"
#include "gateway/util/repeat_limiter.hpp"

namespace gw::app {

// Gateway-wide counters (the health and metrics endpoints publish them).
struct gateway_counters {
  std::uint64_t mqtt_received = 0;
  std::uint64_t unrouted = 0;  // no route matched: counted, acknowledged, not stored (design.md §2)
  std::uint64_t dead_lettered_at_entry = 0;  // unknown device, bad topic, oversize, not JSON
  std::uint64_t enqueued = 0;
  std::uint64_t enqueue_refused = 0;  // queue limits (reject_new, disk cap) or storage errors
  std::uint64_t delivered = 0;        // cloud answered 2.xx
  std::uint64_t dead_lettered = 0;    // cloud rejected permanently
  std::uint64_t empty_dropped = 0;    // cloud.drop_empty_payloads
  std::uint64_t other_shard = 0;      // routed to a device another shard serves: acknowledged, not stored
};

struct device_runtime {
  std::string id;
  std::unique_ptr<session::device_session> session;
  std::size_t slot = 0;  // its index in the gateway's fair_scheduler, which counts what it holds in flight
  std::uint64_t delivered = 0;
  std::uint64_t dead_lettered = 0;
  std::string last_platform_id;  // option 2090 of the last delivery (spec §5.4)
  // The session's entry in path_resume (cloud.coap.resume_on_answer); removed before the session is
  // destroyed.
  std::optional<path_resume::member> resume_member;
};

// What a reload did: the diff it applied and what followed from it (the log line, tests).
struct reload_result {
  config_diff diff;
  std::vector<std::string> subscribed;    // MQTT filters added
  std::vector<std::string> unsubscribed;  // MQTT filters removed
  std::size_t released = 0;               // unsettled messages of stopped sessions, back to the queue
  std::vector<std::string> retried;       // unchanged devices whose session was `failed`: restarted
};

class gateway {
 public:
  // Opens the durable queue (throws std::runtime_error with the reason if it cannot) and creates one session
  // per configured device. Nothing runs until start().
  gateway(boost::asio::io_context& io, config cfg);
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;
  ~gateway();

  void start();
  // Stops taking messages, stops sessions, commits the queue. Idempotent.
  void stop();

  // Graceful stop, first half (SIGTERM): stops taking MQTT messages and offering the backlog, then calls
  // `done` on the loop once every message already offered to a session is settled (acked or dead-lettered) or
  // `deadline` has passed, whichever comes first. Nothing is lost either way: a message leaves the durable
  // queue only when settled, so what is still in flight at the deadline is delivered after the next start.
  // The caller then calls stop().
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  std::size_t in_flight() const;

  // SIGHUP (issue #8 item 2; config_diff.hpp): applies a freshly loaded configuration as a diff, on the loop.
  // First everything that can fail is built (DTLS contexts, which re-read cloud.ca_file; the router): if that
  // fails, returns nullopt with `error` and nothing changed. Then:
  //  - removed devices: the session stops; messages in flight go back to the durable queue (lease released),
  //    the device's backlog stays on disk and is resumed if a later reload (or restart) configures it again;
  //  - changed devices (identity, or a session key, or the CA for dtls sessions): the same device entry
  //    gets a new session with the new identity and settings; its queued messages are kept and offered again;
  //  - added devices: a new session starts and its backlog (if any from an earlier life) is offered;
  //  - unchanged devices keep their session object: no re-authentication, no message disturbed; except
  //    those in `failed` state (e.g. auth refused too often: a secret fixed on the platform side): their
  //    session restarts, so a reload is also the operator's "retry the failed devices";
  //  - routes: the router is replaced; MQTT filters no longer needed are unsubscribed and new ones
  //    subscribed on the running connection (no reconnect);
  //  - restart-only keys (mqtt, queue, health, cloud.auth.rate_per_s, cloud.coap.resume_*) keep their
  //    running value.
  // Every session destroyed here leaves path_resume first and every new one joins it.
  // Refused (nullopt) while draining or stopped.
  std::optional<reload_result> reload(config fresh, std::string& error);

  const config& cfg() const { return config_; }
  const gateway_counters& counters() const { return counters_; }
  const std::vector<std::unique_ptr<device_runtime>>& devices() const { return devices_; }
  bridge::durable_queue& queue() { return *queue_; }
  bool mqtt_connected() const { return mqtt_connected_; }
  // SUBACKs that refused a route's filter since start (gw::mqtt::client_stats).
  std::uint64_t mqtt_subscriptions_refused() const {
    return mqtt_ ? mqtt_->stats().subscriptions_refused : 0;
  }
  mqtt::client_stats mqtt_stats() const { return mqtt_ ? mqtt_->stats() : mqtt::client_stats{}; }
  // The intake journal's counters; nullopt when it is off (queue.intake_journal, queue.sync full).
  std::optional<bridge::journal_stats> journal_stats() const {
    return journal_ ? std::optional(journal_->stats()) : std::nullopt;
  }
  std::size_t devices_ready() const;

  // Health hooks (issue #7; health_service.hpp), called on the loop. Set them before start().
  std::function<void(const device_runtime&)> on_device_state_changed;
  std::function<void(bool connected)> on_mqtt_connection;
  mqtt::client& mqtt_client() { return *mqtt_; }

 private:
  // Creates the device's entry and session (not started) and registers it.
  device_runtime& add_device(const device_config& d);
  std::unique_ptr<session::device_session> make_session(device_runtime& dev, const device_config& d);
  // Stops the device's session, releases the queue leases of what it held (returns how many) and takes the
  // session out of path_resume: the session is destroyed or replaced next.
  std::size_t take_back(device_runtime& dev);
  // take_back, then a new session from `d`, started and fed (a reload's changed or retried device).
  std::size_t restart_session(device_runtime& dev, const device_config& d);
  // Registers dev.session with path_resume (no-op when resume_on_answer is off).
  void join_resume(device_runtime& dev, const device_config& d);
  // Takes dev.session out of path_resume: before the session is stopped, replaced or destroyed, since a
  // scheduled resume round holds a pointer to it and must not wake a stopped session.
  void leave_resume(device_runtime& dev);
  std::optional<bridge::router> make_router(const config& cfg, bridge::route_error& err);
  // The MQTT filters of the routes that can reach a device of this shard.
  std::vector<std::string> wanted_subscriptions() const;
  // Start: unsubscribes the filters queue.dir/subscriptions lists for this client id that no route needs now
  // (app/subscription_record.hpp), then records what the session will hold.
  void forget_stale_subscriptions(const std::vector<std::string>& wanted);
  // Writes queue.dir/subscriptions: the client's subscriptions and pending_unsubscriptions_.
  void record_subscriptions();
  void on_mqtt_message(mqtt::inbound_message msg, mqtt::store_ack ack);
  void take_stored();
  void open_intake_journal();
  void replay_intake_journal();
  // `dev` may have durable messages to offer: it joins the round robin, and free slots are handed out.
  void feed(device_runtime& dev);
  void dispatch();
  void on_acked(device_runtime& dev, std::uint64_t id, std::string platform_id);
  void on_dead_lettered(device_runtime& dev, std::uint64_t id, std::string reason, std::uint8_t code);
  // One offered message of `dev` left its session (acked or dead-lettered): its slot goes back and free slots
  // are handed out again.
  void settle(device_runtime& dev);
  void on_state_changed(device_runtime& dev, const session::state_changed& change);
  void arm_state_log();
  void arm_housekeeping();
  void check_drained();
  void log_summary();

  boost::asio::io_context& io_;
  config config_;
  net::deadline_scheduler scheduler_;
  std::unique_ptr<session::auth_gate> gate_;
  std::unique_ptr<path_resume> resume_;  // cloud.coap.resume_on_answer; null when off
  std::unique_ptr<bridge::durable_queue> queue_;
  // queue.intake_journal (null when off or unavailable). Shared with the queue's completions, which run on
  // its writer thread and may outlive *this.
  std::shared_ptr<bridge::intake_journal> journal_;
  std::optional<bridge::router> router_;
  std::unordered_map<std::string, bridge::device_info> device_infos_;
  std::vector<std::unique_ptr<device_runtime>> devices_;
  std::unordered_map<std::string, device_runtime*> by_id_;
  // cloud.max_in_flight, round robin over the devices with a backlog (issue #6.4); slot -> device.
  bridge::fair_scheduler fair_;
  std::vector<device_runtime*> by_slot_;
  bool dispatching_ = false;
  bool redispatch_ = false;
  std::unordered_map<int, std::shared_ptr<session::session_options>> options_by_mode_;  // by cloud_mode
  std::uint64_t next_gate_id_ = 0;  // auth_gate ids are never reused, so a replaced session cannot clash
  std::string ca_digest_;           // file_digest(cloud.ca_file) when its DTLS context was built
  std::unique_ptr<mqtt::client> mqtt_;
  boost::asio::steady_timer housekeeping_;
  gateway_counters counters_;
  bool mqtt_connected_ = false;
  bool storage_failing_ = false;  // the queue's storage state last logged (log_summary)
  bool stopped_ = false;
  bool draining_ = false;
  std::function<void()> drain_done_;
  boost::asio::steady_timer drain_timer_;
  state_change_log state_log_;
  boost::asio::steady_timer state_log_timer_;
  bool state_log_armed_ = false;
  // Unrouted messages: a warning at most once a minute, the rest at debug (issue #6); housekeeping reports
  // what was held back.
  util::repeat_limiter unrouted_log_{std::chrono::minutes(1)};
  std::string last_unrouted_topic_;
  // UNSUBSCRIBEs waiting for a connect: still listed in queue.dir/subscriptions until one sends them.
  std::vector<std::string> pending_unsubscriptions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Completions of stores from the queue's writer thread, taken by the loop one run at a time
  // (take_stored). Shared with the completions, which may outlive *this.
  struct stored_entry {
    std::string device;
    std::error_code error;
  };
  std::shared_ptr<util::handoff<stored_entry>> stored_ = std::make_shared<util::handoff<stored_entry>>();
};

// shard_of() and in_shard() are in config.hpp (the reload diff needs them too).

// The config's routes in the router's terms (used by the gateway and by the `route` dry run, so both agree).
std::vector<bridge::route_config> to_bridge_routes(const config& cfg);
// The router's device lookup table: every configured device by id, whatever its shard (other shards' devices
// route, and are skipped, rather than being dead-lettered as unknown).
std::unordered_map<std::string, bridge::device_info> device_infos_of(const config& cfg);

// Builds the per-device protocol options from the cloud section (also used by `check-config`).
std::shared_ptr<session::session_options> make_session_options(const config& cfg, cloud_mode mode,
                                                               std::string& error);

}  // namespace gw::app
