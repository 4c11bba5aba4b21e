#include "tests/support/cloudsim_fixture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>

namespace gw::test {
namespace {

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::filesystem::path cloudsim_binary() {
  if (const char* env = std::getenv("CLOUDSIM_BIN"); env != nullptr && *env != '\0') return env;
  return build_dir() / "tests" / "cloudsim" / "cloudsim";
}

// One line of cloudsim's accepted.jsonl (tests/cloudsim/cloudsim.cpp), or nullopt for a line that is not a
// record.
std::optional<cloudsim_record> parse_record(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  cloudsim_record r;
  r.t_ms = j.value("t_ms", std::int64_t{0});
  r.t_us = j.value("t_us", r.t_ms * 1000);
  r.product_key = j.value("productKey", "");
  r.device_name = j.value("deviceName", "");
  r.topic = j.value("topic", "");
  if (j.contains("payload"))
    r.payload = j["payload"].get<std::string>();
  else if (j.contains("payload_b64"))
    r.payload = base64_decode(j["payload_b64"].get<std::string>());
  if (j.contains("seq") && j["seq"].is_number()) r.seq = j["seq"].get<std::uint32_t>();
  r.mode = j.value("mode", "");
  r.dup = j.value("dup", false);
  r.message_id = j.value("msgId", "");
  return r;
}

// Reads the JSONL as it grows: each read_new parses only the lines completed since the last call. cloudsim
// writes every record as one line ending in '\n' and flushes it; bytes after the last '\n' are a line still
// being written and wait for the next call.
class jsonl_tail {
 public:
  explicit jsonl_tail(std::filesystem::path path) : path_(std::move(path)) {}
  jsonl_tail(const jsonl_tail&) = delete;
  jsonl_tail& operator=(const jsonl_tail&) = delete;
  ~jsonl_tail() {
    if (fd_ >= 0) ::close(fd_);
  }

  void read_new(std::vector<cloudsim_record>& out) {
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;  // not created yet
    char buf[64 * 1024];
    for (;;) {  // a short read is the end of the file so far
      const ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_ + pending_.size()));
      if (n > 0) pending_.append(buf, static_cast<std::size_t>(n));
      if (n < static_cast<ssize_t>(sizeof buf)) break;
    }
    std::size_t at = 0;
    for (auto nl = pending_.find('\n'); nl != std::string::npos; nl = pending_.find('\n', at)) {
      if (auto r = parse_record(std::string_view(pending_).substr(at, nl - at))) out.push_back(std::move(*r));
      at = nl + 1;
    }
    offset_ += at;
    pending_.erase(0, at);
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::size_t offset_ = 0;  // bytes of complete lines consumed
  std::string pending_;     // bytes after them, read but not yet a complete line
};

}  // namespace

std::string cloudsim_process::device_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "sensor-%04d", i);
  return buf;
}

std::string cloudsim_process::device_secret(int i) {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  const auto n = static_cast<std::uint64_t>(i);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(mix(golden * (2 * n + 1))),
                static_cast<unsigned long long>(mix(golden * (2 * n + 2))));
  return buf;
}

cloudsim_process::cloudsim_process(cloudsim_options options) {
  {
    std::ofstream reg(registry_path());
    for (int i = 0; i < options.devices; ++i) {
      reg << product_key << ',' << device_name(i) << ',' << device_secret(i) << '\n';
    }
  }
  std::vector<std::string> argv{cloudsim_binary().string(),
                                "--registry",
                                registry_path().string(),
                                "--jsonl",
                                jsonl_path().string(),
                                "--stats",
                                stats_path().string(),
                                "--control",
                                (dir_.path() / "control.sock").string(),
                                "--seed",
                                std::to_string(options.seed)};
  if (options.aes) argv.insert(argv.end(), {"--aes-port", "0"});
  if (options.psk) argv.insert(argv.end(), {"--psk-port", "0"});
  if (options.plain) argv.insert(argv.end(), {"--plain-port", "0"});
  if (options.dtls) {
    auto certs = dir_.path() / "certs";
    auto made = run_command("bash '" + (source_dir() / "tests" / "support" / "make_test_certs.sh").string() +
                            "' '" + certs.string() + "'");
    if (made.status != 0) throw std::runtime_error("make_test_certs.sh failed: " + made.output);
    argv.insert(argv.end(), {"--dtls-port", "0", "--cert", (certs / "server.pem").string(), "--key",
                             (certs / "server.key").string()});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  process_.start(argv, dir_.path() / "cloudsim.log");
  if (process_.wait_for_output("cloudsim: ready", options.start_timeout) == std::string::npos) {
    throw std::runtime_error("cloudsim did not become ready: " + process_.output());
  }
  static const std::regex listening(R"(cloudsim: listening (\w+)=127\.0\.0\.1:(\d+))");
  std::string out = process_.output();
  for (std::sregex_iterator it(out.begin(), out.end(), listening), end; it != end; ++it) {
    auto port = static_cast<std::uint16_t>(std::stoi((*it)[2].str()));
    const std::string kind = (*it)[1].str();
    if (kind == "aes")
      aes_port_ = port;
    else if (kind == "psk")
      psk_port_ = port;
    else if (kind == "dtls")
      dtls_port_ = port;
    else if (kind == "plain")
      plain_port_ = port;
  }
}

cloudsim_process::~cloudsim_process() {
  stop();
}

int cloudsim_process::stop() {
  if (stopped_) return 0;
  stopped_ = true;
  return process_.stop(SIGTERM);
}

std::string cloudsim_process::command(std::string_view line) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket(AF_UNIX) failed");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string path = (dir_.path() / "control.sock").string();
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to cloudsim control socket " + path);
  }
  std::string msg(line);
  msg += '\n';
  if (::write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    ::close(fd);
    throw std::runtime_error("cloudsim control write failed");
  }
  std::string reply;
  char buf[4096];
  while (reply.empty() || reply.back() != '\n') {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

nlohmann::json cloudsim_process::stats() {
  std::string reply = command("stats");
  if (reply.rfind("ok ", 0) != 0) throw std::runtime_error("cloudsim stats: " + reply);
  return nlohmann::json::parse(reply.substr(3));
}

std::vector<cloudsim_record> cloudsim_process::records() const {
  std::vector<cloudsim_record> out;
  jsonl_tail(jsonl_path()).read_new(out);
  return out;
}

std::vector<cloudsim_record> cloudsim_process::wait_for_records(std::size_t n,
                                                                std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int ifd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  // Watch the directory: the JSONL may not exist yet.
  ::inotify_add_watch(ifd, dir_.path().c_str(), IN_MODIFY | IN_CREATE);
  // A benchmark waits here while cloudsim appends ~15,000 lines/s on the cores it measures, so each line is
  // parsed once (reparsing the whole file on every change costs the square of the records), and the file is
  // read at most every 20 ms (not on every line: a few system calls each). The wait itself is inotify's; the
  // 20 ms only batch what arrives meanwhile.
  constexpr auto kBatch = std::chrono::milliseconds(20);
  jsonl_tail tail(jsonl_path());
  std::vector<cloudsim_record> recs;
  tail.read_new(recs);
  auto last_read = std::chrono::steady_clock::now();
  while (recs.size() < n) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{ifd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
      std::this_thread::sleep_until(std::min(last_read + kBatch, deadline));
      char buf[4096];
      while (::read(ifd, buf, sizeof buf) > 0) {
      }
    }
    tail.read_new(recs);
    last_read = std::chrono::steady_clock::now();
  }
  ::close(ifd);
  return recs;
}

}  // namespace gw::test
