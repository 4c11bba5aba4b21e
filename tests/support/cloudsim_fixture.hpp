#pragma once
// Test support: the cloud emulator (tests/cloudsim) as a child process of a test. Writes a registry of N
// generated devices, starts cloudsim on free ports (port 0, ports parsed from its output), waits for
// "cloudsim: ready", exposes ports, the control socket, the accepted-message JSONL and stats, and stops it by
// PID.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.hpp"

namespace gw::test {

struct cloudsim_options {
  int devices = 10;    // sensor-0000 .. sensor-(N-1) of product a1B2c3D4e5F
  bool aes = true;     // AES ("symmetric encryption") endpoint on plain UDP
  bool psk = false;    // DTLS-PSK endpoint
  bool dtls = false;   // DTLS certificate endpoint (server.pem/server.key from make_test_certs.sh, made here)
  bool plain = false;  // plain CoAP endpoint, no auth
  std::uint64_t seed = 1;
  std::vector<std::string>
      extra_args{};  // e.g. {"--seq-allow-equal"}, {"--separate"}, {"--token-lifetime","5"}
  std::chrono::milliseconds start_timeout{10000};
};

// One line of the JSONL: an accepted message as the platform saw it (after decryption in AES mode).
struct cloudsim_record {
  std::int64_t t_ms = 0;  // receive time, ms since the epoch
  std::int64_t t_us = 0;  // the same in µs
  std::string product_key;
  std::string device_name;
  std::string topic;                 // the MQTT topic, i.e. the Uri-Path after "topic", with a leading '/'
  std::string payload;               // plaintext bytes (decoded from "payload_b64" when not UTF-8)
  std::optional<std::uint32_t> seq;  // AES mode only
  std::string mode;                  // "aes", "dtls-psk", "dtls", "plain"
  bool dup = false;                  // same seq in the token session, or a payload "id" seen before
  std::string message_id;            // the option 2090 value sent back
};

class cloudsim_process {
 public:
  static constexpr const char* product_key = "a1B2c3D4e5F";
  static std::string device_name(int i);  // "sensor-%04d"
  static std::string device_secret(
      int i);  // deterministic 32 hex chars (same rule as tests/cloudsim/simclient.py)

  // Starts cloudsim and waits until it is ready; throws std::runtime_error if it does not start.
  explicit cloudsim_process(cloudsim_options options = {});
  cloudsim_process(const cloudsim_process&) = delete;
  cloudsim_process& operator=(const cloudsim_process&) = delete;
  ~cloudsim_process();

  std::uint16_t aes_port() const { return aes_port_; }  // 0 when not enabled
  std::uint16_t psk_port() const { return psk_port_; }
  std::uint16_t dtls_port() const { return dtls_port_; }
  std::uint16_t plain_port() const { return plain_port_; }
  // CA that signed the DTLS server certificate (valid for localhost, 127.0.0.1 and the platform host name).
  std::filesystem::path ca_file() const { return dir_.path() / "certs" / "ca.pem"; }
  std::filesystem::path jsonl_path() const { return dir_.path() / "accepted.jsonl"; }
  std::filesystem::path stats_path() const { return dir_.path() / "stats.json"; }
  std::filesystem::path registry_path() const { return dir_.path() / "devices.csv"; }

  // Sends one control command ("drop-requests 0.2", "expire-tokens", "stats", ...) and returns the reply line
  // ("ok ..." or "error ..."); throws std::runtime_error if the control socket cannot be reached.
  std::string command(std::string_view line);
  // The stats JSON (control "stats"; no per-device part).
  nlohmann::json stats();
  // Every accepted message so far.
  std::vector<cloudsim_record> records() const;
  // Waits (inotify on the JSONL, no fixed sleeps) until at least n records exist or `timeout` passes.
  std::vector<cloudsim_record> wait_for_records(std::size_t n, std::chrono::milliseconds timeout) const;

  // SIGTERM, then waits; returns the wait status. Also done by the destructor.
  int stop();
  child_process& process() { return process_; }

 private:
  scratch_dir dir_{"cloudsim"};
  child_process process_;
  std::uint16_t aes_port_ = 0;
  std::uint16_t psk_port_ = 0;
  std::uint16_t dtls_port_ = 0;
  std::uint16_t plain_port_ = 0;
  bool stopped_ = false;
};

}  // namespace gw::test
