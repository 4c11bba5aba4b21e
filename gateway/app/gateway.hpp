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
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/app/config.hpp"
#include "gateway/app/path_resume.hpp"
#include "gateway/app/state_change_log.hpp"
#include "gateway/bridge/durable_queue.hpp"
#include "gateway/bridge/router.hpp"
#include "gateway/mqtt/client.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/session/auth_gate.hpp"
#include "gateway/session/device_session.hpp"

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
  std::size_t offered = 0;  // messages handed to the session and not yet settled
  std::uint64_t delivered = 0;
  std::uint64_t dead_lettered = 0;
  std::string last_platform_id;  // option 2090 of the last delivery (spec §5.4)
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

  const config& cfg() const { return config_; }
  const gateway_counters& counters() const { return counters_; }
  const std::vector<std::unique_ptr<device_runtime>>& devices() const { return devices_; }
  bridge::durable_queue& queue() { return *queue_; }
  bool mqtt_connected() const { return mqtt_connected_; }
  std::size_t devices_ready() const;

  // Health hooks (issue #7; health_service.hpp), called on the loop. Set them before start().
  std::function<void(const device_runtime&)> on_device_state_changed;
  std::function<void(bool connected)> on_mqtt_connection;
  mqtt::client& mqtt_client() { return *mqtt_; }

 private:
  void on_mqtt_message(mqtt::inbound_message msg, mqtt::store_ack ack);
  void feed(device_runtime& dev);
  void on_acked(device_runtime& dev, std::uint64_t id, std::string platform_id);
  void on_dead_lettered(device_runtime& dev, std::uint64_t id, std::string reason, std::uint8_t code);
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
  std::optional<bridge::router> router_;
  std::unordered_map<std::string, bridge::device_info> device_infos_;
  std::vector<std::unique_ptr<device_runtime>> devices_;
  std::unordered_map<std::string, device_runtime*> by_id_;
  std::shared_ptr<session::session_options> session_options_;
  std::unique_ptr<mqtt::client> mqtt_;
  boost::asio::steady_timer housekeeping_;
  gateway_counters counters_;
  bool mqtt_connected_ = false;
  bool stopped_ = false;
  bool draining_ = false;
  std::function<void()> drain_done_;
  boost::asio::steady_timer drain_timer_;
  state_change_log state_log_;
  boost::asio::steady_timer state_log_timer_;
  bool state_log_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Sharding (`shard: i/n`, design.md §6): the instance with index i serves the devices whose
// shard_of(productKey, deviceName, n) == i. The hash is FNV-1a 64 of "productKey/deviceName", modulo n:
// stable across versions, hosts and config order, so every instance of a deployment agrees without talking to
// the others.
unsigned shard_of(std::string_view product_key, std::string_view device_name, unsigned count);
bool in_shard(const std::optional<shard_config>& shard, std::string_view product_key,
              std::string_view device_name);

// The config's routes in the router's terms (used by the gateway and by the `route` dry run, so both agree).
std::vector<bridge::route_config> to_bridge_routes(const config& cfg);

// Builds the per-device protocol options from the cloud section (also used by `check-config`).
std::shared_ptr<session::session_options> make_session_options(const config& cfg, cloud_mode mode,
                                                               std::string& error);

}  // namespace gw::app
