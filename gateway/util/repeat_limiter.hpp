#pragma once
// gw::util::repeat_limiter — at most one log line per window for an event that can repeat at message rate
// (issue #6: unrouted messages are counted and "logged at debug, with a rate-limited warning"). Sans-io: the
// caller passes the time, so tests step it.
//
//   occur(now)  one occurrence. {log = true, held = N}: the first after a quiet window; log it, together with
//               the N occurrences held back since the last line. {log = false}: held back (counted).
//   flush(now)  for a periodic timer: the occurrences held back, once a window has passed since the last line
//               (0 before that, or when none are held). A non-zero result counts as a line: the window starts
//               again, so a steady stream gives one summary per window.
#include <chrono>
#include <cstdint>

namespace gw::util {

class repeat_limiter {
 public:
  using clock = std::chrono::steady_clock;

  struct verdict {
    bool log = false;
    std::uint64_t held = 0;  // with log: occurrences held back since the last line
  };

  explicit repeat_limiter(clock::duration window) noexcept : window_(window) {}

  verdict occur(clock::time_point now) noexcept {
    if (has_line_ && now - last_line_ < window_) {
      ++held_;
      return {};
    }
    has_line_ = true;
    last_line_ = now;
    const std::uint64_t held = held_;
    held_ = 0;
    return {true, held};
  }

  std::uint64_t flush(clock::time_point now) noexcept {
    if (held_ == 0 || (has_line_ && now - last_line_ < window_)) return 0;
    last_line_ = now;
    const std::uint64_t held = held_;
    held_ = 0;
    return held;
  }

  clock::duration window() const noexcept { return window_; }

 private:
  clock::duration window_;
  bool has_line_ = false;
  clock::time_point last_line_{};
  std::uint64_t held_ = 0;
};

}  // namespace gw::util
