#pragma once
// gw::util thread priorities (Linux): the niceness of single threads of this process.
//
// On Linux the nice value belongs to each thread (setpriority(2) with PRIO_PROCESS and a thread id, "Notes":
// the value is per thread, and a new thread inherits its creator's). Any thread may raise a thread's nice
// value (lower its priority); lowering it needs CAP_SYS_NICE or RLIMIT_NICE, so a value once raised stays.
//
// The gateway uses it for intake priority (gw::mqtt::client's intake-thread hook, app::gateway): the thread
// that takes deliveries from the broker keeps its nice value, every other thread of the process runs some
// steps above it, so that on a saturated host the scheduler gives the intake the larger share
// (docs/architecture.md).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace gw::util {

inline pid_t this_thread_id() noexcept {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

// The nice value of thread `tid` (0: the calling thread), or ec.
inline int thread_nice(pid_t tid, std::error_code& ec) noexcept {
  errno = 0;  // getpriority may return -1 as a value
  const int v = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  ec = (v == -1 && errno != 0) ? std::error_code(errno, std::generic_category()) : std::error_code{};
  return v;
}

struct renice_result {
  int reniced = 0;  // threads whose nice value was raised to the target
  int kept = 0;     // threads already at or above it
  int failed = 0;   // threads that refused (gone meanwhile, or no permission)
  std::error_code first_error;
};

// Raises the nice value of every thread of this process except the calling one to at least `target`
// (clamped to 19). Threads at or above it are left alone; a thread that ends meanwhile counts as failed.
inline renice_result raise_other_threads_nice(int target) {
  target = std::clamp(target, -20, 19);
  renice_result r;
  const pid_t self = this_thread_id();
  std::error_code ec;
  // Incremented with an error_code: this runs on Paho's thread, where nothing may throw.
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), last; !ec && it != last;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    char* end = nullptr;
    const long tid = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0' || tid == self) continue;
    std::error_code tec;
    const int now = thread_nice(static_cast<pid_t>(tid), tec);
    if (!tec && now >= target) {
      ++r.kept;
      continue;
    }
    if (tec || ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), target) != 0) {
      if (!tec) tec = std::error_code(errno, std::generic_category());
      if (!r.first_error) r.first_error = tec;
      ++r.failed;
      continue;
    }
    ++r.reniced;
  }
  if (ec && !r.first_error) r.first_error = ec;
  return r;
}

}  // namespace gw::util
