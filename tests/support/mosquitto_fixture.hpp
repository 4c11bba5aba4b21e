#pragma once
// A Mosquitto broker owned by one test: its own generated config, a free 127.0.0.1 port, persistence in a
// scratch directory it owns, output kept in memory. Started and stopped by PID; restart() keeps the port and
// the persistence file, so a test can check what survives a broker restart.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/process.hpp"

namespace gw::test {

class mosquitto_fixture {
 public:
  struct options {
    // mosquitto's max_queued_messages per client session. Debian's packaged default is 1000; tests that need
    // a deep backlog use the large default here, tests of the packaged behaviour pass 1000.
    std::size_t max_queued_messages = 100000;
    std::chrono::milliseconds start_timeout{10000};
  };

  // Starts the broker; throws std::runtime_error if it does not report "running" within start_timeout.
  mosquitto_fixture();
  explicit mosquitto_fixture(options opts);
  mosquitto_fixture(const mosquitto_fixture&) = delete;
  mosquitto_fixture& operator=(const mosquitto_fixture&) = delete;
  ~mosquitto_fixture();

  void start();      // no-op if running
  void stop();       // SIGTERM (mosquitto saves its persistence file), wait, reap
  void kill_hard();  // SIGKILL: a crash; the persistence file is what the last autosave wrote
  void restart() {
    stop();
    start();
  }

  bool running() const;
  std::uint16_t port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string output() const;  // this run's output (log lines)
  // Waits until `needle` appears in this run's output (e.g. a client's subscription, logged as
  // "<client id> <qos> <filter>"); false on timeout or exit.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout);
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  void write_config() const;

  options opts_;
  scratch_dir dir_{"gw-mosquitto"};
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> proc_;
};

}  // namespace gw::test
