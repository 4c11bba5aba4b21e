#pragma once
// The gateway's configuration as plain values (shared/design.md §4), and its loader. Every default below is
// the one documented in config/gateway.example.yaml; cloud defaults cite protocol/alibaba-coap.md.
//
// Loading happens before the event loop starts, so the loader throws: one gw::app::config_error that lists
// every problem found, each as `file:line:col: key.path: message` (line and column 1-based).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gw::app {

// A secret (device secret, MQTT password) whose bytes are wiped (OPENSSL_cleanse) when it is destroyed or
// moved from. It has no stream operator and no implicit conversion, so it cannot reach a log line by
// accident.
// Zeroes a string's whole buffer (capacity, not only size: earlier contents may linger past the current
// length, and a moved-from short string keeps its bytes in its own buffer) and empties it.
void wipe_string(std::string& s) noexcept;

class secret {
 public:
  secret() = default;
  explicit secret(std::string value) noexcept : value_(std::move(value)) {}
  secret(const secret& other) : value_(other.value_) {}
  secret(secret&& other) noexcept;
  secret& operator=(const secret& other);
  secret& operator=(secret&& other) noexcept;
  ~secret();

  // The secret's bytes, for signing and key derivation only.
  std::string_view reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  std::size_t size() const noexcept { return value_.size(); }

 private:
  void wipe() noexcept;
  std::string value_;
};

// Where a secret came from (its value never is part of a message; the source is).
enum class secret_source { none, inline_value, env, file, credential };

enum class mqtt_protocol { v3_1_1, v5 };
enum class cloud_mode { dtls, dtls_psk, aes, plain };
enum class sign_method { hmacmd5, hmacsha1, hmacsha256 };
enum class content_format { json, cbor };
enum class first_seq_rule { offset_plus_one, offset };
enum class payload_format { passthrough, cbor };
enum class when_full_policy { reject_new, drop_oldest };
enum class sync_mode { normal, full };
enum class log_format { text, json };
enum class log_level { trace, debug, info, warn, error, critical, off };

std::string_view to_string(cloud_mode m) noexcept;  // "dtls", "dtls-psk", "aes", "plain"

// UDP port the platform listens on for a mode (spec §2): 5684 dtls/dtls-psk, 5682 aes, 5683 plain.
std::uint16_t default_port(cloud_mode m) noexcept;

struct mqtt_tls_config {
  bool enabled = false;   // true when ca_file, cert_file or key_file is set or the URI is ssl://, mqtts://
  std::string ca_file;    // PEM CA bundle; empty: the system default store
  std::string cert_file;  // client certificate (PEM), optional
  std::string key_file;   // client key (PEM), optional
  bool verify = true;     // verify the broker's certificate and host name
};

struct mqtt_config {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string client_id = "mqtt-coap-gateway";  // stable across restarts: the broker keeps the session by it
  std::string username;
  gw::app::secret password;
  secret_source password_source = secret_source::none;
  mqtt_protocol protocol = mqtt_protocol::v5;
  int qos = 1;                 // subscription QoS, 1 or 2
  bool clean_session = false;  // false: persistent session (QoS 1 queued while away)
  std::chrono::seconds session_expiry = std::chrono::hours(24 * 7);  // MQTT 5 only
  std::uint64_t receive_maximum = 65535;  // MQTT 5 only: see gw::mqtt::client_options::receive_maximum
  std::chrono::seconds keep_alive{30};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::milliseconds store_timeout{5000};  // how long a delivery waits for the message to be durable
  // Deliveries not journaled (queue.intake_journal off or failing) and not yet durable; a crash can lose
  // max_unstored - 1 of them (gateway/mqtt/client.hpp).
  std::uint64_t max_unstored = 64;
  std::uint64_t max_backlog = 16384;  // journaled deliveries not yet in the queue (memory, not loss)
  // Intake priority: the gateway's threads other than Paho's receive thread run this many nice steps above it
  // (0: off). Raised nice values cannot be lowered again without privilege, hence restart-only.
  std::uint64_t intake_priority = 5;
  std::string status_topic = "mqtt-coap-gateway/${clientId}/status";  // resolved: ${clientId} replaced
  mqtt_tls_config tls;
};

struct coap_transmission_config {
  std::chrono::milliseconds ack_timeout{2000};   // RFC 7252 §4.8, spec §7
  double ack_random_factor = 1.5;                // RFC 7252 §4.8, >= 1.0
  unsigned max_retransmit = 4;                   // RFC 7252 §4.8
  unsigned nstart = 1;                           // RFC 7252 §4.7, per device
  std::chrono::milliseconds auth_timeout{5000};  // spec §7: on top of retransmission
  bool send_uri_host = false;                    // spec §7/§12: the SDK sends no Uri-Host/Uri-Port
  // Issue #6 item 4: when a device to a cloud host:port gets an answer after timeouts, the other devices to
  // it that wait in CON back-off retransmit at once (and back-offs caused by silence end), instead of
  // waiting up to 16 s for their next exponential retransmission. Deliberately shortens RFC 7252 §4.2's
  // back-off, only on positive evidence that the path works.
  bool resume_on_answer = true;
  double resume_rate_per_s = 1000.0;  // such wake-ups per second, all devices of one host:port together
};

struct backoff_config {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{300000};
  bool jitter = true;
};

struct auth_config {
  double rate_per_s = 50.0;  // gateway-wide /auth requests per second
  std::chrono::milliseconds token_refresh_after = std::chrono::hours(24 * 6);  // spec §6: token lives 7 days
  backoff_config backoff;
};

struct cloud_config {
  std::string region = "cn-shanghai";
  std::string host =
      "${productKey}.coap.${region}.link.aliyuncs.com";  // template; ${region} resolved at load
  std::string address;     // where to send instead of host (tests, private endpoints); empty: host
  std::uint16_t port = 0;  // 0: default_port(mode) per device
  cloud_mode mode = cloud_mode::dtls;
  std::string ca_file;  // platform root CA (PEM) for dtls; empty: the system default store
  content_format content = content_format::json;          // spec §5.1 option 12: 50 or 60
  int ack_mode = 0;                                       // spec §4.1: 0 piggybacked, 1 separate
  sign_method sign = sign_method::hmacsha1;               // spec §4.2
  std::uint16_t token_option = 2088;                      // spec §5.1, §12 #1: 2088 or 61
  std::optional<std::uint16_t> accept = 50;               // spec §5.1: none, 42, 50 or 60
  std::string client_id = "${productKey}.${deviceName}";  // spec §4.1 (${pk}/${dn} accepted as short forms)
  first_seq_rule first_seq = first_seq_rule::offset_plus_one;  // spec §5.3
  bool treat_4_02_as_token_invalid = true;                     // spec §6
  bool drop_empty_payloads = false;                // spec §5.2: empty AES plaintext handling unconfirmed
  bool send_timestamp = true;                      // spec §4.1
  bool send_signmethod = true;                     // spec §4.1
  std::size_t max_payload = 1024;                  // spec §7: max plaintext bytes, larger is dead-lettered
  std::uint64_t psk_timestamp = 2524608000000ULL;  // spec §12 #10: the DTLS-PSK identity's timestamp
  // Messages handed to device sessions and not yet answered, over all devices (issue #6.4); devices take
  // turns (round robin), each holding at most 8.
  std::uint64_t max_in_flight = 4096;
  coap_transmission_config coap;
  auth_config auth;
};

// One cloud identity. The loader fills every field: defaults come from `cloud`.
struct device_config {
  std::string id;  // default "${productKey}/${deviceName}"
  std::string product_key;
  std::string device_name;
  gw::app::secret device_secret;
  secret_source secret_from = secret_source::none;
  std::string client_id;  // resolved from cloud.client_id unless set; <= 64 chars (spec §4.1)
  cloud_mode mode = cloud_mode::dtls;
  std::string host;        // resolved template: TLS name / SNI
  std::string address;     // where datagrams go; defaults to host
  std::uint16_t port = 0;  // resolved: cloud.port or default_port(mode)
  std::string source;      // "gateway.yaml:12:5", for messages about this device
};

struct route_config {
  std::string from;    // MQTT filter with named captures, e.g. "sensors/+device/#rest"
  std::string device;  // a device id or a template such as "${device}"
  std::string to;      // cloud topic template, e.g. "/${productKey}/${deviceName}/user/${rest}"
  payload_format format = payload_format::passthrough;
  std::string source;  // "gateway.yaml:30:5"
};

struct queue_config {
  std::string dir = "/var/lib/mqtt-coap-gateway";
  std::uint64_t max_bytes_per_device = 64ULL << 20;
  std::uint64_t max_messages_per_device = 100000;
  std::chrono::milliseconds max_age = std::chrono::hours(24 * 7);
  std::uint64_t max_total_bytes = 1ULL << 30;
  when_full_policy when_full = when_full_policy::reject_new;
  sync_mode sync = sync_mode::normal;
  // bridge::intake_journal: deliveries are made durable on the MQTT thread before their acknowledgement. Used
  // with sync normal only (full would need an fsync per message there): with full, mqtt.max_unstored rules.
  bool intake_journal = true;
};

struct health_config {
  std::string http = "127.0.0.1:9880";  // listen address; empty: no HTTP endpoint
  std::string mqtt_topic = "gateway/status/${productKey}/${deviceName}";  // empty: no MQTT health
  std::chrono::milliseconds interval{10000};
  double ready_share = 1.0;  // /readyz: the broker is connected and at least this share of devices is ready
};

struct log_config {
  log_level level = log_level::info;
  log_format format = log_format::text;
};

struct shard_config {
  unsigned index = 0;  // i in "i/n", 0 <= i < n
  unsigned count = 1;  // n
};

struct config {
  mqtt_config mqtt;
  cloud_config cloud;
  std::vector<device_config> devices;  // the inline list, then devices_file's entries
  std::string devices_file;            // as resolved (relative to the config file's directory)
  std::vector<route_config> routes;
  queue_config queue;
  health_config health;
  log_config log;
  std::optional<shard_config> shard;
  std::vector<std::string> warnings;  // e.g. inline secrets in a file readable by group/others
};

// Sharding (`shard: i/n`, design.md §6): the instance with index i serves the devices whose
// shard_of(productKey, deviceName, n) == i. The hash is FNV-1a 64 of "productKey/deviceName", modulo n:
// stable across versions, hosts and config order, so every instance of a deployment agrees without talking to
// the others.
unsigned shard_of(std::string_view product_key, std::string_view device_name, unsigned count);
bool in_shard(const std::optional<shard_config>& shard, std::string_view product_key,
              std::string_view device_name);

// Thrown by the loader; what() lists every error, one per line.
class config_error : public std::runtime_error {
 public:
  explicit config_error(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Reads and validates the file at `path`; relative devices_file paths resolve against its directory.
config load_config(const std::filesystem::path& path);

// As load_config, for text in memory; `name` stands for the file in messages. Relative devices_file paths
// resolve against the current directory.
config load_config_from_string(std::string_view text, std::string_view name = "<string>");

// "500ms", "2s", "5m", "1h", "6d" (one integer and one unit). Returns nullopt on anything else or overflow.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

// "1024", "512B", "1KiB", "64MiB", "1GiB", "10KB", "5MB", "1GB". Returns nullopt on anything else or
// overflow.
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

}  // namespace gw::app
