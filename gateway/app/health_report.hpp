#pragma once
// A snapshot of the gateway's health (issue #7; design.md §5): per device (session state, last success and
// error, token age, queue depth and age, retransmissions, RTT, message counters) and gateway-wide. One
// snapshot feeds every view: the retained MQTT health JSON, /devices, /metrics, /readyz and the `status`
// command, so they always agree.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gw::app {

class gateway;
struct device_runtime;

struct device_report {
  std::string id;
  std::string product_key;
  std::string device_name;
  std::string mode;    // "aes", "dtls", "dtls-psk", "plain"
  std::string state;   // gw::session::to_string(device_state)
  bool ready = false;  // state is ready or renewing
  std::optional<double> last_success_age_s;
  std::optional<std::string> last_error;  // e.g. "auth rejected: 4.01 Unauthorized"
  std::optional<std::string>
      last_error_code;  // the platform's CoAP code "4.01", when the error came from one
  std::optional<double> last_error_age_s;
  std::optional<double> token_age_s;
  std::uint64_t queue_depth = 0;
  std::uint64_t queue_bytes = 0;
  std::optional<double> queue_oldest_age_s;
  std::uint64_t queue_dropped = 0;  // every drop reason of the device's queue
  std::uint64_t retransmissions = 0;
  std::optional<double> rtt_ms;     // last measured round trip of a confirmable exchange
  std::uint64_t messages_sent = 0;  // publishes sent, resends included
  std::uint64_t messages_acked = 0;
  std::uint64_t messages_failed = 0;  // dead-lettered by the cloud
  std::uint64_t messages_retried = 0;
  std::uint64_t auth_count = 0;
  std::uint64_t auth_failures = 0;
  std::uint32_t consecutive_failures = 0;
  std::optional<double> server_cert_days_left;  // DTLS certificate mode, from the last handshake
};

struct gateway_report {
  std::string version;
  double uptime_s = 0;
  bool mqtt_connected = false;
  std::size_t devices_total = 0;
  std::size_t devices_ready = 0;
  std::uint64_t mqtt_received = 0;
  std::uint64_t mqtt_subscriptions_refused = 0;
  std::uint64_t unrouted = 0;
  std::uint64_t dead_lettered_at_entry = 0;
  std::uint64_t enqueued = 0;
  std::uint64_t enqueue_refused = 0;
  std::uint64_t delivered = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t empty_dropped = 0;
  std::uint64_t queue_depth = 0;
  std::uint64_t queue_bytes = 0;
  std::optional<double> queue_oldest_age_s;
  std::uint64_t queue_write_errors = 0;
  bool queue_storage_failing = false;  // the queue's last commit failed (disk full, I/O); not ready meanwhile
  std::uint64_t in_flight = 0;         // messages handed to sessions, not yet answered (cloud.max_in_flight)
  std::uint64_t in_flight_cap = 0;     // cloud.max_in_flight
  std::uint64_t queue_held_for_space = 0;  // accepted messages waiting for disk space to be stored
  // Deliveries handed to the queue and not yet stored, by whether the intake journal holds them (then they
  // are acknowledged to the broker and durable) or not (then at most mqtt.max_unstored, exposed to a crash).
  std::uint64_t mqtt_unstored = 0;
  std::uint64_t mqtt_journaled_unstored = 0;
  bool journal_on = false;
  std::uint64_t journal_records = 0;            // appended since start
  std::uint64_t journal_failures = 0;           // appends that failed: those deliveries waited for the queue
  std::uint64_t journal_replayed = 0;           // records queued at start (received before the last stop)
  std::optional<std::string> queue_last_error;  // the queue's last storage error, while failing
  std::uint64_t drops_queue_full_rejected = 0;
  std::uint64_t drops_queue_full_dropped_oldest = 0;
  std::uint64_t drops_expired_max_age = 0;
  std::uint64_t drops_disk_cap = 0;
  std::optional<double> ca_days_left;  // cloud.ca_file's earliest notAfter, days from now
  // The earliest server certificate seen by any device's DTLS handshake, days from now, and that device.
  std::optional<double> server_cert_days_left;
  std::string server_cert_device;
  std::vector<device_report> devices;  // in configuration order
};

// Readiness (/readyz, `status` exit code): the broker is connected, the queue can write, and at least
// `ready_share` of the devices are ready. A gateway without devices is ready once the broker is connected.
inline constexpr double default_ready_share = 1.0;
bool is_ready(const gateway_report& r, double ready_share = default_ready_share);

// Takes the snapshot on the gateway's loop (reads sessions and the queue's in-memory stats; no disk I/O).
gateway_report collect_report(gateway& gw, std::chrono::steady_clock::time_point started,
                              std::optional<double> ca_days_left);
// One device only (the MQTT health of a state change).
device_report collect_device_report(gateway& gw, const device_runtime& dev);

// JSON shapes (documented in docs/operations.md "Health and metrics").
nlohmann::json to_json(const device_report& d);
nlohmann::json to_json(const gateway_report& r);  // {"gateway": {...}, "devices": [...]}

// Days from now until the earliest notAfter among the PEM certificates in `pem_file`; nullopt if the file has
// none or cannot be read. `now` is seconds since the epoch.
std::optional<double> certificate_days_left(const std::filesystem::path& pem_file, std::int64_t now);

}  // namespace gw::app
