#include "tests/support/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

namespace gw::test {

child_process::~child_process() {
  if (pid_ > 0) stop();
  if (reader_.joinable()) reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
}

void child_process::start(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
                          const std::vector<std::string>& extra_env) {
  if (argv.empty()) throw std::runtime_error("child_process: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("child_process: pipe failed");
  if (!log_file.empty()) {
    log_fd_ = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("child_process: fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::setpgid(0, 0);  // own process group: stop() reaches helpers the child spawns
    for (const auto& e : extra_env) ::putenv(const_cast<char*>(e.c_str()));
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  pid_ = pid;
  reader_ = std::thread([this, fd = fds[0]] { read_loop(fd); });
}

void child_process::read_loop(int fd) {
  std::array<char, 4096> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (log_fd_ >= 0) (void)!::write(log_fd_, buf.data(), static_cast<size_t>(n));
    std::lock_guard lock(mutex_);
    output_.append(buf.data(), static_cast<size_t>(n));
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  eof_ = true;
  cv_.notify_all();
}

std::size_t child_process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout,
                                           std::size_t from) {
  std::unique_lock lock(mutex_);
  std::size_t found = std::string::npos;
  cv_.wait_for(lock, timeout, [&] {
    if (from < output_.size()) found = output_.find(needle, from);
    return found != std::string::npos || eof_;
  });
  return found == std::string::npos ? found : found + needle.size();
}

std::string child_process::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

bool child_process::running() const {
  if (pid_ <= 0) return false;
  return ::kill(pid_, 0) == 0;
}

int child_process::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  ::kill(-pid_, sig);
  ::kill(pid_, sig);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    // Polling waitpid is the portable way to bound a wait for a child; 5 ms granularity.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return status;
}

void child_process::kill_hard() {
  stop(SIGKILL, std::chrono::milliseconds(0));
}

namespace {
std::uint16_t free_port(int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}
}  // namespace

std::uint16_t free_tcp_port() {
  return free_port(SOCK_STREAM);
}
std::uint16_t free_udp_port() {
  return free_port(SOCK_DGRAM);
}

scratch_dir::scratch_dir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp ? tmp : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("scratch_dir: mkdtemp failed");
  path_ = templ;
}

scratch_dir::~scratch_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path source_dir() {
  return GW_SOURCE_DIR;
}
std::filesystem::path build_dir() {
  return GW_BUILD_DIR;
}

command_result run_command(const std::string& shell_command) {
  command_result result{-1, {}};
  std::string cmd = shell_command + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return result;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) result.output.append(buf.data(), n);
  int status = ::pclose(p);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace gw::test
