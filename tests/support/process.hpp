#pragma once
// Test support: child processes (brokers, cloudsim, the gateway) started by a test, watched through their
// output and stopped by PID; free loopback ports; scratch directories. Used by fixtures only, never by
// product code.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gw::test {

// A child process whose stdout and stderr are merged, kept in memory (and mirrored to a log file when one is
// given), and searchable while it runs. The destructor stops it (SIGTERM, then SIGKILL) and reaps it.
class child_process {
 public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  // Starts argv[0] (looked up in PATH) with argv; throws std::runtime_error if fork/exec fails.
  void start(const std::vector<std::string>& argv, const std::filesystem::path& log_file = {},
             const std::vector<std::string>& extra_env = {});

  // Waits until `needle` appears in the output (searching from byte `from`), the child exits, or `timeout`
  // passes. Returns the offset just past the match, or std::string::npos.
  std::size_t wait_for_output(std::string_view needle, std::chrono::milliseconds timeout,
                              std::size_t from = 0);
  std::string output() const;

  // Sends `sig` and waits up to `grace` for exit; then SIGKILL. Returns the wait status (or -1 if not
  // running).
  int stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));
  void kill_hard();  // SIGKILL and reap: simulates a crash
  bool running() const;
  pid_t pid() const { return pid_; }

 private:
  void read_loop(int fd);

  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string output_;
  bool eof_ = false;
  int log_fd_ = -1;
};

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
std::uint16_t free_tcp_port();
std::uint16_t free_udp_port();

// A fresh directory under $TMPDIR (or /tmp), removed with its contents by the destructor.
class scratch_dir {
 public:
  explicit scratch_dir(std::string_view prefix = "gw-test");
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Paths baked in at build time (tests/support/CMakeLists.txt).
std::filesystem::path source_dir();
std::filesystem::path build_dir();

// Runs a shell command and returns its exit status and combined output (for openssl, coap-client, ...).
struct command_result {
  int status;
  std::string output;
};
command_result run_command(const std::string& shell_command);

}  // namespace gw::test
