#pragma once
// Test support: the built `mqtt-coap-gateway` binary as a child process of a test, configured for N of
// cloudsim's generated devices (sensor-0000.. of cloudsim_process::product_key) against a broker URI and a
// cloudsim port. Writes the YAML config (scripts/demo.sh shows the same shape), starts `run -c`, waits until
// the status line reports every device ready, stops it by PID (SIGTERM) or kills it (SIGKILL, a crash). The
// queue directory survives restarts of the same fixture, so a restarted gateway resumes its backlog.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {

struct gateway_options {
  int devices = 10;  // cloudsim's sensor-0000 .. sensor-(N-1)
  // When set, the `devices:` entries instead of the generated ones (e.g. device_entry(i) lines); `devices` is
  // then the number wait_ready() waits for.
  std::vector<std::string> device_entries{};
  std::string mode = "aes";  // cloud.mode: aes or plain (cloudsim's matching endpoint), or dtls with ca_file
  std::string ca_file{};     // cloud.ca_file when set (dtls: cloudsim_process::ca_file() or a copy)
  std::string client_id = "e2e-gateway";
  std::string mqtt_protocol = "5";  // mqtt.protocol: "5" (the default) or "3.1.1"
  std::uint64_t max_unstored = 0;   // mqtt.max_unstored; 0 leaves the gateway's default
  std::uint64_t max_backlog = 0;    // mqtt.max_backlog; 0 leaves the gateway's default
  int intake_priority = -1;         // mqtt.intake_priority; -1 leaves the gateway's default
  std::string intake_journal{};     // queue.intake_journal: "true", "false", or empty for the default
  // Route: sensors/+device/#rest -> device a1B2c3D4e5F/${device}, cloud topic
  // /${productKey}/${deviceName}/user/${rest}. Extra YAML route lines (each "- { from: ..., device: ..., to:
  // ... }") are placed before it.
  std::vector<std::string> extra_routes{};
  std::uint64_t max_messages_per_device = 100000;
  std::string when_full = "reject_new";  // queue.when_full
  std::string max_payload = "1024";      // cloud.max_payload
  std::string ack_timeout = "1s";        // cloud.coap.ack_timeout
  int max_retransmit = 4;
  int nstart = 1;
  std::uint64_t max_in_flight = 4096;  // cloud.max_in_flight
  std::string backoff_initial = "200ms";
  std::string backoff_max = "2s";
  double auth_rate_per_s = 1000;
  std::string log_level = "info";
  std::chrono::milliseconds ready_timeout{30000};
  std::string health_http = "";  // health.http: "" off; "127.0.0.1:0" picks a free port (see http_port())
};

class gateway_process {
 public:
  // Writes the config into a scratch directory; does not start the gateway.
  gateway_process(std::string mqtt_uri, std::uint16_t cloud_port, gateway_options options = {});
  gateway_process(const gateway_process&) = delete;
  gateway_process& operator=(const gateway_process&) = delete;
  ~gateway_process();  // stops the gateway (SIGTERM, then SIGKILL)

  // One `devices:` entry for cloudsim's sensor-i as a YAML flow map; `secret` replaces the right one and
  // `extra` (e.g. "client_id: x") is added to the map.
  static std::string device_entry(int i, const std::string& secret = "", const std::string& extra = "");

  // Writes the config again with other options (same broker, cloudsim port and queue): for reload tests,
  // followed by SIGHUP to pid().
  void rewrite_config(gateway_options options);

  // The binary: $GATEWAY_BIN or <build_dir>/gateway/app/mqtt-coap-gateway.
  static std::filesystem::path binary();

  // Starts `mqtt-coap-gateway run -c <config>`; throws std::runtime_error if it cannot be started.
  void start();
  // Waits until this run's gateway logged a granted subscription (SUBACK) and its status line says every
  // device is ready and the broker connected (the summary is logged every health.interval = 1 s). Returns
  // false on timeout or exit.
  bool wait_ready(std::chrono::milliseconds timeout);
  bool wait_ready() { return wait_ready(options_.ready_timeout); }
  // Waits for `needle` in this run's output from offset `from` (e.g. output().size() before a SIGHUP, to see
  // only what follows); false on timeout or exit.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout, std::size_t from = 0);
  // SIGTERM and wait; returns the wait status (0 = clean exit).
  int stop();
  // SIGKILL: a crash. The queue directory stays.
  void kill_hard();
  // The health endpoint's port of this run, from its "health: listening on" line (waits up to 10 s); 0 when
  // health_http is off or the line does not come.
  std::uint16_t http_port();
  bool running() const;
  int pid() const;

  std::string output() const;                                     // this run's output
  std::string all_output() const { return history_ + output(); }  // every run so far
  const std::filesystem::path& config_path() const { return config_; }
  std::filesystem::path queue_dir() const { return dir_.path() / "queue"; }
  const gateway_options& options() const { return options_; }

 private:
  void write_config(const std::string& mqtt_uri, std::uint16_t cloud_port) const;

  gateway_options options_;
  std::string mqtt_uri_;
  std::uint16_t cloud_port_ = 0;
  scratch_dir dir_{"gw-gateway"};
  std::filesystem::path config_;
  std::unique_ptr<child_process> proc_;
  std::string history_;
};

// The load tool tests/bench/e2e/mqtt_load.cpp (target e2e_mqtt_load): $E2E_MQTT_LOAD_BIN or
// <build_dir>/tests/bench/e2e/e2e_mqtt_load. Its payloads are {"id":i,"ts_us":..}, message i to device i % N.
std::filesystem::path mqtt_load_binary();

// Starts `e2e_mqtt_load pub` publishing `count` messages (ids first_id.., message i to sensor-(i % devices))
// to `mqtt_uri` with extra flags (e.g. {"--rate","2000"}) and waits until it says it is connected. Throws
// std::runtime_error if it does not connect within 10 s.
void start_publisher(child_process& pub, const std::string& mqtt_uri, int devices, long long first_id,
                     long long count, const std::vector<std::string>& extra = {});
// Starts `e2e_mqtt_load sub` on `mqtt_uri` expecting `count` messages, with extra flags (e.g. {"--times",
// F}), and waits until it says it subscribed. Throws std::runtime_error if it does not within 10 s.
void start_subscriber(child_process& sub, const std::string& mqtt_uri, long long count,
                      const std::vector<std::string>& extra = {});
// Waits until the publisher reports every publish acknowledged (then stops it); false on timeout or failure.
bool wait_published(child_process& pub, std::chrono::milliseconds timeout);

// What reached cloudsim, checked against what was published (message i to device i % devices).
struct delivery_report {
  std::size_t first_deliveries = 0;  // records with dup:false
  std::size_t duplicates = 0;        // records with dup:true (resends of messages in flight)
  std::size_t missing = 0;           // ids in [first, first+count) never delivered
  std::size_t out_of_order = 0;      // first deliveries whose id is not above the device's previous one
  std::size_t unexpected = 0;  // ids outside the range, on the wrong device, unparsable, or dup:false twice
  std::string first_problem;   // the first record that was counted as a problem, for the failure message
  bool all_once_in_order() const { return missing == 0 && out_of_order == 0 && unexpected == 0; }
};
delivery_report check_delivery(const std::vector<cloudsim_record>& records, int devices, long long first_id,
                               long long count);

// Waits (inotify, through cloudsim_process::wait_for_records) until `count` first deliveries of the published
// range reached cloudsim, or `timeout`; returns every record so far.
std::vector<cloudsim_record> wait_for_first_deliveries(const cloudsim_process& sim, int devices,
                                                       long long first_id, long long count,
                                                       std::chrono::milliseconds timeout);

std::ostream& operator<<(std::ostream& os, const delivery_report& r);

}  // namespace gw::test
